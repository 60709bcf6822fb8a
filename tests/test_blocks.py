import keras
import numpy as np
import pytest
from keras import ops
from keras.src import testing

from resnet_keras import BottleneckBlock, ResidualBlock
from resnet_keras._keras_compat import nested_layers
from resnet_keras.blocks import VARIANTS


def _randomize_bn(layer, seed=0):
    """Moving statistics away from (0, 1), so inference-mode BN is not an identity."""
    rng = np.random.default_rng(seed)
    for sub in nested_layers(layer):
        if isinstance(sub, keras.layers.BatchNormalization):
            g, b, m, v = sub.get_weights()
            sub.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.2, b.shape),
                             rng.normal(0, 0.2, m.shape), rng.uniform(0.5, 1.5, v.shape)])


class ResidualBlockLayerTest(testing.TestCase):
    def test_identity_block(self):
        self.run_layer_test(
            ResidualBlock,
            init_kwargs={"filters": 4},
            input_shape=(2, 6, 6, 4),
            expected_output_shape=(2, 6, 6, 4),
            expected_num_trainable_weights=6,  # 2 kernels, 2 x (gamma, beta)
            expected_num_non_trainable_weights=4,
        )

    def test_projection_block_v2_strided(self):
        self.run_layer_test(
            ResidualBlock,
            init_kwargs={"filters": 8, "strides": 2, "variant": "v2", "shortcut": "B"},
            input_shape=(2, 7, 7, 4),
            expected_output_shape=(2, 4, 4, 8),
            # preact BN, 1_conv, 1_bn, 2_conv, projection conv (no BN in v2)
            expected_num_trainable_weights=7,
            expected_num_non_trainable_weights=4,
        )

    def test_zero_pad_block_with_stochastic_depth(self):
        self.run_layer_test(
            ResidualBlock,
            init_kwargs={"filters": 8, "strides": 2, "shortcut": "A",
                         "survival_probability": 0.8},
            input_shape=(2, 8, 8, 4),
            expected_output_shape=(2, 4, 4, 8),
            expected_num_trainable_weights=6,  # option A adds nothing
            expected_num_non_trainable_weights=4,
            expected_num_seed_generators=1,
        )

    def test_bottleneck_block(self):
        self.run_layer_test(
            BottleneckBlock,
            init_kwargs={"filters": 4, "strides": 2, "stride_in": "3x3", "use_bias": True},
            input_shape=(2, 8, 8, 8),
            expected_output_shape=(2, 4, 4, 16),
            # 3 convs + projection, each with a bias (v1), 4 BNs
            expected_num_trainable_weights=16,
            expected_num_non_trainable_weights=8,
        )

    def test_bottleneck_block_v2_plain(self):
        self.run_layer_test(
            BottleneckBlock,
            init_kwargs={"filters": 2, "variant": "v2", "plain": True},
            input_shape=(2, 5, 5, 8),
            expected_output_shape=(2, 5, 5, 8),
            expected_num_trainable_weights=9,  # preact BN, 3 convs, 2 BNs
            expected_num_non_trainable_weights=6,
        )


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("cls", [ResidualBlock, BottleneckBlock])
def test_every_variant_runs_with_consistent_shapes(cls, variant):
    block = cls(4, strides=2, variant=variant, shortcut="B")
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 3)).astype("float32")
    y = block(x, training=True)
    expected = block.compute_output_shape(x.shape)
    assert tuple(y.shape) == expected
    assert expected[1:3] == (5, 5)  # ceil(9 / 2)


def test_identity_shortcut_jacobian_is_identity_plus_branch_jacobian():
    """dy/dx = I + dF/dx for y = x + F(x), checked by central differences."""
    # JAX runs in float32 unless x64 is enabled: a larger step, a looser tolerance.
    precise = keras.backend.backend() != "jax"
    dtype, eps, atol = ("float64", 1e-6, 1e-6) if precise else ("float32", 1e-2, 2e-3)
    kwargs = dict(filters=2, variant="v2", dtype=dtype)
    block = ResidualBlock(**kwargs)
    plain = ResidualBlock(plain=True, **kwargs)  # the same F without the shortcut
    x0 = np.random.default_rng(3).normal(size=(1, 3, 3, 2)).astype(dtype)
    block.build(x0.shape)
    plain.build(x0.shape)
    _randomize_bn(block)
    plain.set_weights(block.get_weights())

    def jacobian(fn, x):
        n = x.size
        cols = []
        for i in range(n):
            d = np.zeros(n, dtype)
            d[i] = eps
            d = d.reshape(x.shape)
            cols.append((ops.convert_to_numpy(fn(x + d)) - ops.convert_to_numpy(fn(x - d))).ravel() / (2 * eps))
        return np.stack(cols, axis=1)

    j_block = jacobian(lambda x: block(x, training=False), x0)
    j_branch = jacobian(lambda x: plain(x, training=False), x0)
    np.testing.assert_allclose(j_block, np.eye(x0.size) + j_branch, atol=atol)
    # and the branch is not trivial, so the check means something
    assert np.abs(j_branch).max() > 0.1


def test_option_a_is_parameter_free_subsample_and_zero_pad():
    block = ResidualBlock(8, strides=2, shortcut="A", zero_init_last=True)
    plain = ResidualBlock(8, strides=2, plain=True)
    x = np.random.default_rng(0).uniform(0.1, 1.0, size=(2, 6, 6, 4)).astype("float32")
    y = ops.convert_to_numpy(block(x, training=False))
    plain(x)
    assert block.count_params() == plain.count_params()
    # zero-initialised last BN: the branch is 0, so y = ReLU(shortcut(x))
    np.testing.assert_allclose(y[..., :4], x[:, ::2, ::2, :], atol=1e-6)
    np.testing.assert_allclose(y[..., 4:], 0.0)


def test_projection_adds_parameters_and_option_c_always_projects():
    x = np.zeros((1, 8, 8, 4), "float32")
    b = ResidualBlock(8, strides=2, shortcut="B")
    a = ResidualBlock(8, strides=2, shortcut="A")
    c_same = ResidualBlock(4, shortcut="C")
    b_same = ResidualBlock(4, shortcut="B")
    for layer in (a, b, c_same, b_same):
        layer(x)
    assert b.count_params() - a.count_params() == 4 * 8 + 4 * 8  # 1x1 kernel + BN
    assert b.projection is not None and a.projection is None
    assert c_same.projection is not None and b_same.projection is None


def test_zero_init_last_starts_as_identity_for_v2():
    block = ResidualBlock(3, variant="v2", zero_init_last=True)
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(ops.convert_to_numpy(block(x, training=True)), x, atol=1e-6)


def test_strided_branch_and_shortcut_sample_the_same_pixels():
    """A delta at an even pixel reaches the same output pixel on both paths."""
    block = ResidualBlock(1, strides=2, shortcut="C", variant="v2")
    x = np.zeros((1, 8, 8, 1), "float32")
    x[0, 4, 2, 0] = 1.0
    block.build(x.shape)
    k = np.zeros((3, 3, 1, 1), "float32")
    k[1, 1] = 1.0  # centre tap only: the conv is a pure subsample
    block.convs[0].kernel.assign(k)
    block.convs[1].kernel.assign(k)
    branch = ops.convert_to_numpy(block._apply_conv(block.convs[0], x))
    short = ops.convert_to_numpy(block._apply_conv(block.projection, x))
    assert np.unravel_index(np.abs(branch).argmax(), branch.shape)[1:3] == (2, 1)
    assert np.unravel_index(np.abs(short).argmax(), short.shape)[1:3] == (2, 1)


def test_stochastic_depth_in_block_random_in_training_only():
    block = ResidualBlock(4, survival_probability=0.5)
    x = np.random.default_rng(0).normal(size=(16, 4, 4, 4)).astype("float32")
    a = ops.convert_to_numpy(block(x, training=False))
    b = ops.convert_to_numpy(block(x, training=False))
    np.testing.assert_allclose(a, b)
    outs = [ops.convert_to_numpy(block(x, training=True)) for _ in range(3)]
    assert not all(np.allclose(outs[0], o) for o in outs[1:])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"filters": 0}, "filters"),
        ({"filters": -4}, "filters"),
        ({"filters": 4.0}, "filters"),
        ({"filters": 4, "strides": 0}, "strides"),
        ({"filters": 4, "shortcut": "D"}, "shortcut"),
        ({"filters": 4, "variant": "v3"}, "variant"),
        ({"filters": 4, "survival_probability": 0.0}, "survival_probability"),
        ({"filters": 4, "survival_probability": 1.2}, "survival_probability"),
        ({"filters": 4, "plain": True, "survival_probability": 0.5}, "survival_probability"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"{name}="):
        ResidualBlock(**kwargs)


def test_bottleneck_bad_arguments():
    with pytest.raises(ValueError, match="expansion="):
        BottleneckBlock(4, expansion=0)
    with pytest.raises(ValueError, match="stride_in="):
        BottleneckBlock(4, stride_in="first")


def test_option_a_cannot_remove_channels():
    with pytest.raises(ValueError, match="only add channels"):
        ResidualBlock(4, shortcut="A")(np.zeros((1, 4, 4, 8), "float32"))


def test_non_image_input_is_rejected():
    with pytest.raises(ValueError, match="4D inputs"):
        ResidualBlock(4)(np.zeros((2, 8), "float32"))


def test_unknown_channel_dimension_is_refused():
    with pytest.raises(ValueError, match="channel dimension of the inputs must be known"):
        ResidualBlock(4).build((None, 8, 8, None))
