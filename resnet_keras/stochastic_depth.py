"""Stochastic depth (Huang et al., 2016) for the residual branch of a block."""

import keras
from keras import ops


def _check_survival_probability(value, name="survival_probability"):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"`{name}` must be a number in (0, 1]. Received: {name}={value!r}"
        )
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(
            f"`{name}` must be in (0, 1] (1 keeps every block). "
            f"Received: {name}={value}"
        )
    return float(value)


def linear_survival_probabilities(num_blocks, final_survival_probability=0.5):
    """Survival probabilities of the linear decay rule of Huang et al. (2016).

    Block `l` (1-based) of `L` survives with probability
    `p_l = 1 - (l / L) * (1 - p_L)`: the first block almost always survives
    and the last one survives with probability `p_L`.

    Args:
        num_blocks: int, the number of residual blocks `L` (at least 1).
        final_survival_probability: float in (0, 1], `p_L`. The paper uses 0.5.

    Returns:
        A list of `num_blocks` floats.

    Example:

    >>> linear_survival_probabilities(4, 0.5)
    [0.875, 0.75, 0.625, 0.5]
    """
    if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 1:
        raise ValueError(
            f"`num_blocks` must be a positive int. Received: num_blocks={num_blocks!r}"
        )
    p_last = _check_survival_probability(
        final_survival_probability, "final_survival_probability"
    )
    return [1.0 - (l / num_blocks) * (1.0 - p_last) for l in range(1, num_blocks + 1)]


MODES = ("sample", "batch")
# The modes of a block's stochastic depth: the layer's, and "skip" (one draw per
# mini-batch; a dropped branch is not computed), which only a block can do.
BLOCK_MODES = MODES + ("skip",)


@keras.saving.register_keras_serializable(package="resnet_keras")
class StochasticDepth(keras.layers.Layer):
    """Drops a whole residual branch during training.

    Huang et al. (2016) train a residual network whose blocks are randomly
    skipped: "for each mini-batch, randomly drop a subset of layers and
    bypass them with the identity function". Block `l`'s residual branch
    `F(x)` survives with probability `p_l` and is replaced by zero otherwise,
    so that the block reduces to its shortcut. This layer is applied to the
    branch output, before the addition.

    `mode="batch"` draws one decision per mini-batch, as the paper and its
    code do; `mode="sample"` (default, the "drop path" of timm and
    EfficientNet) draws one per sample, which regularises alike in
    expectation with a less noisy gradient.

    Applied to a branch that was already computed, this layer saves no
    work: a dropped branch still costs its forward and backward pass, and
    its BN layers still update their moving statistics. The paper's code
    computes a branch only when it survives; `ResidualBlock` and
    `BottleneckBlock` do that with `stochastic_depth_mode="skip"`, through
    `sample_survival()` and `rescale()`.

    Scaling: this layer uses *inverted* scaling, `F(x) * mask / p` during
    training and `F(x)` unchanged at inference. The expectation of the
    training output over the mask is `F(x)`, the inference output, exactly
    as in the paper, which instead multiplies `F(x)` by `p` at test time. The
    inverted form makes inference a no-op, so a trained model's inference
    graph (and its weights) are those of a plain ResNet.

    Args:
        survival_probability: float in (0, 1], the probability `p` that the
            branch is kept. `1.0` makes the layer an identity.
        mode: `"sample"` (one draw per sample) or `"batch"` (one draw per
            mini-batch, Huang et al.).
        seed: optional int, seed of the Bernoulli masks.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> layer = StochasticDepth(0.8, seed=1)
    >>> y = layer(keras.ops.ones((4, 8, 8, 16)), training=True)

    References:
        Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016.
    """

    def __init__(self, survival_probability, mode="sample", seed=None, **kwargs):
        survival_probability = _check_survival_probability(survival_probability)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
        super().__init__(**kwargs)
        self.survival_probability = survival_probability
        self.mode = mode
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        # No weights to create, so the layer is built at construction (as
        # keras.layers.Dropout is); the seed generator's state exists already.
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.survival_probability == 1.0:
            return inputs
        batch = ops.shape(inputs)[0] if self.mode == "sample" else 1
        mask_shape = (batch,) + (1,) * (len(inputs.shape) - 1)
        mask = ops.cast(self._draw_survival(mask_shape), self.compute_dtype)
        return self.rescale(inputs * mask)

    def sample_survival(self):
        """One survival decision for a whole mini-batch: a boolean scalar tensor.

        True with probability `survival_probability`. A block in
        `stochastic_depth_mode="skip"` draws it and computes its branch
        only when it is true (see `ResidualBlock`).
        """
        return ops.reshape(self._draw_survival((1,)), ())

    def rescale(self, branch):
        """`branch / p`: the inverted scaling of a surviving branch in training."""
        return branch / ops.cast(self.survival_probability, branch.dtype)

    def _draw_survival(self, shape):
        # Draw in float32 whatever the compute dtype: u < p is true with
        # probability p, a binary decision even under bf16.
        uniform = keras.random.uniform(shape, seed=self.seed_generator, dtype="float32")
        return ops.less(uniform, self.survival_probability)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "survival_probability": self.survival_probability,
                "mode": self.mode,
                "seed": self.seed,
            }
        )
        return config
