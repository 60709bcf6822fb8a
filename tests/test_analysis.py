import keras
import numpy as np
import pytest
from keras import ops

from resnet_keras.analysis import gradient_norms, jacobian, value_and_grad
from resnet_keras.models import plain_mlp, resnet_cifar


def test_value_and_grad_of_a_known_function():
    x = np.array([1.0, -2.0, 3.0], "float32")
    value, (g,) = value_and_grad(lambda a: ops.sum(a[0] ** 3), [x])
    np.testing.assert_allclose(ops.convert_to_numpy(value), 1 - 8 + 27)
    np.testing.assert_allclose(ops.convert_to_numpy(g), 3 * x**2)


def test_jacobian_of_a_linear_map_is_its_matrix():
    a = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    j = jacobian(lambda x: ops.matmul(ops.convert_to_tensor(a), x), np.ones(4, "float32"))
    np.testing.assert_allclose(j, a, rtol=1e-6)


def test_gradient_norms_match_a_direct_computation_and_leave_the_model_unchanged():
    model = plain_mlp(3, width=8, input_shape=(5,))
    x = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    y = np.array([0, 1, 2, 3])
    report = gradient_norms(model, x, y)
    # the last layer's input gradient by hand: softmax(z) - onehot(y), through the logits
    w = ops.convert_to_numpy(model.get_layer("logits").kernel)
    z = ops.convert_to_numpy(model(x))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(4), y] -= 1
    expected = np.linalg.norm(p @ w.T / 4)
    assert report.layer_names[-1] == "logits"
    np.testing.assert_allclose(report.input_grad_norms[-1], expected, rtol=1e-4)
    assert len(report.kernel_names) == 4 and np.all(report.kernel_grad_norms > 0)


def test_gradient_norms_with_batch_norm_do_not_update_moving_statistics():
    model = resnet_cifar(8)
    before = [ops.convert_to_numpy(v).copy() for v in model.non_trainable_variables]
    x = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype("float32")
    report = gradient_norms(model, x, np.arange(8) % 10)
    assert np.all(np.isfinite(report.input_grad_norms)) and report.loss > 0
    for a, v in zip(before, model.non_trainable_variables):
        np.testing.assert_array_equal(a, ops.convert_to_numpy(v))


def test_non_chain_models_are_refused():
    inputs = keras.Input((4,))
    a = keras.layers.Dense(4)(inputs)
    b = keras.layers.Dense(4)(inputs)
    model = keras.Model(inputs, keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="chain model"):
        gradient_norms(model, np.zeros((2, 4)), np.zeros(2, "int32"))


class _TwoDense(keras.Model):
    def __init__(self):
        super().__init__()
        self.first = keras.layers.Dense(4)
        self.second = keras.layers.Dense(10)

    def call(self, x):
        return self.second(self.first(x))


def test_subclassed_models_are_refused():
    """Their layers have no recorded inputs, so the chain cannot be checked."""
    model = _TwoDense()
    model(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="chain model"):
        gradient_norms(model, np.zeros((2, 4)), np.zeros(2, "int32"))
