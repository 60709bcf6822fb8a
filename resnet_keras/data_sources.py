"""Where each data set comes from, said in one place (no heavy imports: the command line uses it
to answer a wrong --data-dir before it loads anything)."""

HOW_TO_GET = {
    "cifar10": (
        "Get CIFAR-10 with source='tfds' (downloads it), or download "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz, unpack it and pass the folder "
        "that contains 'cifar-10-batches-py' as data_dir (or set RESNET_KERAS_DATA_DIR)."
    ),
    "cifar100": (
        "Get CIFAR-100 with source='tfds' (downloads it), or download "
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz, unpack it and pass the folder "
        "that contains 'cifar-100-python' as data_dir (or set RESNET_KERAS_DATA_DIR)."
    ),
    "mnist": (
        "Get MNIST with source='tfds' (downloads it), or put the four official IDX files "
        "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
        "t10k-labels-idx1-ubyte.gz, from https://yann.lecun.com/exdb/mnist/ or a mirror) in a "
        "folder 'mnist' and pass its parent (or the folder itself) as data_dir "
        "(or set RESNET_KERAS_DATA_DIR)."
    ),
}
