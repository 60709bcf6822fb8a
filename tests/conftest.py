import os
import pathlib

import keras
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with the default dtype policy and a cleared session."""
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()


@pytest.fixture
def shared_data_dir():
    """The offline data sets beside the checkout (../shared/data), if present."""
    path = os.environ.get("RESNET_KERAS_SHARED_DATA", str(REPO.parent / "shared" / "data"))
    path = pathlib.Path(path)
    if not path.is_dir():
        pytest.skip(f"offline data sets not found at {path} (set RESNET_KERAS_SHARED_DATA)")
    return path
