"""What a wheel of this repository carries (the notebooks install one on Colab)."""

import pathlib

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_package_directory_is_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "resnet_keras").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "resnet_keras.train" in on_disk
    assert on_disk <= listed, f"not in pyproject.toml [tool.setuptools] packages: {on_disk - listed}"
