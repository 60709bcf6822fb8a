import keras
import numpy as np
import pytest
from keras import ops
from keras.src import testing

from resnet_keras import HighwayDense


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
        layer = HighwayDense(3, activation="tanh")
        layer.build(x.shape)
        wh, bh, wt, bt = [ops.convert_to_numpy(w) for w in layer.weights]
        t = 1 / (1 + np.exp(-(x @ wt + bt)))
        expected = np.tanh(x @ wh + bh) * t + x * (1 - t)
        self.assertAllClose(layer(x), expected, atol=1e-5)
        # the default transform bias is -2: the new layer mostly carries x
        self.assertAllClose(bt, np.full(3, -2.0))

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
