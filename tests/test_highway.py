import keras
import numpy as np
import pytest
from keras import ops
from keras.src import testing

from resnet_keras import HighwayDense
from resnet_keras.analysis import gradient_norms
from resnet_keras.highway import transform_bias_for_depth
from resnet_keras.models import highway_mlp


class HighwayDenseTest(testing.TestCase):
    def test_layer_checks_complement(self):
        self.run_layer_test(
            HighwayDense,
            init_kwargs={"units": 6},
            input_shape=(3, 6),
            expected_output_shape=(3, 6),
            expected_num_trainable_weights=4,
            expected_num_non_trainable_weights=0,
            supports_masking=True,
        )

    def test_layer_checks_independent(self):
        self.run_layer_test(
            HighwayDense,
            init_kwargs={"units": 5, "carry_gate": "independent", "activation": "tanh"},
            input_shape=(2, 4, 5),
            expected_output_shape=(2, 4, 5),
            expected_num_trainable_weights=6,
            expected_num_non_trainable_weights=0,
            supports_masking=True,
        )

    def test_closed_gate_carries_input(self):
        x = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
        layer = HighwayDense(8, transform_bias_init=-50.0)  # T = sigmoid(-50) ~ 0
        self.assertAllClose(layer(x), x, atol=1e-6)

    def test_open_gate_is_plain_layer(self):
        x = np.random.default_rng(1).normal(size=(4, 8)).astype("float32")
        layer = HighwayDense(8, transform_bias_init=50.0)  # T ~ 1
        y = layer(x)
        h = layer.transform(x)  # H(x) = relu(x W_H + b_H)
        self.assertAllClose(y, h, atol=1e-6)

    def test_formula(self):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(5, 3)).astype("float32")
        layer = HighwayDense(3, activation="tanh", gate_kernel_initializer="glorot_uniform")
        layer.build(x.shape)
        wh, bh, wt, bt = [ops.convert_to_numpy(w) for w in layer.weights]
        t = 1 / (1 + np.exp(-(x @ wt + bt)))
        expected = np.tanh(x @ wh + bh) * t + x * (1 - t)
        self.assertAllClose(layer(x), expected, atol=1e-5)
        self.assertTrue(np.any(wt != 0))
        # the default transform bias is -2: the new layer mostly carries x
        self.assertAllClose(bt, np.full(3, -2.0))

    def test_new_gate_opens_by_its_bias_alone(self):
        # Default zero gate kernels: T(x) = sigmoid(b_T) for every input.
        x = 3.0 * np.random.default_rng(3).normal(size=(16, 5)).astype("float32")
        layer = HighwayDense(5, transform_bias_init=-4.0)
        t, c = layer.gates(x)
        self.assertAllClose(t, np.full((16, 5), 1 / (1 + np.exp(4.0))), atol=1e-6)
        self.assertAllClose(c, 1.0 - np.asarray(t), atol=1e-6)

    def test_gates(self):
        layer = HighwayDense(4, carry_gate="independent")
        t, c = layer.gates(np.zeros((2, 4), "float32"))
        self.assertAllClose(t, np.full((2, 4), 1 / (1 + np.exp(2.0))), atol=1e-6)
        self.assertAllClose(c, np.full((2, 4), 1 / (1 + np.exp(-2.0))), atol=1e-6)


def test_width_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match=r"units=8.*width 5"):
        HighwayDense(8)(np.zeros((2, 5), "float32"))


@pytest.mark.parametrize(
    "kwargs, name",
    [({"units": 0}, "units"), ({"units": -3}, "units"), ({"units": 2.5}, "units"),
     ({"units": 4, "carry_gate": "both"}, "carry_gate")],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"{name}="):
        HighwayDense(**kwargs)


def test_transform_bias_for_depth():
    assert transform_bias_for_depth(1) == 0.0
    np.testing.assert_allclose(
        [transform_bias_for_depth(n) for n in (9, 19, 49, 99)],
        [-2.197, -2.944, -3.892, -4.595], atol=1e-3,
    )
    # the gate of each of n new layers opens by 1 / (n + 1)
    n = 99
    np.testing.assert_allclose(1 / (1 + np.exp(-transform_bias_for_depth(n))), 1 / (n + 1))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="num_layers="):
            transform_bias_for_depth(bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "-2", None, True])
def test_bad_transform_bias_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="transform_bias_init="):
        HighwayDense(4, transform_bias_init=bad)


def test_highway_mlp_gate_defaults_follow_the_depth():
    for depth in (2, 10, 100):
        model = highway_mlp(depth, input_shape=(784,))
        for i in range(1, depth):
            layer = model.get_layer(f"highway{i}")
            np.testing.assert_allclose(
                ops.convert_to_numpy(layer.transform_gate.bias),
                np.full(50, -np.log(depth - 1)), atol=1e-6,
            )
            assert not np.any(ops.convert_to_numpy(layer.transform_gate.kernel))
            assert np.any(ops.convert_to_numpy(layer.transform.kernel))
    model = highway_mlp(4, width=6, transform_bias_init=-1.5,
                        gate_kernel_initializer="glorot_uniform")
    layer = model.get_layer("highway3")
    np.testing.assert_allclose(ops.convert_to_numpy(layer.transform_gate.bias), np.full(6, -1.5))
    assert np.any(ops.convert_to_numpy(layer.transform_gate.kernel))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deep_highway_gradient_at_initialisation_stays_bounded(seed):
    """Srivastava et al.'s 100-layer MNIST MLP, with the default initialisation.

    The gradient of the loss with respect to the input of each of the 99
    highway layers may change by at most 4x across the stack, and the carry
    path keeps about 1/e of it from the top to the bottom (every gate starts
    at T = 1/100). With the former defaults (Glorot-uniform gate kernels,
    b_T = -2) it changed by 8x to 1,480x in 10 random draws.
    """
    keras.utils.set_random_seed(seed)
    model = highway_mlp(100, input_shape=(784,))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(64, 784)).astype("float32")
    y = rng.integers(0, 10, size=64)
    norms = gradient_norms(model, x, y).input_grad_norms
    highway = norms[2:]  # inputs of highway1 ... highway99 and of the logits layer
    assert len(highway) == 100
    assert np.all(np.isfinite(highway)) and np.all(highway > 0)
    assert highway.max() / highway.min() < 4.0
    assert 0.25 < highway[0] / highway[-1] < 0.55


def test_every_kernel_draws_its_own_initial_values():
    # One unseeded initializer instance returns the same values on every call (Keras 3): the
    # layer must not hand one instance to several kernels (W_T was once a copy of W_H).
    glorot = keras.initializers.GlorotUniform()
    model = highway_mlp(4, kernel_initializer=glorot, gate_kernel_initializer="glorot_uniform",
                        carry_gate="independent")
    kernels = []
    for i in (1, 2, 3):
        layer = model.get_layer(f"highway{i}")
        kernels += [ops.convert_to_numpy(d.kernel)
                    for d in (layer.transform, layer.transform_gate, layer.carry)]
    for i, a in enumerate(kernels):
        for b in kernels[i + 1:]:
            assert not np.array_equal(a, b)
