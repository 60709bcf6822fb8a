import re

import keras
import numpy as np
import pytest

from resnet_keras import count_macs
from resnet_keras._keras_compat import nested_layers
from resnet_keras.models import (
    MODEL_NAMES,
    get_model,
    highway_mlp,
    load_keras_applications_weights,
    plain_mlp,
    resnet_cifar,
    resnet_imagenet,
)


def trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# He et al. 2015, Table 6 (10 classes, option A); trainable parameters.
@pytest.mark.parametrize(
    "depth, expected",
    [(20, 269_722), (32, 464_154), (44, 658_586), (56, 853_018), (110, 1_727_962)],
)
def test_cifar_parameter_counts_equal_the_paper(depth, expected):
    assert trainable_params(resnet_cifar(depth)) == expected
    # the plain twin has exactly the same parameters (option A adds none)
    assert trainable_params(resnet_cifar(depth, plain=True)) == expected


def test_preact_resnet164_is_about_1_7m():
    model = get_model("preact_resnet164")
    assert len([l for l in model.layers if "block" in l.name]) == 54
    assert 1.65e6 < trainable_params(model) < 1.75e6


@pytest.mark.parametrize("depth, block", [(21, "basic"), (0, "basic"), (20.0, "basic"), (22, "bottleneck")])
def test_bad_cifar_depth(depth, block):
    with pytest.raises(ValueError, match="depth="):
        resnet_cifar(depth, block=block)


def test_other_bad_builder_arguments():
    with pytest.raises(ValueError, match="block="):
        resnet_cifar(20, block="wide")
    with pytest.raises(ValueError, match="variant="):
        resnet_cifar(20, variant="v3")
    with pytest.raises(ValueError, match="shortcut="):
        resnet_cifar(20, shortcut="E")
    with pytest.raises(ValueError, match="final_survival_probability="):
        resnet_cifar(20, final_survival_probability=0.0)
    with pytest.raises(ValueError, match="depth="):
        resnet_imagenet(42)
    with pytest.raises(ValueError, match="weights="):
        resnet_imagenet(50, weights="cifar")
    with pytest.raises(ValueError, match="depth="):
        highway_mlp(1)
    with pytest.raises(ValueError, match="name="):
        get_model("resnext50")


def test_more_bad_builder_arguments_are_refused_before_building():
    with pytest.raises(ValueError, match="Stochastic depth needs shortcuts. Received: plain=True"):
        resnet_cifar(20, plain=True, final_survival_probability=0.5)
    with pytest.raises(ValueError, match="`variant` must be 'v1' or 'v2'. Received: variant='v3'"):
        resnet_imagenet(50, variant="v3")
    with pytest.raises(ValueError, match="ImageNet weights for depth 50, 101 and 152 only"):
        resnet_imagenet(18, weights="imagenet")  # refused before any download
    with pytest.raises(ValueError, match="`pooling` must be None, 'avg' or 'max'. Received: pooling='mean'"):
        resnet_imagenet(50, include_top=False, pooling="mean")
    with pytest.raises(ValueError, match="projection shortcuts .* Received: shortcut='A'"):
        resnet_imagenet(50, shortcut="A")


@pytest.mark.parametrize("name, message", [
    ("resnet60v2", "ImageNet ResNets have depth 18, 34, 50, 101, 152. Received: name='resnet60v2'"),
    ("plain20_sd", "Stochastic depth needs shortcuts. Received: name='plain20_sd'"),
    ("highway_mlp10_sd", "Unknown model name. Received: name='highway_mlp10_sd'"),
    ("preact_resnet50v2", "Unknown model name. Received: name='preact_resnet50v2'"),
])
def test_bad_model_names(name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        get_model(name)


def test_count_macs_needs_a_known_input_shape():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    with pytest.raises(ValueError, match=r"Every dimension .* Received: input_shape=\(None, None, 3\)"):
        count_macs(model)
    assert count_macs(model, input_shape=(8, 8, 3)).total == 6 * 6 * 2 * 3 * 3 * 3

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="no known input shape; pass `input_shape`"):
        count_macs(Subclassed())


def test_stochastic_depth_uses_the_linear_rule():
    model = resnet_cifar(20, final_survival_probability=0.5)
    probs = [l.survival_probability for l in model.layers if "block" in l.name]
    np.testing.assert_allclose(probs, [1 - (l / 9) * 0.5 for l in range(1, 10)])


def test_cifar_model_trains_one_step():
    model = resnet_cifar(8, final_survival_probability=0.8)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x = np.random.default_rng(0).normal(size=(16, 32, 32, 3)).astype("float32")
    y = np.arange(16) % 10
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize(
    "build",
    [
        lambda: resnet_cifar(8, variant="v2", final_survival_probability=0.7,
                             kernel_regularizer=keras.regularizers.L2(5e-5)),
        lambda: resnet_cifar(11, block="bottleneck", variant="relu_preact"),
        lambda: highway_mlp(4, width=12, carry_gate="independent"),
    ],
)
def test_keras_save_and_load_give_identical_outputs(tmp_path, build):
    model = build()
    x = np.random.default_rng(0).normal(size=(4,) + tuple(model.inputs[0].shape[1:])).astype("float32")
    expected = model.predict(x, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), expected)
    assert restored.count_params() == model.count_params()


def test_get_model_names():
    for name in ("resnet20", "plain56", "preact_resnet110", "resnet110_sd", "highway_mlp10",
                 "plain_mlp10", "cifar_resnet50"):
        assert name in MODEL_NAMES or name.startswith("cifar_")
    assert get_model("plain20").count_params() == resnet_cifar(20).count_params()
    assert get_model("preact_resnet110").get_layer("post_bn") is not None
    assert get_model("cifar_resnet50").output_shape == (None, 10)
    sd = get_model("resnet110_sd")
    assert min(l.survival_probability for l in sd.layers if "block" in l.name) == pytest.approx(0.5)


def test_highway_and_plain_layers_have_similar_sizes():
    # Srivastava et al.: a 50-unit highway layer (H and T) ~ a 71-unit plain layer
    h, p = highway_mlp(10), plain_mlp(10)
    hw = h.get_layer("highway1").count_params()
    pl = p.get_layer("dense1").count_params()
    assert hw == 2 * (50 * 50 + 50) and pl == 71 * 71 + 71
    assert abs(hw - pl) / pl < 0.01
    assert h.output_shape == p.output_shape == (None, 10)


def test_macs_of_cifar_resnet56_and_per_block():
    report = count_macs(resnet_cifar(56))
    assert 124e6 < report.total < 127e6  # ~125M multiply-adds
    assert sum(report.per_block.values()) == report.total
    # each stage costs about the same (the design rule: half size, double filters)
    stages = [sum(v for k, v in report.per_block.items() if k.startswith(f"stage{s}")) for s in (1, 2, 3)]
    assert max(stages) / min(stages) < 1.1


def test_macs_by_hand_for_a_tiny_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(5)(x))
    assert count_macs(model).total == 8 * 8 * 4 * 3 * 3 * 3 + 8 * 8 * 4 * 5


def _randomize_bn(model, rng):
    for layer in nested_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape),
                               rng.normal(0, 0.1, m.shape), rng.uniform(0.5, 1.5, v.shape)])


@pytest.mark.parametrize(
    "variant, reference_fn, params",
    [("v1", "ResNet50", 25_636_712), ("v2", "ResNet50V2", 25_613_800)],
)
def test_resnet50_equals_keras_applications(variant, reference_fn, params):
    rng = np.random.default_rng(0)
    reference = getattr(keras.applications, reference_fn)(weights=None, classifier_activation=None)
    _randomize_bn(reference, rng)
    ours = resnet_imagenet(50, variant=variant, classifier_activation=None)
    assert ours.count_params() == reference.count_params() == params
    assert load_keras_applications_weights(ours, reference) > 100
    x = rng.normal(size=(2, 224, 224, 3)).astype("float32")
    diff = np.abs(ours.predict(x, verbose=0) - reference.predict(x, verbose=0)).max()
    assert diff <= 1e-5
    macs = count_macs(ours).total
    if variant == "v1":
        assert 3.8e9 <= macs <= 4.1e9  # the paper's 3.8 x 10^9
    else:
        # v2 strides in the last block of a stage: that block's 1x1 expansion
        # and the next stage run at the lower resolution, so it costs less.
        assert 3.3e9 <= macs <= 3.6e9


def _two_dense(classes, name):
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes, name="predictions")(x), name=name)


def test_mismatched_shapes_are_refused_before_any_weight_is_copied():
    ours, reference = _two_dense(10, "ours"), _two_dense(1000, "reference")
    before = [keras.ops.convert_to_numpy(v).copy() for v in ours.weights]
    with pytest.raises(ValueError, match="Layer 'predictions': weight shapes"):
        load_keras_applications_weights(ours, reference)
    # 'hidden' matches, but nothing is copied when another layer does not.
    for value, variable in zip(before, ours.weights):
        np.testing.assert_array_equal(value, keras.ops.convert_to_numpy(variable))
    assert load_keras_applications_weights(_two_dense(1000, "again"), reference) == 2


class _Wrapping(keras.layers.Layer):
    """A custom layer around a Dense layer of a fixed name."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(2, name="same")

    def build(self, input_shape):
        self.inner.build(input_shape)

    def call(self, x):
        return self.inner(x)


def test_ambiguous_layer_names_are_refused():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, _Wrapping(name="w2")(_Wrapping(name="w1")(inputs)))
    with pytest.raises(ValueError, match="two layers named 'same'"):
        load_keras_applications_weights(model, model)


def test_weights_imagenet_goes_through_keras_applications(monkeypatch):
    """The download path, offline: keras.applications is asked for the weights."""
    calls = {}
    real = keras.applications.ResNet50V2

    def fake(**kwargs):
        calls.update(kwargs)
        return real(**{**kwargs, "weights": None})

    monkeypatch.setattr(keras.applications, "ResNet50V2", fake)
    model = resnet_imagenet(50, variant="v2", include_top=False, pooling="avg",
                            input_shape=(64, 64, 3), weights="imagenet")
    assert calls["weights"] == "imagenet" and calls["include_top"] is False
    assert model.output_shape == (None, 2048)


def test_mismatched_reference_is_a_clear_error():
    with pytest.raises(ValueError, match="do not match layer for layer"):
        load_keras_applications_weights(
            resnet_imagenet(50, include_top=False, input_shape=(64, 64, 3)),
            keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3)),
        )


# Counting is backend-independent (shapes only): `make test` runs "slow" tests on
# TensorFlow only, where the eager passes at 224x224 are fast.
@pytest.mark.slow
@pytest.mark.parametrize("depth, gmacs", [(18, 1.8), (34, 3.6), (101, 7.6), (152, 11.3)])
def test_imagenet_family_macs_match_table_1(depth, gmacs):
    report = count_macs(resnet_imagenet(depth, input_shape=(224, 224, 3)))
    assert abs(report.total / 1e9 - gmacs) / gmacs < 0.03


def test_highway_mlp_passes_its_kernel_initializer():
    model = highway_mlp(3, width=6, kernel_initializer="zeros")
    layer = model.get_layer("highway1")
    assert not np.any(keras.ops.convert_to_numpy(layer.transform.kernel))
    assert not np.any(keras.ops.convert_to_numpy(layer.transform_gate.kernel))
