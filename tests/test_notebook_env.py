import json

from resnet_keras import notebook


def test_scales(monkeypatch, tmp_path):
    monkeypatch.setenv("RESNET_KERAS_SMOKE", "1")
    env = notebook.setup("ch99", fonts=False)
    assert env.smoke and env.label == "quick" and env.scale == notebook.SMOKE_SCALE
    assert env.results_dir is None and env.save_results({"a": 1}, "x") is None
    kwargs = env.train_kwargs(epochs=3)
    assert kwargs["epochs"] == 3 and kwargs["verbose"] == 0 and kwargs["limit_train"] == 256

    monkeypatch.delenv("RESNET_KERAS_SMOKE")
    monkeypatch.setenv("RESNET_KERAS_DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    env = notebook.setup("ch99", cpu_scale={"epochs": 2}, fonts=False)
    assert not env.smoke
    assert env.data_dir == str(tmp_path)
    if not env.accelerated:
        assert env.label == "cpu" and env.scale["epochs"] == 2
        assert env.scale["limit_train"] == notebook.CPU_SCALE["limit_train"]
    assert env.out_dir("run").parts[-3:] == ("ch99", env.label, "run")
    assert "백엔드" in env.summary()


def test_save_results_inside_the_repo(monkeypatch, tmp_path):
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    (tmp_path / "resnet_keras").mkdir()
    (tmp_path / "book").mkdir()
    monkeypatch.chdir(tmp_path / "book")
    monkeypatch.delenv("RESNET_KERAS_SMOKE", raising=False)
    env = notebook.setup("ch99", fonts=False)
    path = env.save_results({"final_test_error": 0.1}, "resnet20")
    assert path == tmp_path / "results" / env.label / "ch99" / "resnet20.json"
    assert json.loads(path.read_text())["final_test_error"] == 0.1


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
