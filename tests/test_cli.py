"""The command line: python -m resnet_keras train|evaluate|recipes."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from resnet_keras import __main__ as cli
from resnet_keras import train as train_lib
from test_data import write_cifar10

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Two tiny epochs: 256 training images in batches of 64 (4 steps), ResNet-8.
TRAIN_ARGS = [
    "train", "--model", "resnet8", "--recipe", "he2015-cifar", "--epochs", "2",
    "--batch-size", "64", "--validation-size", "64", "--limit-train", "256",
    "--limit-test", "64", "--verbose", "2", "--no-tensorboard",
]


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_cifar10(root, per_batch=64)  # 320 training, 64 test images
    return root


def _env(cifar_dir):
    return dict(
        os.environ,
        RESNET_KERAS_DATA_DIR=str(cifar_dir),
        PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="2",
    )


@pytest.fixture(scope="module")
def cli_run(cifar_dir, tmp_path_factory):
    """`python -m resnet_keras train ...` run to completion in a subprocess."""
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = subprocess.run([sys.executable, "-m", "resnet_keras", *TRAIN_ARGS, "--out", str(out)],
                          capture_output=True, text=True, env=_env(cifar_dir), timeout=300)
    return out, proc


def test_cli_train_two_epochs(cli_run):
    out, proc = cli_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "done: resnet8 / he2015-cifar, epoch 2: test error" in proc.stdout
    assert "2/2" in proc.stdout or "Epoch 2/2" in proc.stdout  # keras progress output
    results = json.loads((out / "results.json").read_text())
    train_lib.validate_results(results)
    assert len(results["history"]) == 2 and results["status"] == "completed"
    assert results["dataset"]["source"] == "local"
    assert set(results["dataset"]["checksums"]) == {
        "data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
        "test_batch"}
    assert results["dataset"]["num_train"] == 256 and results["dataset"]["num_validation"] == 64
    assert results["command"][1:3] == ["train", "--model"]
    assert (out / "checkpoint" / "epoch-0002.weights.h5").is_file()
    assert (out / "model.keras").is_file()


def test_cli_rerun_of_a_finished_run_does_nothing(cli_run, cifar_dir):
    out, _ = cli_run
    before = (out / "results.json").read_text()
    rc = cli.main([*TRAIN_ARGS, "--out", str(out), "--data-dir", str(cifar_dir)])
    assert rc == 0
    assert (out / "results.json").read_text() == before


def test_cli_kill_and_resume(cli_run, cifar_dir, tmp_path):
    """Kill the process after its first checkpoint, rerun the same command: it resumes and
    ends like the uninterrupted run."""
    ref_out, ref_proc = cli_run
    assert ref_proc.returncode == 0
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "resnet_keras", *TRAIN_ARGS, "--out", str(out)]
    state = out / "checkpoint" / "state.json"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_env(cifar_dir))
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if state.is_file() and json.loads(state.read_text())["epoch"] >= 1:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode == 0:
        pytest.skip("the run finished before it could be killed (machine too fast)")
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "results.json").exists()
    done = json.loads(state.read_text())["epoch"]
    again = subprocess.run(cmd, capture_output=True, text=True, env=_env(cifar_dir),
                           timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Resuming {out} after epoch {done}" in again.stdout
    results = json.loads((out / "results.json").read_text())
    ref = json.loads((ref_out / "results.json").read_text())
    assert results["resumed_at_epochs"] == [done]
    assert [h["step"] for h in results["history"]] == [h["step"] for h in ref["history"]]
    assert [h["learning_rate"] for h in results["history"]] == [
        h["learning_rate"] for h in ref["history"]]
    # Another process: the same numbers up to floating-point summation order.
    np.testing.assert_allclose([h["train_loss"] for h in results["history"]],
                               [h["train_loss"] for h in ref["history"]], rtol=1e-3)


def test_cli_nan_loss_exits_non_zero(cifar_dir, tmp_path, monkeypatch, capsys):
    import resnet_keras.models as models

    def nan_model(name, num_classes, input_shape, kernel_regularizer=None, **kw):
        inputs = keras.Input(input_shape)
        x = keras.layers.GlobalAveragePooling2D()(inputs)
        x = keras.layers.Dense(num_classes)(x)
        return keras.Model(inputs, keras.layers.Lambda(lambda t: t * float("nan"))(x))

    monkeypatch.setattr(models, "get_model", nan_model)
    rc = cli.main([*TRAIN_ARGS, "--out", str(tmp_path / "nan"), "--data-dir", str(cifar_dir)])
    assert rc == cli.EXIT_DIVERGED == 3
    err = capsys.readouterr().err
    assert "error: The training loss became NaN" in err and "step 1" in err


def test_cli_bad_data_dir_and_arguments(tmp_path, capsys):
    rc = cli.main([*TRAIN_ARGS, "--out", str(tmp_path / "x"), "--data-dir",
                   str(tmp_path / "missing")])
    assert rc == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "Data directory not found" in err and "missing" in err
    assert "cifar-10-python.tar.gz" in err
    rc = cli.main([*TRAIN_ARGS, "--out", str(tmp_path / "x"), "--set", "not_a_field=1"])
    assert rc == cli.EXIT_USAGE and "Unknown recipe field" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--epochs", "2", "--steps", "5"])
    assert exit_info.value.code == 2


def test_cli_checks_arguments_before_loading_anything(tmp_path):
    """A bad model, depth, number or recipe field fails at once: no data, no Keras import."""
    script = (
        "import sys\n"
        "from resnet_keras.__main__ import main\n"
        "codes = [main(a) for a in ("
        "['train', '--model', 'resnet21'], ['train', '--model', 'plain_mlp1'],"
        "['train', '--set', 'batch_size=0'], ['train', '--set', 'lr_milestones=[5,1]'],"
        "['train', '--recipe', 'he2099'], ['train', '--data-dir', '/nonexistent/dir'],"
        "['recipes'], ['campaign', '--list'])]\n"
        "print(codes, 'keras' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    env = dict(os.environ, RESNET_KERAS_DATA_DIR=str(tmp_path / "nothing"),
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[2, 2, 2, 2, 2, 2, 0, 0] False False"
    for message in ("6n + 2", "depth of plain_mlp must be at least 2",
                    "batch_size must be a positive integer", "lr_milestones must be positive",
                    "Unknown recipe 'he2099'", "Data directory not found"):
        assert message in proc.stderr, message
    with pytest.raises(SystemExit):
        cli.main(["train", "--lr", "-1"])
    with pytest.raises(SystemExit):
        cli.main(["train", "--epochs", "0"])


def test_cli_trains_several_models_side_by_side(cifar_dir, tmp_path):
    argv = ["train", "--model", "resnet8", "--model", "plain8", "--epochs", "1",
            "--batch-size", "64", "--limit-train", "128", "--limit-test", "64", "--verbose", "2",
            "--no-tensorboard", "--out", str(tmp_path), "--parallel", "2"]
    proc = subprocess.run([sys.executable, "-m", "resnet_keras", *argv], capture_output=True,
                          text=True, env=_env(cifar_dir), timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for model in ("resnet8", "plain8"):
        results = json.loads((tmp_path / f"{model}-seed0" / "results.json").read_text())
        assert results["model"]["name"] == model and results["status"] == "completed"
        assert (tmp_path / f"{model}-seed0" / "train.log").is_file()
        assert f"[{model}] " in proc.stdout and f"{model}: exit status 0" in proc.stdout


def test_cli_recipes(capsys):
    assert cli.main(["recipes"]) == 0
    listing = capsys.readouterr().out
    for name in train_lib.RECIPES:
        assert name in listing
    assert cli.main(["recipes", "huang2016-sd-cifar"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["nesterov"] is True and shown["lr_milestones"] == [250, 375]


def test_cli_evaluate(cli_run, cifar_dir, capsys):
    out, proc = cli_run
    assert proc.returncode == 0
    assert cli.main(["evaluate", str(out), "--data-dir", str(cifar_dir)]) == 0
    assert "resnet8: test error" in capsys.readouterr().out
    assert cli.main(["evaluate", str(out / "nothing")]) == cli.EXIT_USAGE
