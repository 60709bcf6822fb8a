"""Model builders: the CIFAR and ImageNet ResNets, highway and plain MLPs.

Every choice of the papers is a named argument; named variants
(`get_model("preact_resnet164")`) are small entries, not copies of code.
"""

import keras

from resnet_keras.blocks import VARIANTS, BottleneckBlock, ResidualBlock, _check_positive_int
from resnet_keras.highway import HighwayDense, transform_bias_for_depth
from resnet_keras.model_names import MODEL_NAMES, parse_model_name
from resnet_keras.stochastic_depth import (
    _check_survival_probability,
    linear_survival_probabilities,
)

__all__ = [
    "MODEL_NAMES",
    "get_model",
    "highway_mlp",
    "load_keras_applications_weights",
    "plain_mlp",
    "resnet_cifar",
    "resnet_imagenet",
]

KERAS_BN_EPSILON = 1.001e-5  # keras.applications' ResNets
_POST_ACT = ("v1", "bn_after_add", "relu_before_add")


def _check_variant(variant):
    if variant not in VARIANTS:
        raise ValueError(f"`variant` must be one of {VARIANTS}. Received: variant={variant!r}")


def _head(x, variant, bn_momentum, bn_epsilon, prefix=""):
    """The activation after the last block of pre-activation networks."""
    if variant == "v2":
        x = keras.layers.BatchNormalization(
            momentum=bn_momentum, epsilon=bn_epsilon, name=f"{prefix}post_bn"
        )(x)
        x = keras.layers.ReLU(name=f"{prefix}post_relu")(x)
    elif variant == "relu_preact":
        x = keras.layers.ReLU(name=f"{prefix}post_relu")(x)
    return x


def resnet_cifar(
    depth,
    block="basic",
    variant="v1",
    shortcut=None,
    plain=False,
    num_classes=10,
    input_shape=(32, 32, 3),
    width=16,
    final_survival_probability=1.0,
    stochastic_depth_mode="sample",
    kernel_regularizer=None,
    zero_init_last=False,
    bn_momentum=0.9,
    bn_epsilon=1e-5,
    name=None,
):
    """The CIFAR-10 networks of He et al. (2015, §4.2) and (2016).

    A 3×3 convolution with `width` filters, three stages of `n` blocks at
    widths `width`, `2 width`, `4 width` (the first block of stages 2 and 3
    has stride 2), global average pooling and a `num_classes`-way dense
    layer that returns logits. Basic blocks give depth `6n + 2` (ResNet-20,
    32, 44, 56, 110, 1202); bottleneck blocks give `9n + 2` (ResNet-164,
    1001 of He et al. 2016, with outputs 4× wider).

    Args:
        depth: int, `6n + 2` for basic blocks or `9n + 2` for bottlenecks.
        block: `"basic"` (`ResidualBlock`) or `"bottleneck"`.
        variant: block ordering, see `ResidualBlock` (`"v2"`: full
            pre-activation).
        shortcut: `"A"`, `"B"` or `"C"`; default `"A"` for basic blocks (the
            paper's CIFAR choice) and `"B"` for bottlenecks (He et al. 2016).
        plain: bool, the same network without any shortcut.
        num_classes: int, output width.
        input_shape: shape of one image.
        width: int, filters of the first stage (16 in the paper).
        final_survival_probability: `p_L` of stochastic depth with the
            linear decay rule over all blocks (Huang et al. 2016); 1 disables.
        stochastic_depth_mode: `"sample"`, `"batch"` (one decision per
            mini-batch, as Huang et al.) or `"skip"` (per mini-batch, and a
            dropped branch is not computed, as in Huang et al.'s code), see
            `ResidualBlock`.
        kernel_regularizer: regularizer of every kernel (weight decay).
        zero_init_last: bool, zero-initialise each branch's last BN gamma.
        bn_momentum, bn_epsilon: batch normalisation settings.
        name: model name; defaults to e.g. `"resnet56"` or `"plain56"`.

    Returns:
        A `keras.Model` from images to logits.

    Example:

    >>> model = resnet_cifar(20)
    >>> model.count_params()  # doctest: +SKIP
    """
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"`block` must be 'basic' or 'bottleneck'. Received: block={block!r}")
    per_block = 2 if block == "basic" else 3
    if (
        isinstance(depth, bool)
        or not isinstance(depth, int)
        or depth < 3 * per_block + 2
        or (depth - 2) % (3 * per_block)
    ):
        form = "6n + 2 (8, 14, 20, 32, 44, 56, 110, ...)" if block == "basic" else (
            "9n + 2 (11, 20, 29, ..., 164, 1001)"
        )
        raise ValueError(
            f"`depth` of a CIFAR ResNet with {block} blocks must be {form}. "
            f"Received: depth={depth!r}"
        )
    _check_variant(variant)
    if shortcut is None:
        shortcut = "A" if block == "basic" else "B"
    _check_survival_probability(final_survival_probability, "final_survival_probability")
    if plain and final_survival_probability < 1.0:
        raise ValueError(
            "Stochastic depth needs shortcuts. Received: plain=True and "
            f"final_survival_probability={final_survival_probability}"
        )
    _check_positive_int(width, "width")
    n = (depth - 2) // (3 * per_block)
    if name is None:
        prefix = "plain" if plain else ("preact_resnet" if variant == "v2" else "resnet")
        name = f"{prefix}{depth}"
    block_cls = ResidualBlock if block == "basic" else BottleneckBlock
    survival = linear_survival_probabilities(3 * n, final_survival_probability)
    common = dict(
        variant=variant,
        shortcut=shortcut,
        plain=plain,
        stochastic_depth_mode=stochastic_depth_mode,
        zero_init_last=zero_init_last,
        kernel_regularizer=kernel_regularizer,
        bn_momentum=bn_momentum,
        bn_epsilon=bn_epsilon,
    )

    inputs = keras.Input(shape=input_shape, name="images")
    x = keras.layers.Conv2D(
        width,
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=kernel_regularizer,
        name="stem_conv",
    )(inputs)
    if variant != "v2":
        x = keras.layers.BatchNormalization(
            momentum=bn_momentum, epsilon=bn_epsilon, name="stem_bn"
        )(x)
    if variant in _POST_ACT:
        x = keras.layers.ReLU(name="stem_relu")(x)
    index = 0
    for stage in range(3):
        for b in range(n):
            x = block_cls(
                width * 2**stage,
                strides=2 if (stage > 0 and b == 0) else 1,
                survival_probability=survival[index],
                name=f"stage{stage + 1}_block{b + 1}",
                **common,
            )(x)
            index += 1
    x = _head(x, variant, bn_momentum, bn_epsilon)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(
        num_classes, kernel_regularizer=kernel_regularizer, name="logits"
    )(x)
    return keras.Model(inputs, outputs, name=name)


_IMAGENET = {  # the keys are resnet_keras.model_names.IMAGENET_DEPTHS
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def resnet_imagenet(
    depth,
    variant="v1",
    include_top=True,
    classes=1000,
    input_shape=(224, 224, 3),
    pooling=None,
    classifier_activation="softmax",
    weights=None,
    shortcut="B",
    final_survival_probability=1.0,
    stochastic_depth_mode="sample",
    kernel_regularizer=None,
    zero_init_last=False,
    name=None,
):
    """ResNet-18/34/50/101/152 of He et al. (2015, Table 1), v1 or v2.

    The stem (7×7/2 convolution, 3×3/2 max pooling), four stages of blocks
    at 64, 128, 256 and 512 filters and the classifier. Layer names, the BN
    epsilon (1.001e-5), the convolution biases and the stride placement
    follow `keras.applications.ResNet50/101/152` (v1: stride on the first
    1×1 of the first block of a stage) and `ResNet50V2/101V2/152V2` (v2:
    stride on the 3×3 of the *last* block of stages 1-3), so that for depth
    50, 101 and 152 the parameter counts are identical and
    `load_keras_applications_weights` copies their weights.

    Args:
        depth: 18, 34, 50, 101 or 152.
        variant: `"v1"` or `"v2"` (full pre-activation, He et al. 2016).
        include_top: bool, whether to end with the classifier.
        classes: int, classifier width.
        input_shape: shape of one image.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
        classifier_activation: activation of the classifier.
        weights: `None` or `"imagenet"`: downloads keras.applications'
            ImageNet weights (depth 50/101/152) and copies them in.
        shortcut: `"B"` (the paper's ImageNet choice) or `"C"`.
        final_survival_probability: stochastic depth `p_L`, linear rule.
        stochastic_depth_mode: `"sample"`, `"batch"` or `"skip"`, see
            `ResidualBlock`.
        kernel_regularizer: regularizer of every kernel.
        zero_init_last: bool, zero-initialise each branch's last BN gamma.
        name: model name; defaults to e.g. `"resnet50"`, `"resnet50v2"`.

    Returns:
        A `keras.Model`.
    """
    if depth not in _IMAGENET:
        raise ValueError(
            f"`depth` must be one of {sorted(_IMAGENET)}. Received: depth={depth!r}"
        )
    if variant not in ("v1", "v2"):
        raise ValueError(f"`variant` must be 'v1' or 'v2'. Received: variant={variant!r}")
    if weights not in (None, "imagenet"):
        raise ValueError(
            f"`weights` must be None or 'imagenet'. Received: weights={weights!r}"
        )
    if weights == "imagenet" and depth not in (50, 101, 152):
        raise ValueError(
            "keras.applications has ImageNet weights for depth 50, 101 and 152 only. "
            f"Received: depth={depth}, weights='imagenet'"
        )
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"`pooling` must be None, 'avg' or 'max'. Received: pooling={pooling!r}")
    if shortcut not in ("B", "C"):
        raise ValueError(
            "ImageNet ResNets use projection shortcuts ('B' or 'C'). "
            f"Received: shortcut={shortcut!r}"
        )
    _check_survival_probability(final_survival_probability, "final_survival_probability")
    block, counts = _IMAGENET[depth]
    block_cls = ResidualBlock if block == "basic" else BottleneckBlock
    v2 = variant == "v2"
    if name is None:
        name = f"resnet{depth}" + ("v2" if v2 else "")
    survival = linear_survival_probabilities(sum(counts), final_survival_probability)

    inputs = keras.Input(shape=input_shape)
    x = keras.layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = keras.layers.Conv2D(
        64, 7, strides=2, use_bias=True, kernel_regularizer=kernel_regularizer,
        name="conv1_conv",
    )(x)
    if not v2:
        x = keras.layers.BatchNormalization(epsilon=KERAS_BN_EPSILON, name="conv1_bn")(x)
        x = keras.layers.ReLU(name="conv1_relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    index = 0
    for stage, count in enumerate(counts):
        for b in range(count):
            if v2:
                strides = 2 if (b == count - 1 and stage < 3) else 1
            else:
                strides = 2 if (b == 0 and stage > 0) else 1
            kwargs = dict(stride_in="3x3" if v2 else "1x1") if block == "bottleneck" else {}
            x = block_cls(
                64 * 2**stage,
                strides=strides,
                variant=variant,
                shortcut=shortcut,
                use_bias=True,
                zero_init_last=zero_init_last,
                survival_probability=survival[index],
                stochastic_depth_mode=stochastic_depth_mode,
                kernel_regularizer=kernel_regularizer,
                bn_momentum=0.99,
                bn_epsilon=KERAS_BN_EPSILON,
                name=f"conv{stage + 2}_block{b + 1}",
                **kwargs,
            )(x)
            index += 1
    x = _head(x, variant, 0.99, KERAS_BN_EPSILON)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dense(
            classes, activation=classifier_activation,
            kernel_regularizer=kernel_regularizer, name="predictions",
        )(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = keras.Model(inputs, x, name=name)
    if weights == "imagenet":
        reference_cls = getattr(
            keras.applications, f"ResNet{depth}" + ("V2" if v2 else "")
        )
        reference = reference_cls(
            weights="imagenet",
            include_top=include_top,
            input_shape=input_shape,
            pooling=pooling,
            classifier_activation=classifier_activation,
        )
        load_keras_applications_weights(model, reference)
    return model


def _weights_by_layer(model):
    """Layer name -> {weight name: variable}, read from the variables' paths.

    A variable's path ends with the name of the layer that created it and its
    own name, whether that layer is a top-level layer of a functional model
    (`conv1_conv/kernel`, keras.applications) or nested inside one of our
    blocks (`conv2_block1/conv2_block1_1_conv/kernel`).
    """
    layers = {}
    for variable in model.weights:
        owner, _, weight_name = variable.path.rpartition("/")
        layer_name = owner.rpartition("/")[2]
        weights = layers.setdefault(layer_name, {})
        if weight_name in weights:
            raise ValueError(
                f"Model {model.name!r} has two layers named {layer_name!r} with a "
                f"weight {weight_name!r}; weights are matched by layer name, so "
                "layer names must be unique."
            )
        weights[weight_name] = variable
    return layers


def load_keras_applications_weights(model, reference_model):
    """Copies the weights of a keras.applications ResNet into our model.

    Layers are matched by name (`conv2_block1_1_conv`, `post_bn`, ...): our
    blocks name their sublayers as keras.applications names its flat layers,
    which Keras' own `.h5` loader (matching by order) cannot see through.

    Args:
        model: a model from `resnet_imagenet` (same depth and variant).
        reference_model: e.g. `keras.applications.ResNet50(weights="imagenet")`.

    Returns:
        The number of layers whose weights were copied.

    Raises:
        ValueError: if a layer of either model has no counterpart, or shapes
            differ (the message names the layers).
    """
    ours = _weights_by_layer(model)
    theirs = _weights_by_layer(reference_model)
    missing = sorted(set(theirs) - set(ours))
    extra = sorted(set(ours) - set(theirs))
    if missing or extra:
        raise ValueError(
            f"The models do not match layer for layer. In {reference_model.name!r} "
            f"but not in {model.name!r}: {missing[:5]}{' ...' if len(missing) > 5 else ''}; "
            f"in {model.name!r} but not in {reference_model.name!r}: "
            f"{extra[:5]}{' ...' if len(extra) > 5 else ''}. Build the model with the "
            "same depth, variant, include_top and classes as the reference."
        )
    for layer_name, reference_weights in theirs.items():
        target = ours[layer_name]
        shapes = {name: tuple(v.shape) for name, v in target.items()}
        reference_shapes = {name: tuple(v.shape) for name, v in reference_weights.items()}
        if shapes != reference_shapes:
            raise ValueError(
                f"Layer {layer_name!r}: weight shapes {shapes} differ from the "
                f"reference's {reference_shapes}."
            )
    for layer_name, reference_weights in theirs.items():
        for weight_name, variable in reference_weights.items():
            ours[layer_name][weight_name].assign(keras.ops.convert_to_numpy(variable))
    return len(theirs)


def highway_mlp(
    depth,
    width=50,
    num_classes=10,
    input_shape=(28, 28, 1),
    activation="relu",
    carry_gate="complement",
    transform_bias_init=None,
    kernel_initializer="glorot_uniform",
    gate_kernel_initializer="zeros",
    kernel_regularizer=None,
    name=None,
):
    """The highway MLP of Srivastava et al. (2015, §4.1).

    A plain dense layer to `width` units, `depth - 1` `HighwayDense` layers
    and a `num_classes`-way output layer (logits): "10 layers" is one plain
    and nine highway layers ("the first layer is a fully connected plain
    layer followed by 9, 19, 49, or 99 fully connected plain or highway
    layers"). The paper uses 50 units for highway nets and 71 for plain
    nets, "yielding roughly identical numbers of parameters (≈5000) per
    layer".

    The defaults train every depth of the paper, 10 to 100 layers, with the
    same SGD recipe (chapter 5, `tools/highway_fig1.py`):

    * `transform_bias_init=None` gives `transform_bias_for_depth(depth - 1)`
      = `-ln(depth - 1)` (-2.20, -2.94, -3.89, -4.60 for depth 10, 20, 50,
      100): every gate starts at `T = 1 / depth`, so that the carry path of
      the whole stack keeps about `1/e` of the gradient at initialisation.
      The paper searched this bias per network "between -1 and -10"; the
      rule is ours, from measurement (see `transform_bias_for_depth`).
    * `gate_kernel_initializer="zeros"`: the gates start input-independent
      (see `HighwayDense`). The former defaults (Glorot-uniform gate kernels
      and `b_T = -2` at every depth) made the gradient of a 100-layer net
      at initialisation vary 8x to 1,480x from layer to layer (10 random
      draws), and the 50- and 100-layer nets diverged in their first epoch.
    * `kernel_initializer="glorot_uniform"` (`W_H`) and `activation="relu"`:
      the paper's "normalized initialization" and the activation of its
      convolutional highway nets; see `HighwayDense`.
    * The first plain layer uses `he_normal`, as `plain_mlp` (the paper's
      plain layers use "normalized initialization"; He et al. (2015)
      adapt it to ReLU).

    Args:
        depth: int >= 2, hidden layers (first plain layer included).
        width: int, units per layer.
        num_classes: int, output width.
        input_shape: shape of one sample (flattened first).
        activation: activation of the layers' `H` (and of the first layer).
        carry_gate: `"complement"` or `"independent"`, see `HighwayDense`.
        transform_bias_init: float, initial transform-gate bias of every
            highway layer, or None (default) for
            `transform_bias_for_depth(depth - 1)`.
        kernel_initializer: initializer of the highway layers' `W_H`.
        gate_kernel_initializer: initializer of the highway layers' gate
            kernels `W_T` (and `W_C`).
        kernel_regularizer: regularizer of every kernel.
        name: model name, default `"highway_mlp{depth}"`.
    """
    _check_depth(depth)
    if transform_bias_init is None:
        transform_bias_init = transform_bias_for_depth(depth - 1)
    return _mlp(
        depth, width, num_classes, input_shape, activation, kernel_regularizer,
        name or f"highway_mlp{depth}",
        lambda i: HighwayDense(
            width, activation=activation, carry_gate=carry_gate,
            transform_bias_init=transform_bias_init,
            kernel_initializer=kernel_initializer,
            gate_kernel_initializer=gate_kernel_initializer,
            kernel_regularizer=kernel_regularizer, name=f"highway{i}",
        ),
    )


def plain_mlp(
    depth,
    width=71,
    num_classes=10,
    input_shape=(28, 28, 1),
    activation="relu",
    kernel_regularizer=None,
    name=None,
):
    """The plain MLP twin of `highway_mlp`: `depth` dense layers of `width`.

    Every hidden layer uses `he_normal`: the paper compares highway nets to
    "plain networks with normalized initialization", and He et al. (2015)
    give the normalized initialization for ReLU layers. The width 71 is the
    paper's ("50 blocks for highway networks and 71 units for plain
    networks").

    Args: as `highway_mlp`, without the gates.
    """
    return _mlp(
        depth, width, num_classes, input_shape, activation, kernel_regularizer,
        name or f"plain_mlp{depth}",
        lambda i: keras.layers.Dense(
            width, activation=activation, kernel_initializer="he_normal",
            kernel_regularizer=kernel_regularizer, name=f"dense{i}",
        ),
    )


def _check_depth(depth):
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 2:
        raise ValueError(f"`depth` must be an int >= 2. Received: depth={depth!r}")


def _mlp(depth, width, num_classes, input_shape, activation, regularizer, name, layer_fn):
    _check_depth(depth)
    _check_positive_int(width, "width")
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = keras.layers.Dense(
        width, activation=activation, kernel_initializer="he_normal",
        kernel_regularizer=regularizer, name="dense0",
    )(x)
    for i in range(1, depth):
        x = layer_fn(i)(x)
    outputs = keras.layers.Dense(num_classes, kernel_regularizer=regularizer, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def get_model(name, **overrides):
    """Builds a model from a short name such as `"resnet56"` or `"plain20"`.

    Names: `resnet{d}` (CIFAR for 6n+2 depths, ImageNet for 18/34/50/101/152;
    `cifar_resnet{d}` forces CIFAR), `plain{d}`, `preact_resnet{d}`
    (bottleneck for 164 and 1001), `resnet{d}v2` (ImageNet v2),
    `resnet{d}_sd` (stochastic depth, p_L = 0.5), `highway_mlp{d}`,
    `plain_mlp{d}` (see `resnet_keras.model_names.parse_model_name`). Keyword
    arguments override the builder's arguments. See `MODEL_NAMES` for
    examples.
    """
    builder, depth, kwargs = parse_model_name(name)
    build = {
        "resnet_cifar": resnet_cifar,
        "resnet_imagenet": resnet_imagenet,
        "highway_mlp": highway_mlp,
        "plain_mlp": plain_mlp,
    }[builder]
    return build(depth, **{**kwargs, **overrides})
