import numpy as np
import pytest
from keras import ops
from keras.src import testing

import keras

from resnet_keras import StochasticDepth, linear_survival_probabilities


class StochasticDepthTest(testing.TestCase):
    def test_layer_checks(self):
        self.run_layer_test(
            StochasticDepth,
            init_kwargs={"survival_probability": 0.7, "seed": 1},
            input_shape=(4, 5, 5, 3),
            expected_output_shape=(4, 5, 5, 3),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=1,
            supports_masking=True,
        )

    def test_built_at_construction(self):
        # Stateless but for its seed: built without a call, as keras.layers.Dropout is.
        layer = StochasticDepth(0.7, seed=1)
        self.assertTrue(layer.built)
        self.assertLen(layer.weights, 0)

    def test_inference_is_identity_and_deterministic(self):
        x = np.random.default_rng(0).normal(size=(8, 4, 4, 2)).astype("float32")
        layer = StochasticDepth(0.5, seed=3)
        a = ops.convert_to_numpy(layer(x, training=False))
        b = ops.convert_to_numpy(layer(x))
        self.assertAllClose(a, x)
        self.assertAllClose(b, x)

    def test_mask_is_binary_per_sample(self):
        x = np.ones((64, 3, 3, 4), "float32")
        y = ops.convert_to_numpy(StochasticDepth(0.6, seed=0)(x, training=True))
        per_sample = y.reshape(64, -1)
        # every sample is either dropped entirely (0) or kept and scaled by 1/p
        self.assertTrue(np.all(per_sample.min(axis=1) == per_sample.max(axis=1)))
        self.assertTrue(np.all(np.isin(per_sample[:, 0], [0.0, np.float32(1 / 0.6)])))
        self.assertGreater(len(np.unique(per_sample[:, 0])), 1)

    def test_expectation_equals_inference_output(self):
        p = 0.7
        x = np.full((20000, 1, 1, 1), 2.0, "float32")
        y = ops.convert_to_numpy(StochasticDepth(p, seed=42)(x, training=True))
        kept = (y[:, 0, 0, 0] > 0).mean()
        self.assertAllClose(kept, p, atol=0.015)  # 3 sigma for n=20000
        self.assertAllClose(y.mean(), 2.0, atol=0.05)

    def test_survival_one_is_identity_in_training(self):
        x = np.arange(12, dtype="float32").reshape(3, 4)
        self.assertAllClose(StochasticDepth(1.0)(x, training=True), x)


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5, "0.5", None, True])
def test_bad_survival_probability(p):
    with pytest.raises(ValueError, match="survival_probability"):
        StochasticDepth(p)


def test_linear_rule():
    probs = linear_survival_probabilities(54, 0.5)
    assert len(probs) == 54
    assert probs[-1] == pytest.approx(0.5)
    assert probs[0] == pytest.approx(1 - 0.5 / 54)
    assert np.all(np.diff(probs) < 0)
    # Expected number of surviving blocks: L - (1 - p_L)(L + 1) / 2, which is
    # about 3L/4 for p_L = 0.5 (Huang et al.: "the expected depth ... 3L/4").
    assert sum(probs) == pytest.approx(54 - 0.5 * 55 / 2)
    assert abs(sum(probs) - 0.75 * 54) < 1


def test_linear_rule_bad_args():
    with pytest.raises(ValueError, match="num_blocks"):
        linear_survival_probabilities(0, 0.5)
    with pytest.raises(ValueError, match="final_survival_probability"):
        linear_survival_probabilities(10, 0.0)


def test_batch_mode_drops_the_whole_batch_together():
    """mode="batch" (Huang et al.: one decision per mini-batch): each call keeps or drops every
    sample at once; over many calls the kept fraction is p."""
    import numpy as np

    layer = StochasticDepth(0.5, mode="batch", seed=3)
    x = keras.ops.ones((8, 4, 4, 2))
    kept = []
    for _ in range(200):
        y = keras.ops.convert_to_numpy(layer(x, training=True))
        per_sample = y.reshape(8, -1).max(axis=1)
        assert len(set(per_sample.tolist())) == 1  # all samples alike
        assert per_sample[0] in (0.0, 2.0)  # dropped, or kept and scaled by 1/p
        kept.append(per_sample[0] > 0)
    assert 0.38 < np.mean(kept) < 0.62
    assert StochasticDepth.from_config(layer.get_config()).mode == "batch"
    with pytest.raises(ValueError, match="mode"):
        StochasticDepth(0.5, mode="layer")


def test_models_pass_the_mode_to_every_block():
    from resnet_keras import ResidualBlock
    from resnet_keras.models import resnet_cifar

    model = resnet_cifar(8, final_survival_probability=0.5, stochastic_depth_mode="batch")
    blocks = [layer for layer in model.layers if isinstance(layer, ResidualBlock)]
    assert blocks and all(b.stochastic_depth_mode == "batch" for b in blocks)
    assert all(b.stochastic_depth.mode == "batch" for b in blocks)
    with pytest.raises(ValueError, match="stochastic_depth_mode"):
        ResidualBlock(16, survival_probability=0.5, stochastic_depth_mode="layer")


def _forced_resnet8(mode, survives, monkeypatch):
    """A compiled ResNet-8 with stochastic depth in `mode` (p_L = 0.5) whose every survival
    draw is `survives`."""
    from resnet_keras.models import resnet_cifar

    def forced(self, shape):
        return ops.full(shape, survives, dtype="bool")

    monkeypatch.setattr(StochasticDepth, "_draw_survival", forced)
    keras.utils.set_random_seed(3)
    model = resnet_cifar(8, final_survival_probability=0.5, stochastic_depth_mode=mode)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _fit_two_steps(model):
    rng = np.random.RandomState(0)
    x = rng.rand(16, 32, 32, 3).astype("float32")
    y = np.arange(16) % 10
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return history.history["loss"][0]


@pytest.mark.parametrize("survives", [True, False])
def test_skip_mode_trains_as_batch_mode_given_the_same_draws(survives, monkeypatch):
    """'skip' computes only the path the draw picks; with the same draws it takes the same
    training steps as 'batch' (which multiplies a computed branch by 1/p or 0): the same loss
    and the same weights. The one difference is the paper's: a dropped branch's BN moving
    statistics are not updated (in 'batch' they are, from a branch whose output is discarded)."""
    from resnet_keras import ResidualBlock

    batch = _forced_resnet8("batch", survives, monkeypatch)
    skip = _forced_resnet8("skip", survives, monkeypatch)
    skip.set_weights(batch.get_weights())
    initial = [np.array(w) for w in skip.get_weights()]
    np.testing.assert_allclose(_fit_two_steps(skip), _fit_two_steps(batch), rtol=1e-5)
    for v_skip, v_batch in zip(skip.trainable_variables, batch.trainable_variables):
        np.testing.assert_allclose(ops.convert_to_numpy(v_skip), ops.convert_to_numpy(v_batch),
                                   rtol=1e-4, atol=1e-6, err_msg=v_skip.path)
    # Moving statistics of the branches' BN layers (ResNet-8: one block per stage, option-A
    # shortcuts without BN, so every BN of a block is in its branch).
    branch_stats = {
        id(v): v for layer in skip.layers if isinstance(layer, ResidualBlock)
        for bn in layer.bns if bn is not None for v in bn.non_trainable_variables
    }
    assert branch_stats
    for v, w0 in zip(skip.weights, initial):
        if id(v) in branch_stats:
            unchanged = np.array_equal(ops.convert_to_numpy(v), w0)
            assert unchanged == (not survives), v.path


def test_skip_mode_draws_once_per_mini_batch_and_skips_the_branch():
    from resnet_keras import ResidualBlock

    keras.utils.set_random_seed(0)
    block = ResidualBlock(16, survival_probability=0.5, stochastic_depth_mode="skip")
    x = np.random.RandomState(0).randn(4, 8, 8, 16).astype("float32")
    block.build(x.shape)
    relu_x = np.maximum(x, 0.0)
    dropped = 0
    for _ in range(40):
        stats = [np.array(w) for w in block.non_trainable_weights]
        y = ops.convert_to_numpy(block(x, training=True))
        if np.allclose(y, relu_x):  # the block reduced to ReLU(shortcut)
            dropped += 1
            for w, w0 in zip(block.non_trainable_weights, stats):
                np.testing.assert_array_equal(ops.convert_to_numpy(w), w0)
    assert 10 <= dropped <= 30
    # Inference runs every branch, unscaled.
    reference = ResidualBlock(16)
    reference.build(x.shape)
    reference.set_weights(block.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(block(x)), ops.convert_to_numpy(reference(x)),
                               rtol=1e-5, atol=1e-6)
    assert ResidualBlock.from_config(block.get_config()).stochastic_depth_mode == "skip"
