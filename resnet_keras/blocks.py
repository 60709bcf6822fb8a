"""Residual blocks: the basic two-3×3 block and the bottleneck block.

Both blocks share one implementation (`_ResidualBlockBase`): a *branch* of
convolutions `F(x)` whose order of BN, ReLU and convolution is set by
`variant`, a *shortcut* set by `shortcut`, and their sum. The layout of
`use_bias=True` and the sublayer names (`{name}_1_conv`, `{name}_0_bn`,
`{name}_preact_bn`, ...) are those of `keras.applications.ResNet50` and
`ResNet50V2`, so that their ImageNet weights can be loaded by name.
"""

import math

import keras
from keras import ops

from resnet_keras.stochastic_depth import BLOCK_MODES as STOCHASTIC_DEPTH_MODES
from resnet_keras.stochastic_depth import StochasticDepth, _check_survival_probability

VARIANTS = ("v1", "v2", "bn_after_add", "relu_before_add", "relu_preact")
SHORTCUTS = ("A", "B", "C")
# Variants whose branch starts with an activation of the block input: their
# projection shortcuts read the activated input, as in He et al. (2016).
_PREACT_VARIANTS = ("v2", "relu_preact")


def _cond_with_layer_state(pred, true_fn, false_fn, layer):
    """`ops.cond(pred, true_fn, false_fn)` whose branches may update `layer`'s state.

    Only the branch that `pred` picks is computed. A branch that runs BN in
    training mode assigns its moving statistics; JAX cannot let such an
    assignment escape a traced conditional, so each branch runs in its own
    `keras.StatelessScope` over the layer's variables and returns the new
    values of the non-trainable ones, which are assigned after the
    conditional (the branch not taken returns them unchanged).
    """
    state = layer.non_trainable_variables
    current = [(v, v.value) for v in layer.variables]

    def with_state(fn):
        def branch():
            with keras.StatelessScope(state_mapping=current) as scope:
                out = fn()
            return out, [scope.get_current_value(v) for v in state]

        return branch

    out, new_state = ops.cond(pred, with_state(true_fn), with_state(false_fn))
    for variable, value in zip(state, new_state):
        variable.assign(value)
    return out


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
    return value


class _ResidualBlockBase(keras.layers.Layer):
    """Shared machinery of `ResidualBlock` and `BottleneckBlock`."""

    def __init__(
        self,
        filters,
        strides=1,
        variant="v1",
        shortcut="B",
        plain=False,
        use_bias=False,
        zero_init_last=False,
        survival_probability=1.0,
        stochastic_depth_mode="sample",
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        bn_momentum=0.9,
        bn_epsilon=1e-5,
        **kwargs,
    ):
        _check_positive_int(filters, "filters")
        _check_positive_int(strides, "strides")
        if variant not in VARIANTS:
            raise ValueError(
                f"`variant` must be one of {VARIANTS}. Received: variant={variant!r}"
            )
        if shortcut not in SHORTCUTS:
            raise ValueError(
                f"`shortcut` must be one of {SHORTCUTS} (A: zero-padding, "
                "B: projection when the shape changes, C: projection always). "
                f"Received: shortcut={shortcut!r}"
            )
        survival_probability = _check_survival_probability(survival_probability)
        if stochastic_depth_mode not in STOCHASTIC_DEPTH_MODES:
            raise ValueError(
                f"`stochastic_depth_mode` must be one of {STOCHASTIC_DEPTH_MODES}. "
                f"Received: stochastic_depth_mode={stochastic_depth_mode!r}"
            )
        if plain and survival_probability < 1.0:
            raise ValueError(
                "Stochastic depth drops the residual branch and keeps the shortcut; "
                "a plain block has no shortcut. Received: plain=True and "
                f"survival_probability={survival_probability}"
            )
        super().__init__(**kwargs)
        self.filters = filters
        self.strides = strides
        self.variant = variant
        self.shortcut = shortcut
        self.plain = bool(plain)
        self.use_bias = bool(use_bias)
        self.zero_init_last = bool(zero_init_last)
        self.survival_probability = survival_probability
        self.stochastic_depth_mode = stochastic_depth_mode
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)

    # Subclasses describe their branch: [(filters, kernel_size, strides), ...].
    def _conv_specs(self):
        raise NotImplementedError

    @property
    def output_filters(self):
        return self._conv_specs()[-1][0]

    # -- sublayer factories ------------------------------------------------
    def _conv(self, filters, kernel_size, strides, name, use_bias, zero=False):
        return keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            # Strided 3×3 convolutions pad symmetrically (see `_apply_conv`).
            padding="same" if strides == 1 else "valid",
            use_bias=use_bias,
            kernel_initializer="zeros"
            if zero
            else keras.initializers.get(keras.initializers.serialize(self.kernel_initializer)),
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=f"{self.name}_{name}",
        )

    def _bn(self, name, zero=False):
        return keras.layers.BatchNormalization(
            axis=-1,
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            gamma_initializer="zeros" if zero else "ones",
            dtype=self.dtype_policy,
            name=f"{self.name}_{name}",
        )

    def _needs_projection(self, in_channels):
        if self.plain:
            return False
        if self.shortcut == "C":
            return True
        if self.shortcut == "B":
            return in_channels != self.output_filters
        return False

    # -- build ---------------------------------------------------------------
    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"{type(self).__name__} expects 4D inputs (batch, height, width, "
                f"channels), channels last. Received: input_shape={tuple(input_shape)}"
            )
        in_channels = input_shape[-1]
        if in_channels is None:
            raise ValueError(
                "The channel dimension of the inputs must be known. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        if (
            self.shortcut == "A"
            and not self.plain
            and in_channels > self.output_filters
        ):
            raise ValueError(
                "Zero-padding shortcut (A) can only add channels. Received "
                f"{in_channels} input channels for {self.output_filters} output "
                "channels; use shortcut='B' or 'C'."
            )
        specs = self._conv_specs()
        n = len(specs)
        v = self.variant
        preact = v in _PREACT_VARIANTS
        # Which convolutions have a bias (keras.applications' layout).
        def conv_bias(i):
            if not self.use_bias:
                return False
            return (i == n - 1) if v == "v2" else True

        branch_ends_with_bn = v in ("v1", "relu_before_add", "relu_preact")
        self.convs = []
        self.bns = []
        shape = tuple(input_shape)
        self.preact_bn = None
        if v == "v2":
            self.preact_bn = self._bn("preact_bn")
            self.preact_bn.build(shape)
        for i, (f, k, s) in enumerate(specs):
            last = i == n - 1
            zero_conv = self.zero_init_last and last and not branch_ends_with_bn
            conv = self._conv(f, k, s, f"{i + 1}_conv", conv_bias(i), zero=zero_conv)
            conv.build(shape)
            shape = conv.compute_output_shape(
                self._padded_shape(shape, k, s)
            )
            self.convs.append(conv)
            has_bn = not last or v in ("v1", "relu_before_add", "relu_preact")
            if has_bn:
                bn = self._bn(
                    f"{i + 1}_bn", zero=self.zero_init_last and last and branch_ends_with_bn
                )
                bn.build(shape)
                self.bns.append(bn)
            else:
                self.bns.append(None)
        self.add_bn = None
        if v == "bn_after_add":
            self.add_bn = self._bn("add_bn")
            self.add_bn.build(shape)

        self.projection = None
        self.projection_bn = None
        if self._needs_projection(in_channels):
            self.projection = self._conv(
                self.output_filters, 1, self.strides, "0_conv", self.use_bias
            )
            self.projection.build(input_shape)
            if not preact:
                self.projection_bn = self._bn("0_bn")
                self.projection_bn.build(shape)

        self.stochastic_depth = None
        if self.survival_probability < 1.0:
            self.stochastic_depth = StochasticDepth(
                self.survival_probability,
                # "skip" draws once per mini-batch (`sample_survival`).
                mode="batch" if self.stochastic_depth_mode == "skip" else self.stochastic_depth_mode,
                dtype=self.dtype_policy,
                name=f"{self.name}_sd",
            )
        self.built = True

    @staticmethod
    def _padded_shape(shape, kernel_size, strides):
        if strides == 1 or kernel_size == 1:
            return shape
        pad = kernel_size - 1
        b, h, w, c = shape
        return (b, None if h is None else h + pad, None if w is None else w + pad, c)

    # -- call ----------------------------------------------------------------
    def _apply_conv(self, conv, x):
        k = conv.kernel_size[0]
        s = conv.strides[0]
        if s > 1 and k > 1:
            # Symmetric padding, as PyTorch and keras.applications' ResNetV2
            # do: "same" padding in TensorFlow would pad (0, 1) and shift the
            # sampling grid by one pixel relative to the shortcut.
            lo = (k - 1) // 2
            hi = k - 1 - lo
            x = ops.pad(x, [[0, 0], [lo, hi], [lo, hi], [0, 0]])
        return conv(x)

    def _subsample(self, x):
        if self.strides == 1:
            return x
        return ops.max_pool(x, pool_size=1, strides=self.strides, padding="valid")

    def _shortcut(self, x, activated, training):
        if self.projection is not None:
            source = activated if self.variant in _PREACT_VARIANTS else x
            y = self._apply_conv(self.projection, source)
            if self.projection_bn is not None:
                y = self.projection_bn(y, training=training)
            return y
        y = self._subsample(x)
        extra = self.output_filters - x.shape[-1]
        if extra > 0:  # option A: the new channels are zeros
            y = ops.pad(y, [[0, 0], [0, 0], [0, 0], [0, extra]])
        return y

    def branch_and_shortcut(self, inputs, training=None):
        """The two terms the block adds: `(F(x), shortcut(x))`.

        `call` returns `shortcut(x) + F(x)` (`F` through stochastic depth in training)
        followed by the variant's operation after the addition: ReLU for `"v1"`, BN and ReLU
        for `"bn_after_add"`, nothing for the others. A plain block has no shortcut: it
        returns `(F(x), None)` and `call` applies that operation to `F(x)` alone.
        `merge(branch, shortcut)` does this second half.

        For analysis, e.g. the size of the residual next to the shortcut's in a trained
        network (He et al. 2015, Fig. 7). Moving statistics of BN are updated when
        `training` is true, as in `call`; wrap the call in `keras.StatelessScope` to leave
        them unchanged.

        Args:
            inputs: `(batch, height, width, channels)` tensor.
            training: bool, BN with batch statistics (`True`) or moving statistics.

        Returns:
            `(branch, shortcut)`: two tensors of the output's shape, or the branch and
            `None` for a plain block.
        """
        if not self.built:
            self.build(tuple(inputs.shape))
        v = self.variant
        last = len(self.convs) - 1
        activated = self._activated_input(inputs, training)
        x = activated
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            if i > 0 and v in _PREACT_VARIANTS:
                x = ops.relu(x)  # v2: the BN before it ran after conv i - 1
            x = self._apply_conv(conv, x)
            if bn is not None:
                x = bn(x, training=training)
            if v == "relu_before_add" or (v in ("v1", "bn_after_add") and i < last):
                x = ops.relu(x)
        if self.plain:
            return x, None
        return x, self._shortcut(inputs, activated, training)

    def _activated_input(self, inputs, training):
        # The pre-activation variants start the branch (and their projection
        # shortcut) from the activated input.
        if self.variant == "v2":
            return ops.relu(self.preact_bn(inputs, training=training))
        if self.variant == "relu_preact":
            return ops.relu(inputs)
        return inputs

    def _sum_or_shortcut_alone(self, inputs, training):
        # stochastic_depth_mode="skip" in training: one draw for the mini-batch
        # and only the path it picks is computed, as in Huang et al.'s code: a
        # dropped branch costs nothing and its BN statistics stay as they are.
        def survived():
            branch, shortcut = self.branch_and_shortcut(inputs, training=training)
            return ops.add(shortcut, self.stochastic_depth.rescale(branch))

        def dropped():
            reads_activated = self.projection is not None and self.variant in _PREACT_VARIANTS
            activated = self._activated_input(inputs, training) if reads_activated else inputs
            return ops.cast(self._shortcut(inputs, activated, training), self.compute_dtype)

        return _cond_with_layer_state(
            self.stochastic_depth.sample_survival(), survived, dropped, self
        )

    def merge(self, branch, shortcut, training=None):
        """The block's output from the two terms of `branch_and_shortcut`.

        `shortcut + F` (`F` through stochastic depth in training; with
        `stochastic_depth_mode="skip"` the branch is already computed, so its
        draw multiplies it as in `"batch"`), then the variant's operation after
        the addition. `block(x)` is `block.merge(*block.branch_and_shortcut(x))`
        outside "skip" training: an analysis that needs the two terms and the
        output computes the block once.

        Args:
            branch: `F(x)`.
            shortcut: the shortcut's output, or `None` for a plain block.
            training: bool, as for `call`.
        """
        if shortcut is None:
            out = branch
        else:
            if self.stochastic_depth is not None:
                branch = self.stochastic_depth(branch, training=training)
            out = ops.add(shortcut, branch)
        return self._after_addition(out, training)

    def _after_addition(self, out, training):
        if self.variant == "bn_after_add":
            return ops.relu(self.add_bn(out, training=training))
        if self.variant == "v1":
            return ops.relu(out)
        return out

    def call(self, inputs, training=None):
        if training and self.stochastic_depth is not None and self.stochastic_depth_mode == "skip":
            return self._after_addition(self._sum_or_shortcut_alone(inputs, training), training)
        branch, shortcut = self.branch_and_shortcut(inputs, training=training)
        return self.merge(branch, shortcut, training=training)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        s = self.strides
        return (
            b,
            None if h is None else math.ceil(h / s),
            None if w is None else math.ceil(w / s),
            self.output_filters,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "variant": self.variant,
                "shortcut": self.shortcut,
                "plain": self.plain,
                "use_bias": self.use_bias,
                "zero_init_last": self.zero_init_last,
                "survival_probability": self.survival_probability,
                "stochastic_depth_mode": self.stochastic_depth_mode,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon,
            }
        )
        return config


_COMMON_ARGS = """
        strides: int, stride of the block (2 halves the resolution).
        variant: order of BN, ReLU and convolution (He et al. 2016, Fig. 4):
            `"v1"` original post-activation (conv-BN-ReLU-...-conv-BN, add,
            ReLU); `"v2"` full pre-activation (BN-ReLU-conv-...-BN-ReLU-conv,
            add); the ablations `"bn_after_add"`, `"relu_before_add"` and
            `"relu_preact"` (ReLU-only pre-activation).
        shortcut: when the shape changes: `"A"` parameter-free (stride
            subsampling and zero channels), `"B"` 1×1 projection when the
            channel count changes (a strided identity when only the
            resolution does), `"C"` projection in every block.
        plain: bool, `True` builds the same block without the shortcut and
            the addition: the "plain" network of the degradation experiment.
        use_bias: bool, `True` gives the convolutions biases as
            keras.applications does (v1: every convolution; v2: the last one
            and the projection, those not followed by BN). `False` (default)
            gives none: a bias before BN is redundant.
        zero_init_last: bool, start the branch at zero (the last BN's gamma,
            or the last convolution's kernel when no BN ends the branch), so
            that each block starts as its shortcut (Goyal et al. 2017).
        survival_probability: float in (0, 1], stochastic depth of the
            branch (see `StochasticDepth`); 1 disables it.
        stochastic_depth_mode: `"sample"` (one draw per sample), `"batch"`
            (one per mini-batch, as Huang et al.; the branch is computed and
            multiplied by 0 or 1/p) or `"skip"` (one per mini-batch, and a
            dropped branch is not computed at all: its BN statistics are not
            updated, as in Huang et al.'s code), see `StochasticDepth`. Whether
            "skip" saves time depends on how the backend runs a conditional:
            measured on a CPU (benchmarks/README.md), a ResNet-110 step took
            0.80x the constant-depth time on TensorFlow, but a ResNet-20 step
            21.7x on JAX (XLA:CPU runs the backward convolutions inside a
            conditional 7-50x slower; benchmarks/xla_cpu_nested_conv.py).
        kernel_initializer: convolution kernel initializer
            (default `"he_normal"`, as in He et al. 2015).
        kernel_regularizer: optional kernel regularizer (weight decay).
        bn_momentum: float, momentum of the BN moving statistics.
        bn_epsilon: float, BN epsilon (keras.applications uses 1.001e-5).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Inputs are `(batch, height, width, channels)` tensors (channels last).
    Spatial sizes are divided by `strides`, rounding up; strided
    convolutions pad symmetrically, so that the branch samples the same
    pixels as the strided shortcut."""


@keras.saving.register_keras_serializable(package="resnet_keras")
class ResidualBlock(_ResidualBlockBase):
    __doc__ = (
        """The basic residual block of two 3×3 convolutions, `y = F(x) + x`.

    He et al. (2015) let a pair of layers fit the residual `F(x) = H(x) - x`
    of the mapping `H` they should learn, and add the input back through a
    shortcut connection.

    Args:
        filters: int > 0, number of filters of both convolutions (and of the
            output)."""
        + _COMMON_ARGS
        + """

    Example:

    >>> block = ResidualBlock(32, strides=2, shortcut="A")
    >>> block(keras.ops.zeros((1, 32, 32, 16))).shape
    (1, 16, 16, 32)

    References:
        He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
        He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016.
    """
    )

    def _conv_specs(self):
        return [(self.filters, 3, self.strides), (self.filters, 3, 1)]


@keras.saving.register_keras_serializable(package="resnet_keras")
class BottleneckBlock(_ResidualBlockBase):
    __doc__ = (
        """The bottleneck residual block: 1×1 reduce, 3×3, 1×1 expand.

    He et al. (2015) replace the two 3×3 convolutions of deep nets by a 1×1
    convolution that reduces the width to `filters`, a 3×3 convolution at that
    width, and a 1×1 convolution that expands it to `filters * expansion`.

    Args:
        filters: int > 0, width of the bottleneck (the 3×3 convolution).
        expansion: int > 0, output width is `filters * expansion` (4)."""
        + _COMMON_ARGS.replace(
            "        strides: int, stride of the block (2 halves the resolution).",
            "        strides: int, stride of the block (2 halves the resolution).\n"
            "        stride_in: `\"1x1\"` puts the stride on the first 1×1 (the\n"
            "            paper and keras.applications' ResNet50), `\"3x3\"` on the\n"
            "            3×3 (\"ResNet v1.5\" and keras.applications' ResNet50V2).",
        )
        + """

    Example:

    >>> block = BottleneckBlock(64)
    >>> block(keras.ops.zeros((1, 56, 56, 64))).shape
    (1, 56, 56, 256)

    References:
        He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
    """
    )

    def __init__(self, filters, strides=1, expansion=4, stride_in="1x1", **kwargs):
        _check_positive_int(expansion, "expansion")
        if stride_in not in ("1x1", "3x3"):
            raise ValueError(
                f"`stride_in` must be '1x1' or '3x3'. Received: stride_in={stride_in!r}"
            )
        super().__init__(filters, strides=strides, **kwargs)
        self.expansion = expansion
        self.stride_in = stride_in

    def _conv_specs(self):
        s1, s3 = (self.strides, 1) if self.stride_in == "1x1" else (1, self.strides)
        return [
            (self.filters, 1, s1),
            (self.filters, 3, s3),
            (self.filters * self.expansion, 1, 1),
        ]

    def get_config(self):
        config = super().get_config()
        config.update({"expansion": self.expansion, "stride_in": self.stride_in})
        return config
