"""The benchmark scripts run and refuse bad input; their timings are never asserted."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stochastic_depth_reference_has_the_expected_number_of_blocks():
    sd = _load("stochastic_depth_step")
    assert sd.expected_depth_reference(110) == (80, pytest.approx(40.25))  # 39 blocks
    assert sd.expected_depth_reference(56) == (44, pytest.approx(20.0))  # 21 blocks


@pytest.mark.parametrize("argv", [["--depth", "20x"], ["--depth", "21"], ["--repeats", "0"]])
def test_stochastic_depth_benchmark_refuses_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as err:
        _load("stochastic_depth_step").main(argv)
    assert err.value.code == 2
    assert "error" in capsys.readouterr().err


def test_stochastic_depth_benchmark_runs(tmp_path, capsys):
    out = tmp_path / "sd.json"
    rc = _load("stochastic_depth_step").main(
        ["--depth", "8", "--batch-size", "4", "--repeats", "1", "--warmup", "1", "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    for name in ("constant", "batch", "skip", "expected-depth"):
        assert name in printed
    measured = json.loads(out.read_text())
    assert measured["models"]["constant"]["ratio_to_constant"] == 1.0
    assert measured["models"]["skip"]["config"]["stochastic_depth_mode"] == "skip"


def test_nested_conv_benchmark_runs_and_refuses_bad_arguments(capsys):
    pytest.importorskip("jax")
    nested = _load("xla_cpu_nested_conv")
    with pytest.raises(SystemExit):
        nested.main(["--repeats", "0"])
    assert nested.main(["--repeats", "1"]) == 0
    printed = capsys.readouterr().out
    for name in ("forward", "the input", "the kernel"):
        assert name in printed
