"""Data sets (CIFAR-10/100, MNIST), the papers' validation split, augmentation and normalisation.

Loaders return uint8 NHWC images and int64 labels as numpy arrays in an :class:`ImageDataset`.
Where the data come from is chosen by ``source``:

* ``"tfds"``: tensorflow-datasets (downloads on first use; needs ``tensorflow`` and
  ``tensorflow-datasets``, imported only on this path);
* ``"local"``: a directory in the standard layout of the original archives
  (``cifar-10-batches-py/``, ``cifar-100-python/``, the four MNIST IDX files), given by
  ``data_dir`` or the environment variable ``RESNET_KERAS_DATA_DIR``;
* ``"auto"`` (default): ``"local"`` when ``data_dir`` is given or ``RESNET_KERAS_DATA_DIR`` is
  set, else ``"tfds"``. ``RESNET_KERAS_DATA_SOURCE`` overrides the default ``"auto"``.

Augmentation and normalisation are written with ``keras.ops`` / ``keras.random`` only, so they
run on the accelerator inside the train step with any backend: :func:`random_crop_flip`,
:func:`standardize`, and the layer :class:`Preprocess` that :func:`with_preprocessing` puts in
front of a model.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np

import keras
from keras import ops

from resnet_keras.data_sources import HOW_TO_GET as _HOW_TO_GET

__all__ = [
    "DATA_DIR_ENV",
    "DATA_SOURCE_ENV",
    "DATASETS",
    "ImageDataset",
    "load_dataset",
    "load_cifar10",
    "load_cifar100",
    "load_mnist",
    "read_cifar_batch",
    "read_idx",
    "train_validation_split",
    "channel_mean_std",
    "NORMALIZATIONS",
    "normalization_stats",
    "random_crop_flip",
    "standardize",
    "Preprocess",
    "with_preprocessing",
    "ArrayBatches",
]

DATA_DIR_ENV = "RESNET_KERAS_DATA_DIR"
DATA_SOURCE_ENV = "RESNET_KERAS_DATA_SOURCE"
DATASETS = ("cifar10", "cifar100", "mnist")

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


# ---------------------------------------------------------------------------------------------
# The data container


@dataclasses.dataclass
class ImageDataset:
    """A data set as uint8 NHWC numpy arrays.

    Attributes:
        name: "cifar10", "cifar100" or "mnist".
        x_train, y_train: training images (N, H, W, C) uint8 and int64 labels (N,).
        x_val, y_val: the held-out validation split (None when not asked for).
        x_test, y_test: the test set.
        class_names: list of class names.
        source: "tfds" or "local".
        location: the local folder, or the tfds data dir (None: tfds' default).
        checksums: for local data, ``{file name: md5}`` of the files read; for tfds,
            ``{"tfds_version": ...}``.
        validation: how the validation split was made (dict), or None.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list
    source: str
    location: str | None = None
    checksums: dict = dataclasses.field(default_factory=dict)
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    validation: dict | None = None

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return tuple(self.x_train.shape[1:])

    def describe(self):
        """A JSON-serialisable description (for the results file)."""
        return {
            "name": self.name,
            "source": self.source,
            "location": self.location,
            "checksums": dict(self.checksums),
            "num_train": int(len(self.x_train)),
            "num_validation": 0 if self.x_val is None else int(len(self.x_val)),
            "num_test": int(len(self.x_test)),
            "image_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "validation": self.validation,
        }

    def subset(self, limit_train=None, limit_val=None, limit_test=None):
        """The first `limit_*` examples of each split (for quick runs and tests)."""

        def cut(x, n):
            return x if (x is None or n is None) else x[: int(n)]

        return dataclasses.replace(
            self,
            x_train=cut(self.x_train, limit_train),
            y_train=cut(self.y_train, limit_train),
            x_val=cut(self.x_val, limit_val),
            y_val=cut(self.y_val, limit_val),
            x_test=cut(self.x_test, limit_test),
            y_test=cut(self.y_test, limit_test),
        )


# ---------------------------------------------------------------------------------------------
# Readers of the standard files


def _md5(path, chunk=1 << 20):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def read_cifar_batch(path, label_key=b"labels", how_to_get=_HOW_TO_GET["cifar10"]):
    """Reads one CIFAR pickle (``data_batch_1``, ``test_batch``, ``cifar-100-python/train``...).

    Args:
        path: the file.
        label_key: ``b"labels"`` (CIFAR-10), ``b"fine_labels"`` or ``b"coarse_labels"``
            (CIFAR-100).
        how_to_get: the hint appended to error messages.

    Returns:
        ``(images, labels)``: uint8 (N, 32, 32, 3) and int64 (N,).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is not a readable CIFAR pickle (truncated, corrupt, wrong shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR file not found: {path}. {how_to_get}")
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except Exception as e:  # truncated or corrupt pickles raise many types
        raise ValueError(
            f"Could not read the CIFAR pickle {path} ({type(e).__name__}: {e}); the file is "
            f"truncated or corrupt. {how_to_get}"
        ) from e
    if not isinstance(batch, dict):
        raise ValueError(
            f"{path} is not a CIFAR batch: expected a pickled dict, got {type(batch).__name__}. "
            f"{how_to_get}"
        )
    # Files written with encoding="latin1" Python 3 pickles may have str keys.
    batch = {(k.encode() if isinstance(k, str) else k): v for k, v in batch.items()}
    if b"data" not in batch or label_key not in batch:
        raise ValueError(
            f"{path} is not a CIFAR batch: keys {sorted(batch)} lack b'data' or {label_key!r}. "
            f"{how_to_get}"
        )
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[label_key])
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise ValueError(
            f"{path}: b'data' must be a uint8 array of shape (N, 3072) (1024 red, 1024 green, "
            f"1024 blue values per image); got {data.dtype} {data.shape}. {how_to_get}"
        )
    if labels.shape != (data.shape[0],):
        raise ValueError(
            f"{path}: {len(labels)} labels for {data.shape[0]} images. {how_to_get}"
        )
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path, how_to_get=_HOW_TO_GET["mnist"]):
    """Reads an IDX file (the MNIST format), gzip-compressed (``.gz``) or not.

    Returns:
        The numpy array with the shape stored in the header.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: bad magic number, truncated or corrupt file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}. {how_to_get}")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(
            f"Could not decompress {path} ({type(e).__name__}: {e}); the file is truncated "
            f"or corrupt. {how_to_get}"
        ) from e
    if len(raw) < 4:
        raise ValueError(f"{path} is too short to be an IDX file. {how_to_get}")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code not in _IDX_TYPES or ndim < 1:
        raise ValueError(
            f"{path} is not an IDX file (bad magic number {raw[:4].hex()}). {how_to_get}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header. {how_to_get}")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = np.dtype(_IDX_TYPES[dtype_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: the header announces shape {shape} ({expected} bytes of data) but the "
            f"file holds {len(raw) - header}; the file is truncated or corrupt. {how_to_get}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).copy()


# ---------------------------------------------------------------------------------------------
# Source resolution


def _resolve_source(source, data_dir):
    if source is None:
        source = os.environ.get(DATA_SOURCE_ENV) or "auto"
    source = str(source).lower()
    if source not in ("auto", "tfds", "local"):
        raise ValueError(
            f"source must be 'auto', 'tfds' or 'local'; got {source!r} "
            f"(from the argument or {DATA_SOURCE_ENV})."
        )
    if data_dir is None and source != "tfds":
        # The variable names a local copy; tfds keeps its own default (~/tensorflow_datasets).
        data_dir = os.environ.get(DATA_DIR_ENV) or None
    if source == "auto":
        source = "local" if data_dir else "tfds"
    if source == "local" and not data_dir:
        raise ValueError(
            f"source='local' needs data_dir or the environment variable {DATA_DIR_ENV}."
        )
    return source, data_dir


def _find_dir(data_dir, folder_names, marker, name):
    """The folder holding `marker`: data_dir itself or one of data_dir/<folder_names>."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"Data directory not found: {root}. {_HOW_TO_GET[name]}"
        )
    for cand in [root] + [root / n for n in folder_names]:
        if (cand / marker).exists() or (cand / (marker + ".gz")).exists():
            return cand
    raise FileNotFoundError(
        f"No {name} files in {root}: looked for {marker} in {root} and in "
        f"{', '.join(str(root / n) for n in folder_names)}. {_HOW_TO_GET[name]}"
    )


def _tfds_load(tfds_name, data_dir, image_key="image", label_key="label"):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError(
            "source='tfds' needs tensorflow and tensorflow-datasets "
            "(pip install tensorflow tensorflow-datasets), or use a local copy with "
            f"source='local' and data_dir=... / {DATA_DIR_ENV}."
        ) from e
    arrays = {}
    for split in ("train", "test"):
        ds = tfds.load(tfds_name, split=split, data_dir=data_dir, shuffle_files=False)
        xs, ys = [], []
        for batch in tfds.as_numpy(ds.batch(10000)):
            xs.append(np.asarray(batch[image_key], dtype=np.uint8))
            ys.append(np.asarray(batch[label_key], dtype=np.int64))
        arrays[split] = (np.concatenate(xs), np.concatenate(ys))
    builder = tfds.builder(tfds_name, data_dir=data_dir)
    names = list(builder.info.features[label_key].names)
    checksums = {"tfds_name": tfds_name, "tfds_version": str(builder.info.version)}
    return arrays["train"], arrays["test"], names, checksums


# ---------------------------------------------------------------------------------------------
# Loaders


def train_validation_split(x, y, num_validation=5000, seed=0):
    """Holds out `num_validation` training examples as a validation set, deterministically.

    He et al. (2015) train on 45k CIFAR-10 images and validate on the other 5k. The paper does
    not say which 5k; here they are drawn at random with a fixed seed (``seed=0`` by default,
    the same split on every machine), and both parts keep the original order.
    ``seed=None`` takes the last `num_validation` examples instead. (tensorflow-datasets stores
    the training images in another order than the original pickles, so the same seed holds out
    other images there.)

    Returns:
        ``(x_train, y_train, x_val, y_val)``.
    """
    n = len(x)
    num_validation = int(num_validation)
    if not 0 < num_validation < n:
        raise ValueError(
            f"num_validation must be in (0, {n}) for {n} training examples; got {num_validation}."
        )
    if seed is None:
        val = np.arange(n - num_validation, n)
    else:
        val = np.sort(np.random.default_rng(seed).permutation(n)[:num_validation])
    keep = np.ones(n, dtype=bool)
    keep[val] = False
    return x[keep], y[keep], x[val], y[val]


def _finish(ds, validation_size, split_seed):
    if validation_size:
        x_tr, y_tr, x_val, y_val = train_validation_split(
            ds.x_train, ds.y_train, validation_size, split_seed
        )
        ds = dataclasses.replace(
            ds, x_train=x_tr, y_train=y_tr, x_val=x_val, y_val=y_val,
            validation={"size": int(validation_size), "seed": split_seed,
                        "method": "last" if split_seed is None else "seeded_random"},
        )
    return ds


def load_cifar10(source=None, data_dir=None, validation_size=0, split_seed=0):
    """Loads CIFAR-10: 50k training and 10k test 32x32 RGB images, 10 classes.

    Args:
        source: "auto" (default), "tfds" or "local" (see the module docstring).
        data_dir: for "local", the folder ``cifar-10-batches-py`` or its parent; for "tfds",
            tensorflow-datasets' data dir (None: its default, ~/tensorflow_datasets).
        validation_size: hold out this many training images as a validation set
            (5000 gives the papers' 45k/5k split); 0: none.
        split_seed: see :func:`train_validation_split`.

    Returns:
        An :class:`ImageDataset`.
    """
    source, data_dir = _resolve_source(source, data_dir)
    if source == "tfds":
        (x_tr, y_tr), (x_te, y_te), names, sums = _tfds_load("cifar10", data_dir)
        ds = ImageDataset("cifar10", x_tr, y_tr, x_te, y_te, names, "tfds",
                          None if data_dir is None else str(data_dir), sums)
        return _finish(ds, validation_size, split_seed)
    folder = _find_dir(data_dir, ["cifar-10-batches-py"], "data_batch_1", "cifar10")
    files = [folder / f"data_batch_{i}" for i in range(1, 6)] + [folder / "test_batch"]
    parts = [read_cifar_batch(f) for f in files]
    x_tr = np.concatenate([p[0] for p in parts[:5]])
    y_tr = np.concatenate([p[1] for p in parts[:5]])
    x_te, y_te = parts[5]
    names = list(CIFAR10_CLASSES)
    meta = folder / "batches.meta"
    if meta.is_file():
        try:
            with open(meta, "rb") as f:
                m = pickle.load(f, encoding="bytes")
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in m[b"label_names"]]
        except Exception as e:
            raise ValueError(
                f"Could not read {meta} ({type(e).__name__}: {e}); the file is truncated or "
                f"corrupt. {_HOW_TO_GET['cifar10']}"
            ) from e
    _check_labels(y_tr, len(names), files[0])
    _check_labels(y_te, len(names), files[5])
    sums = {f.name: _md5(f) for f in files}
    ds = ImageDataset("cifar10", x_tr, y_tr, x_te, y_te, names, "local", str(folder), sums)
    return _finish(ds, validation_size, split_seed)


def load_cifar100(source=None, data_dir=None, validation_size=0, split_seed=0,
                  label_mode="fine"):
    """Loads CIFAR-100 (100 fine or 20 coarse classes); arguments as :func:`load_cifar10`.

    The local layout is ``cifar-100-python/{train,test,meta}``.
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f"label_mode must be 'fine' or 'coarse'; got {label_mode!r}.")
    source, data_dir = _resolve_source(source, data_dir)
    if source == "tfds":
        key = "label" if label_mode == "fine" else "coarse_label"
        (x_tr, y_tr), (x_te, y_te), names, sums = _tfds_load("cifar100", data_dir,
                                                             label_key=key)
        ds = ImageDataset("cifar100", x_tr, y_tr, x_te, y_te, names, "tfds",
                          None if data_dir is None else str(data_dir), sums)
        return _finish(ds, validation_size, split_seed)
    hint = _HOW_TO_GET["cifar100"]
    folder = _find_dir(data_dir, ["cifar-100-python"], "train", "cifar100")
    key = b"fine_labels" if label_mode == "fine" else b"coarse_labels"
    files = [folder / "train", folder / "test"]
    (x_tr, y_tr), (x_te, y_te) = [read_cifar_batch(f, key, hint) for f in files]
    n = 100 if label_mode == "fine" else 20
    names = [str(i) for i in range(n)]
    meta = folder / "meta"
    if meta.is_file():
        try:
            with open(meta, "rb") as f:
                m = pickle.load(f, encoding="bytes")
            mk = b"fine_label_names" if label_mode == "fine" else b"coarse_label_names"
            names = [s.decode() if isinstance(s, bytes) else str(s) for s in m[mk]]
        except Exception as e:
            raise ValueError(f"Could not read {meta} ({type(e).__name__}: {e}). {hint}") from e
    _check_labels(y_tr, len(names), files[0])
    _check_labels(y_te, len(names), files[1])
    sums = {f.name: _md5(f) for f in files}
    ds = ImageDataset("cifar100", x_tr, y_tr, x_te, y_te, names, "local", str(folder), sums)
    return _finish(ds, validation_size, split_seed)


_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def load_mnist(source=None, data_dir=None, validation_size=0, split_seed=0):
    """Loads MNIST: 60k training and 10k test 28x28x1 images, 10 classes.

    The local layout is the four official IDX files (``.gz`` or uncompressed) in
    ``data_dir`` or ``data_dir/mnist``. Other arguments as :func:`load_cifar10`.
    """
    source, data_dir = _resolve_source(source, data_dir)
    names = [str(i) for i in range(10)]
    if source == "tfds":
        (x_tr, y_tr), (x_te, y_te), _, sums = _tfds_load("mnist", data_dir)
        ds = ImageDataset("mnist", x_tr, y_tr, x_te, y_te, names, "tfds",
                          None if data_dir is None else str(data_dir), sums)
        return _finish(ds, validation_size, split_seed)
    folder = _find_dir(data_dir, ["mnist", "MNIST", "MNIST/raw"], _MNIST_FILES["x_train"],
                       "mnist")
    arrays, sums, paths = {}, {}, {}
    for key, stem in _MNIST_FILES.items():
        path = folder / (stem + ".gz")
        if not path.is_file():
            path = folder / stem
        paths[key] = path
        arrays[key] = read_idx(path)
        sums[path.name] = _md5(path)
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        px, py = paths[f"x_{split}"], paths[f"y_{split}"]
        if x.ndim != 3 or x.dtype != np.uint8:
            raise ValueError(
                f"{px}: expected uint8 images of shape (N, 28, 28), got {x.dtype} {x.shape}. "
                f"{_HOW_TO_GET['mnist']}"
            )
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(
                f"{py}: expected {len(x)} labels (one per image of {px.name}), got shape "
                f"{y.shape}. {_HOW_TO_GET['mnist']}"
            )
        _check_labels(y, 10, py)
    ds = ImageDataset(
        "mnist",
        arrays["x_train"][..., None], arrays["y_train"].astype(np.int64),
        arrays["x_test"][..., None], arrays["y_test"].astype(np.int64),
        names, "local", str(folder), sums,
    )
    return _finish(ds, validation_size, split_seed)


def _check_labels(y, num_classes, path):
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{path}: labels must be in [0, {num_classes}); found [{y.min()}, {y.max()}]. "
            f"The file is corrupt."
        )


_LOADERS = {"cifar10": load_cifar10, "cifar100": load_cifar100, "mnist": load_mnist}


def load_dataset(name, **kwargs):
    """``load_cifar10`` / ``load_cifar100`` / ``load_mnist`` by name."""
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in _LOADERS:
        raise ValueError(f"Unknown data set {name!r}; choose one of {list(_LOADERS)}.")
    return _LOADERS[key](**kwargs)


# ---------------------------------------------------------------------------------------------
# Normalisation and augmentation (keras.ops only)


def channel_mean_std(images, chunk=5000):
    """Per-channel mean and standard deviation of uint8 NHWC images, in pixel units (0-255).

    Computed in float64 chunk by chunk (no float copy of the whole set).

    Returns:
        ``(mean, std)``: two float64 arrays of shape (C,).
    """
    images = np.asarray(images)
    c = images.shape[-1]
    total = np.zeros(c)
    total_sq = np.zeros(c)
    count = 0
    for i in range(0, len(images), chunk):
        block = images[i : i + chunk].reshape(-1, c).astype(np.float64)
        total += block.sum(0)
        total_sq += np.square(block).sum(0)
        count += block.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return mean, std


NORMALIZATIONS = ("channel", "pixel")


def normalization_stats(images, kind="channel"):
    """The statistics that normalise the inputs, in pixel units (0-255), from the training set.

    Args:
        images: uint8 NHWC training images.
        kind: ``"channel"``: per-channel mean and standard deviation, shapes (C,) and (C,)
            (fb.resnet.torch's CIFAR preprocessing); ``"pixel"``: the per-pixel mean image,
            shape (H, W, C), and one standard deviation of all pixel values, shape () (He et al.
            2015 subtract "the per-pixel mean"; Huang et al.'s code also divides by the global
            standard deviation).

    Returns:
        ``(mean, std)`` as float64 arrays, to pass to :func:`standardize` or :class:`Preprocess`.
    """
    if kind not in NORMALIZATIONS:
        raise ValueError(f"kind must be one of {NORMALIZATIONS}; got {kind!r}")
    images = np.asarray(images)
    if kind == "channel":
        return channel_mean_std(images)
    total = np.zeros(images.shape[1:])
    total_sq = 0.0
    for i in range(0, len(images), 5000):
        block = images[i : i + 5000].astype(np.float64)
        total += block.sum(0)
        total_sq += float(np.square(block).sum())
    count = len(images)
    mean = total / count
    std = np.sqrt(max(total_sq / (count * mean.size) - float(mean.mean()) ** 2, 0.0))
    return mean, np.asarray(std)


def standardize(images, mean, std, dtype="float32"):
    """``(images - mean) / std`` as `dtype` (keras.ops; any backend).

    `mean` and `std` broadcast against one image: shapes (C,), (H, W, C) or () (see
    :func:`normalization_stats`)."""
    x = ops.cast(images, "float32")
    mean = ops.convert_to_tensor(np.asarray(mean, dtype="float32"))
    inv = ops.convert_to_tensor(1.0 / np.asarray(std, dtype="float32"))
    return ops.cast((x - mean) * inv, dtype)


def random_crop_flip(images, padding=4, flip=True, seed=None):
    """The CIFAR augmentation of He et al. (2015): zero padding, random crop, random flip.

    Every image of the batch is padded with `padding` zeros on each side, then a crop of the
    original size is taken at an offset drawn uniformly and independently per image, and
    flipped left-right with probability 1/2 (per image). Written with ``keras.ops`` and
    ``keras.random`` as one gather, so it runs on the accelerator inside a compiled train step.

    Args:
        images: (B, H, W, C) tensor, any dtype (values are copied, never interpolated).
        padding: pixels of zero padding per side (4 in the papers); 0 disables the crop.
        flip: whether to flip at random.
        seed: a ``keras.random.SeedGenerator`` (new draws at every call), an int (the same
            draws at every call) or None.

    Returns:
        A tensor of the shape and dtype of `images`.
    """
    images = ops.convert_to_tensor(images)
    if padding == 0 and not flip:
        return images
    shape = ops.shape(images)
    batch = shape[0]
    h, w, c = images.shape[1], images.shape[2], images.shape[3]
    p = int(padding)
    hp, wp = h + 2 * p, w + 2 * p
    # One draw for all the random numbers: with an int seed, separate draws would repeat.
    u = keras.random.uniform((batch, 3), seed=seed, dtype="float32")
    if p:
        padded = ops.pad(images, [[0, 0], [p, p], [p, p], [0, 0]])
        offsets = ops.minimum(ops.cast(ops.floor(u[:, :2] * (2 * p + 1)), "int32"), 2 * p)
        oy, ox = offsets[:, 0], offsets[:, 1]
    else:
        padded = images
        oy = ox = ops.zeros((batch,), "int32")
    rows = oy[:, None] + ops.arange(h, dtype="int32")[None, :]  # (B, H)
    j = ops.arange(w, dtype="int32")[None, :]
    if flip:
        do_flip = u[:, 2] < 0.5
        cols = ox[:, None] + ops.where(do_flip[:, None], (w - 1) - j, j)  # (B, W)
    else:
        cols = ox[:, None] + j
    base = ops.arange(batch, dtype="int32") * (hp * wp)
    index = base[:, None, None] + rows[:, :, None] * wp + cols[:, None, :]  # (B, H, W)
    flat = ops.reshape(padded, (-1, c))
    return ops.take(flat, index, axis=0)


@keras.saving.register_keras_serializable(package="resnet_keras")
class Preprocess(keras.layers.Layer):
    """Normalisation (always) and the papers' augmentation (training only), on the device.

    Takes uint8 (or float) images in pixel units, normalises them with the training set's
    `mean` and `std`, and in training mode pads (with zeros, i.e. with the mean after
    normalisation, as in fb.resnet.torch and Huang et al.'s code), crops and flips them at
    random. The output has the layer's compute dtype (bf16/fp16 under mixed precision).

    Args:
        mean, std: statistics in pixel units that broadcast against one image: per channel
            (C,), a mean image (H, W, C), or one number (see :func:`normalization_stats`).
        padding: pixels of padding for the random crop (0: no crop).
        flip: random horizontal flips.
        augment: False disables padding/crop/flip altogether (e.g. for MNIST).
        seed: seed of the augmentation.
    """

    def __init__(self, mean, std, padding=4, flip=True, augment=True, seed=None, **kwargs):
        std_array = np.asarray(std, dtype="float64")
        if not np.all(std_array > 0):
            raise ValueError(f"std must be positive; got {std_array.tolist()}.")
        super().__init__(**kwargs)
        self.mean = np.asarray(mean, dtype="float64").tolist()
        self.std = std_array.tolist()
        self.padding = int(padding)
        self.flip = bool(flip)
        self.augment = bool(augment)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs, training=False):
        x = standardize(inputs, self.mean, self.std, "float32")
        if training and self.augment and (self.padding or self.flip):
            x = random_crop_flip(x, self.padding, self.flip, seed=self.seed_generator)
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, inputs, training=False):
        return keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            mean=self.mean, std=self.std, padding=self.padding, flip=self.flip,
            augment=self.augment, seed=self.seed,
        )
        return config


def with_preprocessing(model, image_shape, mean, std, augment=True, padding=4, flip=True,
                       seed=None, name=None):
    """A model taking raw uint8 images: ``Preprocess`` then `model` (weights shared).

    If `model` takes flat vectors (e.g. ``highway_mlp``, input ``(784,)``), the normalised
    images are reshaped to its input shape.
    """
    inputs = keras.Input(shape=tuple(image_shape), dtype="uint8", name="images")
    x = Preprocess(mean, std, padding=padding, flip=flip, augment=augment, seed=seed,
                   name="preprocess")(inputs)
    target = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if target is not None and target != tuple(image_shape):
        if int(np.prod(target)) != int(np.prod(image_shape)):
            raise ValueError(
                f"The model takes inputs of shape {target}, which the images of shape "
                f"{tuple(image_shape)} cannot be reshaped to."
            )
        x = keras.layers.Reshape(target, name="to_model_input")(x)
    outputs = model(x)
    return keras.Model(inputs, outputs, name=name or f"{model.name}_train")


class ArrayBatches(keras.utils.PyDataset):
    """An endless stream of shuffled mini-batches of in-memory arrays, reproducible per epoch.

    Item `i` is batch ``i % steps_per_epoch`` of epoch ``initial_epoch + i // steps_per_epoch``,
    and the order of epoch `e` is a permutation drawn from ``(seed, e)``: every batch is a pure
    function of its index, so prefetching cannot change it, and a run resumed at epoch `e`
    (``initial_epoch=e``) sees the same batches as an uninterrupted one. Pass
    ``steps_per_epoch=batches.steps_per_epoch`` to ``model.fit``.

    Batches are the raw arrays (uint8 images: 4x less host-to-device traffic than float32);
    normalisation and augmentation run on the device (:class:`Preprocess`).

    Args:
        x, y: arrays with the same first dimension.
        batch_size: examples per batch.
        shuffle: reshuffle every epoch (else the stored order).
        seed: base seed of the permutations.
        drop_remainder: drop the last incomplete batch of each epoch.
        initial_epoch: the epoch that item 0 belongs to.
    """

    def __init__(self, x, y, batch_size, shuffle=True, seed=0, drop_remainder=False,
                 initial_epoch=0):
        super().__init__(workers=1, use_multiprocessing=False)
        if len(x) != len(y):
            raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}.")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed or 0)
        self.drop_remainder = drop_remainder
        self.initial_epoch = int(initial_epoch)
        n = len(x)
        self.steps_per_epoch = n // self.batch_size if drop_remainder else -(-n // self.batch_size)
        if self.steps_per_epoch == 0:
            raise ValueError(f"{n} examples make no batch of {self.batch_size}.")
        self._cache = (None, None)

    @property
    def num_batches(self):
        return None  # endless: the epochs are cut by model.fit's steps_per_epoch

    def permutation(self, epoch):
        """The order of the examples in `epoch`."""
        cached_epoch, order = self._cache
        if cached_epoch != epoch:
            if self.shuffle:
                order = np.random.default_rng([self.seed, int(epoch)]).permutation(len(self.x))
            else:
                order = np.arange(len(self.x))
            self._cache = (epoch, order)
        return order

    def batch_indices(self, index):
        """(epoch, example indices) of item `index`."""
        epoch = self.initial_epoch + index // self.steps_per_epoch
        j = index % self.steps_per_epoch
        idx = self.permutation(epoch)[j * self.batch_size : (j + 1) * self.batch_size]
        return epoch, np.sort(idx)  # sorted: faster gathers; which examples is what is random

    def __getitem__(self, index):
        _, idx = self.batch_indices(int(index))
        return self.x[idx], self.y[idx]
