import keras
import numpy as np
import pytest
from keras import ops

from resnet_keras import ResidualBlock
from resnet_keras.analysis import gradient_norms, jacobian, residual_signals, value_and_grad
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


def test_gradient_norms_can_return_the_gradients_themselves():
    model = plain_mlp(3, width=8, input_shape=(5,))
    x = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    y = np.array([0, 1, 2, 3])
    assert gradient_norms(model, x, y).input_grads is None
    report = gradient_norms(model, x, y, return_gradients=True)
    inputs = [tuple(model.get_layer(name).input.shape[1:]) for name in report.layer_names]
    assert [g.shape for g in report.input_grads] == [(4, *shape) for shape in inputs]
    np.testing.assert_allclose([np.linalg.norm(g) for g in report.input_grads],
                               report.input_grad_norms, rtol=1e-6)
    # the logits layer's input gradient, coordinate by coordinate
    w = ops.convert_to_numpy(model.get_layer("logits").kernel)
    z = ops.convert_to_numpy(model(x))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(4), y] -= 1
    np.testing.assert_allclose(report.input_grads[-1], p @ w.T / 4, rtol=1e-4, atol=1e-7)


def test_residual_signals_measure_the_terms_of_every_block():
    model = resnet_cifar(8)  # three v1 blocks: identity, then two downsampling (option A)
    x = np.random.default_rng(2).normal(size=(4, 32, 32, 3)).astype("float32")
    before = [ops.convert_to_numpy(v).copy() for v in model.non_trainable_variables]
    signals = residual_signals(model, x, training=True)
    for a, v in zip(before, model.non_trainable_variables):  # moving statistics unchanged
        np.testing.assert_array_equal(a, ops.convert_to_numpy(v))
    blocks = [l for l in model.layers if isinstance(l, ResidualBlock)]
    assert signals.block_names == [b.name for b in blocks] and len(blocks) == 3
    # by hand, for the first block: its input is the stem's output
    stem = keras.Model(model.input, model.get_layer(blocks[0].name).input)
    h = ops.convert_to_numpy(stem(x, training=True))
    branch, shortcut = (ops.convert_to_numpy(t) for t in
                        blocks[0].branch_and_shortcut(h, training=True))
    np.testing.assert_allclose(shortcut, h)  # identity shortcut
    np.testing.assert_allclose(signals.input_rms[0], np.sqrt(np.mean(h**2)), rtol=1e-5)
    np.testing.assert_allclose(signals.branch_norms[0], np.linalg.norm(branch), rtol=1e-5)
    np.testing.assert_allclose(signals.shortcut_norms[0], np.linalg.norm(h), rtol=1e-5)
    np.testing.assert_allclose(signals.branch_std[0], np.std(branch), rtol=1e-5)
    np.testing.assert_allclose(signals.ratios[0], np.linalg.norm(branch) / np.linalg.norm(h),
                               rtol=1e-5)
    out = np.maximum(branch + shortcut, 0.0)
    np.testing.assert_allclose(signals.output_rms[0], np.sqrt(np.mean(out**2)), rtol=1e-5)
    # at initialisation, in training mode, each BN output has unit variance per channel
    np.testing.assert_allclose(signals.branch_std, 1.0, atol=0.05)
    # option A: the shortcut of a downsampling block keeps a quarter of the positions
    # and half of the channels are zeros, so its norm is below the input's
    assert signals.shortcut_norms[1] < np.sqrt(signals.input_rms[1] ** 2 * 4 * 32 * 32 * 16)


def test_residual_signals_of_a_plain_net_have_no_shortcut_and_need_blocks():
    x = np.random.default_rng(3).normal(size=(2, 32, 32, 3)).astype("float32")
    signals = residual_signals(resnet_cifar(8, plain=True), x, training=True)
    assert len(signals.block_names) == 3 and np.all(np.isnan(signals.shortcut_norms))
    with pytest.raises(ValueError, match="residual blocks"):
        residual_signals(plain_mlp(2, width=4, input_shape=(5,)), np.zeros((2, 5)))
