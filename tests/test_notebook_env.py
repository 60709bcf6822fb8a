import pytest

from resnet_keras import notebook
from resnet_keras.campaign import SCALES


def test_scales(monkeypatch, tmp_path):
    monkeypatch.setenv("RESNET_KERAS_SMOKE", "1")
    env = notebook.setup("ch99", fonts=False)
    assert env.smoke and env.scale == "smoke" and env.scale_args == SCALES["smoke"]
    kwargs = env.train_kwargs(epochs=3)
    assert kwargs["epochs"] == 3 and kwargs["verbose"] == 0 and kwargs["limit_train"] == 256

    monkeypatch.delenv("RESNET_KERAS_SMOKE")
    monkeypatch.setenv("RESNET_KERAS_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    env = notebook.setup("ch99", fonts=False)
    assert not env.smoke and env.scale == "local" and env.data_dir == str(tmp_path)
    assert env.results_root is None  # not a checkout: nothing kept, published results read
    assert env.out_dir("run").parts[-3:] == ("ch99", "local", "run")
    assert "백엔드" in env.summary()
    monkeypatch.setenv("RESNET_KERAS_SCALE", "paper")
    assert notebook.setup("ch99", fonts=False).scale == "paper"
    monkeypatch.setenv("RESNET_KERAS_SCALE", "huge")
    with pytest.raises(ValueError, match="RESNET_KERAS_SCALE"):
        notebook.setup("ch99", fonts=False)


def test_results_are_kept_inside_the_repo(monkeypatch, tmp_path):
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    (tmp_path / "resnet_keras").mkdir()
    (tmp_path / "book").mkdir()
    monkeypatch.chdir(tmp_path / "book")
    monkeypatch.delenv("RESNET_KERAS_SMOKE", raising=False)
    monkeypatch.delenv("RESNET_KERAS_RESULTS_DIR", raising=False)
    env = notebook.setup("ch99", fonts=False)
    assert env.results_root == tmp_path / "results" and env.published_url is None


def test_experiment_trains_now_when_nothing_is_stored(monkeypatch, tmp_path):
    """Quick mode, no stored result: the run is trained at once (the smallest model of its
    kind) and said to be so."""
    import numpy as np

    from resnet_keras import data as data_lib

    def tiny(name, **kwargs):
        rng = np.random.default_rng(0)
        x = rng.integers(0, 255, (96, 32, 32, 3)).astype(np.uint8)
        y = rng.integers(0, 10, 96)
        return data_lib.ImageDataset("cifar10", x[:64], y[:64], x[64:], y[64:],
                                     list(data_lib.CIFAR10_CLASSES), "local", "memory", {})

    monkeypatch.setattr(data_lib, "load_dataset", tiny)
    monkeypatch.setenv("RESNET_KERAS_SMOKE", "1")
    monkeypatch.setenv("RESNET_KERAS_RESULTS_DIR", str(tmp_path / "results"))
    env = notebook.setup("ch02", fonts=False, show=False)
    results = env.experiment("plain56")
    assert results["presented"]["trained_now"] and results["presented"]["scale"] == "smoke"
    assert results["model"]["name"] == "plain8"
    assert "방금 학습" in env.source(results)
    assert not (tmp_path / "results").exists()  # quick-mode results are not kept
    with pytest.raises(ValueError, match="No campaign run ch02/resnet21"):
        env.experiment("resnet21")


def test_setup_installs_the_retracing_filter_once(monkeypatch, capsys):
    import logging

    monkeypatch.setenv("RESNET_KERAS_SMOKE", "1")
    notebook.setup("ch99", fonts=False)
    notebook.setup("ch99", fonts=False)
    assert "백엔드" in capsys.readouterr().out  # setup prints where the notebook runs
    logger = logging.getLogger("tensorflow")
    assert logger.filters.count(notebook._RETRACING_FILTER) == 1
    record = logging.LogRecord("tensorflow", logging.WARNING, "", 0,
                               "5 out of the last 5 calls triggered tf.function retracing", None, None)
    assert not notebook._RETRACING_FILTER.filter(record)
    record.msg = "another message"
    assert notebook._RETRACING_FILTER.filter(record)


def test_show_table_prints_without_ipython(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_ipython(name, *args, **kwargs):
        if name.startswith("IPython"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ipython)
    notebook.show_table(["a", "b"], [[1, 2]])
    assert capsys.readouterr().out.splitlines() == ["a | b", "1 | 2"]


def test_forward_seconds_alternates_and_validates():
    import keras
    import numpy as np
    import pytest

    from resnet_keras.timing import forward_seconds

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    out = forward_seconds({"a": model, "b": model}, np.zeros((2, 4), "float32"), repeats=2, warmup=1)
    assert set(out) == {"a", "b"} and all(v > 0 for v in out.values())
    with pytest.raises(ValueError, match="repeats"):
        forward_seconds({"a": model}, np.zeros((2, 4), "float32"), repeats=0)


def test_training_workload_sums_images_flop_and_time():
    import pytest

    from resnet_keras.flops import count_macs
    from resnet_keras.models import get_model
    from resnet_keras.timing import T4_FP32_PEAK_FLOPS, training_workload

    def results(name, epochs, num_train, seconds, overrides=None):
        return {"model": {"name": name}, "spec": {"model_overrides": overrides},
                "hyperparameters": {"epochs": epochs}, "dataset": {"num_train": num_train},
                "wall_time_s": seconds}

    runs = [results("resnet8", 2, 100, 30.0), results("resnet8", 1, 50, 90.0),
            results("resnet8", 1, 10, 60.0, {"variant": "v2"})]
    work = training_workload(runs)
    v1 = count_macs(get_model("resnet8")).total
    v2 = count_macs(get_model("resnet8", variant="v2")).total
    assert work.runs == 3 and work.images == 260
    assert work.flop == pytest.approx(6 * (v1 * 250 + v2 * 10))
    assert work.measured_minutes == pytest.approx(3.0)
    assert work.estimated_minutes(T4_FP32_PEAK_FLOPS, 0.5) == pytest.approx(
        work.flop / (0.5 * 8.1e12) / 60)
    with pytest.raises(ValueError, match="utilisation"):
        work.estimated_minutes(T4_FP32_PEAK_FLOPS, 0)
    with pytest.raises(ValueError, match="at least one"):
        training_workload([])


def test_train_step_seconds_alternates_and_validates():
    import keras
    import numpy as np
    import pytest

    from resnet_keras.timing import train_step_seconds

    x, y = np.zeros((2, 4), "float32"), np.zeros((2,), "int32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="not compiled: \\['a'\\]"):
        train_step_seconds({"a": model}, x, y)
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    out = train_step_seconds({"a": model, "b": model}, x, y, repeats=2, warmup=1)
    assert set(out) == {"a", "b"} and all(v > 0 for v in out.values())
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 6  # (1 warm-up + 2 timed) steps x 2 names
    with pytest.raises(ValueError, match="repeats"):
        train_step_seconds({"a": model}, x, y, repeats=0)
