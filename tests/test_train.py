"""Recipes, schedules and the training loop (resnet_keras.train): resume, NaN stop, results."""

import json
import os
import subprocess
import sys
import textwrap

import h5py
import keras
import numpy as np
import pytest

from resnet_keras import data as data_lib
from resnet_keras._keras_compat import nested_layers
from resnet_keras import train as train_lib
from resnet_keras.train import results as results_lib
from resnet_keras.train import RECIPES, TrainingDiverged, resolve_schedule, train
from test_data import write_cifar10


def tiny_cifar(n_train=192, n_val=64, n_test=64, seed=0):
    """An in-memory CIFAR-shaped data set with a learnable signal (class-coloured images)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    y = rng.integers(0, 10, n)
    x = rng.integers(0, 120, (n, 32, 32, 3))
    x[..., 0] += (y * 12)[:, None, None]
    x = x.astype(np.uint8)
    a, b = n_train, n_train + n_val
    return data_lib.ImageDataset(
        "cifar10", x[:a], y[:a], x[b:], y[b:], list(data_lib.CIFAR10_CLASSES), "local",
        "memory", {"synthetic": "seed0"}, x_val=x[a:b], y_val=y[a:b],
        validation={"size": n_val, "seed": 0, "method": "given"},
    )


def tiny_mnist(n_train=128, n_test=64):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, n_train + n_test)
    x = (rng.integers(0, 50, (len(y), 28, 28, 1)) + (y * 20)[:, None, None, None]).astype(np.uint8)
    return data_lib.ImageDataset("mnist", x[:n_train], y[:n_train], x[n_train:], y[n_train:],
                                 [str(i) for i in range(10)], "local", "memory", {})


# Small and fast: 3 steps of 64 per epoch, 2 epochs; "validation_size=0" keeps the given split.
RUN = dict(epochs=2, batch_size=64, validation_size=0, verbose=0, tensorboard=False)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """An uninterrupted 2-epoch run of ResNet-8 (shared by several tests)."""
    out = tmp_path_factory.mktemp("reference")
    results = train("resnet8", "he2015-cifar", out, data=tiny_cifar(), **RUN)
    keras.backend.clear_session()
    return out, results


# ---------------------------------------------------------------------------------------------
# Recipes and schedules


def test_recipe_overrides_are_checked():
    r = RECIPES["he2015-cifar"].replace(batch_size=64, lr_milestones=[10, 20])
    assert r.batch_size == 64 and r.lr_milestones == (10, 20)
    with pytest.raises(ValueError, match="Unknown recipe field"):
        RECIPES["he2015-cifar"].replace(batchsize=64)
    with pytest.raises(ValueError, match="Unknown recipe"):
        train_lib.get_recipe("he2099")
    with pytest.raises(ValueError, match="increase"):
        RECIPES["he2015-cifar"].replace(lr_milestones=[20, 10])


def test_he2015_schedule_in_iterations():
    s = resolve_schedule("he2015-cifar", steps_per_epoch=352)  # 45k / 128
    assert s.total_steps == 64000 and s.epochs == 182
    assert s.boundaries == [32000, 48000] and s.values == [0.1, 0.01, 0.001]
    assert s.lr_at(0) == 0.1 and s.lr_at(31999) == 0.1 and s.lr_at(32000) == 0.01
    assert s.lr_at(48000) == 0.001
    w = resolve_schedule("he2015-cifar-warmup", 352)
    assert w.boundaries == [400, 32000, 48000] and w.values == [0.01, 0.1, 0.01, 0.001]
    assert w.lr_at(399) == 0.01 and w.lr_at(400) == 0.1


def test_scaled_schedules_stay_proportional():
    s = resolve_schedule("he2015-cifar", 352, epochs=10)
    assert s.total_steps == 3520 and s.epochs == 10
    assert s.boundaries == [1760, 2640]  # half and three quarters, as 32k/64k and 48k/64k
    assert resolve_schedule("he2015-cifar", 352, steps=640).boundaries == [320, 480]
    assert resolve_schedule("he2015-cifar", 352, scale=0.5).total_steps == 32000
    sd = resolve_schedule("huang2016-sd-cifar", 100)
    assert sd.total_steps == 50000 and sd.boundaries == [25000, 37500]
    sd10 = resolve_schedule("huang2016-sd-cifar", 100, epochs=10)
    assert sd10.boundaries == [500, 750]
    hw = resolve_schedule("srivastava2015-highway-mnist", 430, epochs=40)
    assert hw.kind == "exponential" and hw.decay_steps == 43  # 400 decays in 40 epochs
    assert hw.lr_at(43 * 400 - 1) == pytest.approx(0.01 * 0.99**399)
    with pytest.raises(ValueError, match="at most one"):
        resolve_schedule("he2015-cifar", 352, epochs=1, steps=5)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_keras_schedule_matches_lr_at(name):
    s = resolve_schedule(name, 50, steps=2000)
    schedule = s.keras_schedule()
    for step in [0, 1, 2, 49, 50, 51] + [b + d for b in s.boundaries for d in (-1, 0, 1)]:
        got = float(keras.ops.convert_to_numpy(schedule(step)))
        assert got == pytest.approx(s.lr_at(step), rel=1e-6), step


def test_weight_decay_is_l2_of_half_on_every_kernel():
    recipe = RECIPES["he2015-cifar"]
    from resnet_keras.train.run import _build_model

    model, name, kwargs = _build_model("resnet8", tiny_cifar(8, 0, 0), recipe, None)
    assert name == "resnet8"
    kernels = [w for w in model.weights if "kernel" in w.path]
    assert kernels
    regs = [layer.kernel_regularizer for layer in nested_layers(model)
            if getattr(layer, "kernel_regularizer", None) is not None]
    assert regs and all(r.l2 == pytest.approx(5e-5) for r in regs)
    # The loss gets wd/2 * |w|^2, whose gradient is wd * w.
    expected = sum(5e-5 * float(np.sum(np.square(keras.ops.convert_to_numpy(k)))) for k in kernels)
    assert float(sum(keras.ops.convert_to_numpy(l) for l in model.losses)) == pytest.approx(
        expected, rel=1e-4)


# ---------------------------------------------------------------------------------------------
# Training runs


def test_end_to_end_results_and_files(reference_run):
    out, results = reference_run
    train_lib.validate_results(results)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(results, train_lib.RESULTS_SCHEMA)
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert results["status"] == "completed" and results["model"]["name"] == "resnet8"
    assert [h["epoch"] for h in results["history"]] == [1, 2]
    assert [h["step"] for h in results["history"]] == [3, 6]
    assert results["schedule"]["boundaries"] == [3, 5]
    assert [h["learning_rate"] for h in results["history"]] == [0.1, 0.001]
    assert results["final_test_error"] == results["history"][-1]["test_error"]
    for h in results["history"]:
        assert 0 <= h["train_error"] <= 1 and 0 <= h["val_error"] <= 1
        assert np.isfinite(h["train_loss"]) and h["images_per_second"] > 0
    assert results["hyperparameters"]["batch_size"] == 64
    assert results["hyperparameters"]["weight_decay"] == 1e-4
    assert results["hyperparameters"]["overrides"] == {"batch_size": 64, "validation_size": 0}
    assert results["dataset"]["checksums"] == {"synthetic": "seed0"}
    norm = results["dataset"]["normalization"]
    assert norm["kind"] == "pixel" and norm["mean_shape"] == [32, 32, 3] and norm["std_shape"] == []
    assert results["spec"]["model"] == "resnet8" and results["spec"]["recipe"]["batch_size"] == 64
    assert results["spec_fingerprint"] == train_lib.fingerprint(results["spec"])
    expected_loop = "compiled" if keras.backend.backend() == "jax" else "fit"
    assert results["loop"] == expected_loop
    env = results["environment"]
    assert env["backend"] == keras.backend.backend() and env["keras_version"] == keras.__version__
    assert results["seed"] == 0 and results["wall_time_s"] > 0
    for name in ("checkpoint/epoch-0002.weights.h5", "checkpoint/state.json",
                 "checkpoint/epoch-0002.seeds.npz", "config.json", "model.keras"):
        assert (out / name).is_file(), name
    assert not list(out.glob("checkpoint/epoch-0001*"))  # only the last epoch is kept
    # The saved model takes raw uint8 images and gives the logits.
    model = keras.saving.load_model(out / "model.keras", compile=False)
    logits = model.predict(tiny_cifar().x_test[:4], verbose=0)
    assert logits.shape == (4, 10)


class _Interrupt(keras.callbacks.Callback):
    """Simulates a kill right after the first epoch's checkpoint."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


def _weights_file(out):
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    return out / "checkpoint" / state["weights_file"]


def _optimizer_iterations(path):
    with h5py.File(path) as f:
        return int(f["optimizer/vars/0"][()])


def _assert_same_run(out, resumed, ref_out, ref, rtol=1e-5, atol=1e-6):
    assert [h["step"] for h in resumed["history"]] == [h["step"] for h in ref["history"]]
    assert [h["learning_rate"] for h in resumed["history"]] == [
        h["learning_rate"] for h in ref["history"]]
    for key in ("train_loss", "train_error", "val_loss", "val_error", "test_loss", "test_error"):
        np.testing.assert_allclose([h[key] for h in resumed["history"]],
                                   [h[key] for h in ref["history"]], rtol=rtol, atol=atol,
                                   err_msg=key)
    ckpt, ref_ckpt = _weights_file(out), _weights_file(ref_out)
    assert _optimizer_iterations(ckpt) == _optimizer_iterations(ref_ckpt) == 6
    with h5py.File(ckpt) as a, h5py.File(ref_ckpt) as b:
        names = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for n in names:
            np.testing.assert_allclose(a[n][()], b[n][()], rtol=rtol, atol=atol, err_msg=n)


def test_resume_after_a_kill_matches_uninterrupted_run(tmp_path):
    """A KeyboardInterrupt right after epoch 1's checkpoint, then a rerun (model.fit loop)."""
    ref_out = tmp_path / "reference"
    ref = train("resnet8", "he2015-cifar", ref_out, data=tiny_cifar(), loop="fit", **RUN)
    keras.backend.clear_session()
    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train("resnet8", "he2015-cifar", out, data=tiny_cifar(), callbacks=[_Interrupt()], **RUN)
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 1 and not state["finished"] and len(state["history"]) == 1
    assert not (out / "results.json").exists()
    keras.backend.clear_session()
    resumed = train("resnet8", "he2015-cifar", out, data=tiny_cifar(), loop="fit", **RUN)
    assert resumed["resumed_at_epochs"] == [1]
    _assert_same_run(out, resumed, ref_out, ref)


def test_time_budget_stops_cleanly_and_a_rerun_finishes_the_run(reference_run, tmp_path):
    """The campaign's budget: stop after the epoch that leaves no time for another, keep the
    checkpoint, and resume to the same numbers as an uninterrupted run (default loop)."""
    ref_out, ref = reference_run
    out = tmp_path / "budget"
    stopped = train("resnet8", "he2015-cifar", out, data=tiny_cifar(), time_budget_s=1e-3, **RUN)
    assert stopped["status"] == "stopped" and [h["epoch"] for h in stopped["history"]] == [1]
    train_lib.validate_results(stopped)
    assert not (out / "model.keras").exists()
    keras.backend.clear_session()
    resumed = train("resnet8", "he2015-cifar", out, data=tiny_cifar(), **RUN)
    assert resumed["status"] == "completed" and resumed["resumed_at_epochs"] == [1]
    _assert_same_run(out, resumed, ref_out, ref)


def test_compiled_loop_takes_the_same_steps_as_fit(tmp_path):
    """JAX: the compiled loop and model.fit see the same batches and augmentations and give the
    same losses, errors and weights from the same seed (float tolerance)."""
    if keras.backend.backend() != "jax":
        with pytest.raises(ValueError, match="JAX"):
            train("resnet8", "he2015-cifar", None, data=tiny_cifar(), loop="compiled", **RUN)
        return
    runs = {}
    for loop in ("fit", "compiled"):
        keras.backend.clear_session()
        runs[loop] = train("resnet8", "he2015-cifar", tmp_path / loop, data=tiny_cifar(),
                           loop=loop, **RUN)
        assert runs[loop]["loop"] == loop
    assert runs["fit"]["spec_fingerprint"] == runs["compiled"]["spec_fingerprint"]
    _assert_same_run(tmp_path / "compiled", runs["compiled"], tmp_path / "fit", runs["fit"],
                     rtol=2e-4, atol=2e-5)


def test_compiled_loop_skips_dropped_blocks_as_fit_does(tmp_path):
    """JAX: stochastic depth that skips dropped branches (a conditional whose branches update BN
    statistics) takes the same steps in the compiled loop as in model.fit: the same draws from
    the same seed, the same losses and weights."""
    if keras.backend.backend() != "jax":
        pytest.skip("the compiled loop runs on JAX only")
    runs = {}
    for loop in ("fit", "compiled"):
        keras.backend.clear_session()
        runs[loop] = train("resnet8", "huang2016-sd-cifar", tmp_path / loop, data=tiny_cifar(),
                           loop=loop, model_overrides={"stochastic_depth_mode": "skip"},
                           **{**RUN, "validation_size": 64})
    _assert_same_run(tmp_path / "compiled", runs["compiled"], tmp_path / "fit", runs["fit"],
                     rtol=2e-4, atol=2e-5)


def test_rerunning_a_finished_run_returns_its_results(reference_run):
    out, results = reference_run
    again = train("resnet8", "he2015-cifar", out, data=tiny_cifar(), **RUN)
    assert again["finished_at"] == results["finished_at"]


def test_resume_refuses_a_different_configuration(reference_run):
    out, _ = reference_run
    with pytest.raises(ValueError, match="different run"):
        train("resnet8", "he2015-cifar", out, data=tiny_cifar(), learning_rate=0.05, **RUN)


def _nan_model(num_classes, input_shape, kernel_regularizer=None):
    inputs = keras.Input(input_shape)
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    x = keras.layers.Dense(num_classes, kernel_regularizer=kernel_regularizer)(x)
    outputs = keras.layers.Lambda(lambda t: t * float("nan"))(x)
    return keras.Model(inputs, outputs, name="nan_model")


def test_nan_loss_stops_with_a_clear_error(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"NaN.*epoch 1, step 1") as err:
        train(_nan_model, "he2015-cifar", tmp_path, data=tiny_cifar(), **RUN)
    assert "learning rate" in str(err.value)
    results = json.loads((tmp_path / "results.json").read_text())
    train_lib.validate_results(results)
    assert results["status"] == "diverged" and results["diverged"]["step"] == 1
    assert results["history"] == []
    assert not list(tmp_path.glob("checkpoint/*.weights.h5"))
    assert not (tmp_path / "model.keras").exists()


def test_mixed_precision_and_stop_at_total_steps(tmp_path):
    results = train("resnet8", "he2015-cifar", tmp_path, data=tiny_cifar(), precision="bf16",
                    steps=4, batch_size=64, validation_size=0, verbose=0, tensorboard=False,
                    test_every=0)
    assert keras.config.dtype_policy().name == "float32"  # restored
    assert results["hyperparameters"]["precision"] == "bf16"
    assert results["schedule"]["epochs"] == 2 and results["schedule"]["total_steps"] == 4
    assert [h["step"] for h in results["history"]] == [3, 4]  # the last epoch stops early
    assert results["history"][0]["test_error"] is None  # test_every=0: only the last epoch
    assert results["final_test_error"] is not None
    assert _optimizer_iterations(_weights_file(tmp_path)) == 4
    with pytest.raises(ValueError, match="precision"):
        train("resnet8", "he2015-cifar", None, data=tiny_cifar(), precision="fp8")


def test_compiled_loop_scan_and_step_paths_agree(monkeypatch):
    """JAX: an epoch as one scan (the accelerator path) equals one compiled call per step (the
    CPU path). A small MLP keeps the scan fast enough on a CPU."""
    if keras.backend.backend() != "jax":
        pytest.skip("the compiled loop is JAX only")
    from resnet_keras.train import compiled_loop

    runs = {}
    for scan in (False, True):
        monkeypatch.setattr(compiled_loop, "SCAN_ON_CPU", scan)
        keras.backend.clear_session()
        runs[scan] = train("highway_mlp10", "srivastava2015-highway-mnist", None,
                           data=tiny_mnist(n_train=200), epochs=2, batch_size=64, verbose=0)
    for key in ("train_loss", "train_error", "test_loss", "test_error"):
        np.testing.assert_allclose([h[key] for h in runs[True]["history"]],
                                   [h[key] for h in runs[False]["history"]], rtol=1e-5,
                                   atol=1e-6, err_msg=key)


def test_highway_recipe_on_mnist_shapes():
    results = train("highway_mlp10", "srivastava2015-highway-mnist", None, data=tiny_mnist(),
                    epochs=1, verbose=0)
    assert results["model"]["name"] == "highway_mlp10"
    assert results["hyperparameters"]["augment"] is False
    assert results["dataset"]["image_shape"] == [28, 28, 1]
    assert results["schedule"]["kind"] == "exponential"
    assert results["out_dir"] is None and len(results["history"]) == 1


def test_environment_info_and_validator():
    env = train_lib.environment_info()
    assert env["backend"] == keras.backend.backend() and env["device_count"] >= 1
    with pytest.raises(ValueError, match="missing key 'status'"):
        train_lib.validate_results({"schema_version": 1})
    with pytest.raises(ValueError, match="status"):
        results_lib._validate({"status": "maybe"}, {"properties": {"status": {"enum": ["a"]}}},
                            "results")


def test_jax_without_tensorflow_on_two_devices(tmp_path):
    """A JAX-only machine: tensorflow unimportable, two devices (data parallel)."""
    pytest.importorskip("jax")
    write_cifar10(tmp_path, per_batch=40)
    script = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "tensorflow_datasets", "tensorboard"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import jax
        assert len(jax.devices()) == 2
        from resnet_keras import data
        from resnet_keras.train import train
        try:
            data.load_cifar10(source="tfds")
        except ImportError as e:
            assert "tensorflow-datasets" in str(e)
        else:
            raise AssertionError("tfds should be unavailable")
        r = train("resnet8", "he2015-cifar", {str(tmp_path / "run")!r},
                  data_dir={str(tmp_path)!r}, epochs=1, batch_size=64, validation_size=40,
                  verbose=0)
        assert r["environment"]["device_count"] == 2, r["environment"]
        assert r["status"] == "completed" and r["dataset"]["source"] == "local"
        assert r["history"][0]["step"] == 3  # 160 images in batches of 64, 64 and 32
        assert "tensorflow" not in sys.modules
        print("ok")
    """)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(train_lib.__file__))))
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=2",
               PYTHONPATH=os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_corrupt_checkpoint_state_is_reported(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "state.json").write_text("{")
    with pytest.raises(ValueError, match="state.json is corrupt"):
        train("resnet8", "he2015-cifar", tmp_path, data=tiny_cifar(), **RUN)
