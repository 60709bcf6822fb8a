"""Data loaders, validation split, augmentation and normalisation (resnet_keras.data)."""

import gzip
import hashlib
import pickle
import struct
import sys

import keras
import numpy as np
import pytest

from resnet_keras import data

# ---------------------------------------------------------------------------------------------
# Writers of small files in the standard layouts (also used by test_train.py / test_cli.py)


def _pickle_to(path, obj):
    """Writes `obj` to `path`, pickled as the CIFAR files are (protocol 2)."""
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root, per_batch=20, seed=0):
    """A small `cifar-10-batches-py` folder under `root`; returns (folder, images, labels)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    all_x, all_y = {}, {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        _pickle_to(folder / name, {b"batch_label": name.encode(), b"labels": y, b"data": x})
        all_x[name], all_y[name] = x, np.array(y)
    names = [n.encode() for n in data.CIFAR10_CLASSES]
    _pickle_to(folder / "batches.meta", {b"label_names": names, b"num_cases_per_batch": per_batch})
    return folder, all_x, all_y


def write_cifar100(root, n=30, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train", "test"):
        x = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, 100, size=n)]
        coarse = [v // 5 for v in fine]
        _pickle_to(folder / name, {b"data": x, b"fine_labels": fine, b"coarse_labels": coarse})
    _pickle_to(folder / "meta", {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                                 b"coarse_label_names": [f"c{i}".encode() for i in range(20)]})
    return folder


def _idx_bytes(array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(
        ">" + "I" * array.ndim, *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(root, n_train=40, n_test=20, seed=0, compress=True):
    """The four MNIST IDX files under `root/mnist`; returns (folder, arrays)."""
    rng = np.random.default_rng(seed)
    folder = root / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, arr in arrays.items():
        raw = _idx_bytes(arr)
        if compress:
            with gzip.open(folder / (stem + ".gz"), "wb") as f:
                f.write(raw)
        else:
            (folder / stem).write_bytes(raw)
    return folder, arrays


@pytest.fixture
def no_data_env(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(data.DATA_SOURCE_ENV, raising=False)


# ---------------------------------------------------------------------------------------------
# Local files


def test_cifar10_local_layout(tmp_path, no_data_env):
    folder, xs, ys = write_cifar10(tmp_path, per_batch=20)
    ds = data.load_cifar10(source="local", data_dir=tmp_path)
    assert ds.x_train.shape == (100, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert ds.y_train.shape == (100,) and ds.y_train.dtype == np.int64
    assert ds.x_test.shape == (20, 32, 32, 3)
    assert ds.class_names[0] == "airplane" and ds.num_classes == 10
    # Row-major planes: 1024 red, then 1024 green, then 1024 blue values.
    raw = xs["data_batch_2"][3]
    img = ds.x_train[20 + 3]
    np.testing.assert_array_equal(img[..., 0].ravel(), raw[:1024])
    np.testing.assert_array_equal(img[..., 1].ravel(), raw[1024:2048])
    np.testing.assert_array_equal(img[..., 2].ravel(), raw[2048:])
    assert img[0, 1, 2] == raw[2048 + 1]
    np.testing.assert_array_equal(ds.y_test, ys["test_batch"])
    # The folder itself works too, and checksums are md5s of the files.
    ds2 = data.load_cifar10(source="local", data_dir=folder)
    np.testing.assert_array_equal(ds2.x_train, ds.x_train)
    expected = hashlib.md5((folder / "test_batch").read_bytes()).hexdigest()
    assert ds.checksums["test_batch"] == expected
    assert ds.describe()["source"] == "local"


def test_environment_variables_choose_the_source(tmp_path, monkeypatch):
    write_cifar10(tmp_path, per_batch=5)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(data.DATA_SOURCE_ENV, raising=False)
    ds = data.load_cifar10()  # auto + env var -> local
    assert ds.source == "local" and len(ds.x_train) == 25
    monkeypatch.setenv(data.DATA_SOURCE_ENV, "bogus")
    with pytest.raises(ValueError, match="RESNET_KERAS_DATA_SOURCE"):
        data.load_cifar10()
    monkeypatch.delenv(data.DATA_DIR_ENV)
    monkeypatch.delenv(data.DATA_SOURCE_ENV)
    assert data._resolve_source(None, None) == ("tfds", None)
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert data._resolve_source("tfds", None) == ("tfds", None)  # not tfds' own data dir
    monkeypatch.delenv(data.DATA_DIR_ENV)
    with pytest.raises(ValueError, match="RESNET_KERAS_DATA_DIR"):
        data.load_cifar10(source="local")


def test_validation_split_is_deterministic_and_disjoint(tmp_path, no_data_env):
    write_cifar10(tmp_path, per_batch=20)
    a = data.load_cifar10(data_dir=tmp_path, validation_size=10)
    b = data.load_cifar10(data_dir=tmp_path, validation_size=10)
    assert a.x_train.shape[0] == 90 and a.x_val.shape[0] == 10
    np.testing.assert_array_equal(a.x_val, b.x_val)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    full = data.load_cifar10(data_dir=tmp_path)
    rows = {r.tobytes() for r in full.x_train.reshape(100, -1)}
    val_rows = {r.tobytes() for r in a.x_val.reshape(10, -1)}
    train_rows = {r.tobytes() for r in a.x_train.reshape(90, -1)}
    assert val_rows | train_rows == rows and not (val_rows & train_rows)
    x_tr, _, x_val, _ = data.train_validation_split(full.x_train, full.y_train, 10, seed=None)
    np.testing.assert_array_equal(x_val, full.x_train[-10:])
    with pytest.raises(ValueError):
        data.train_validation_split(full.x_train, full.y_train, 100)


def test_cifar100_local_layout(tmp_path, no_data_env):
    write_cifar100(tmp_path)
    fine = data.load_cifar100(data_dir=tmp_path)
    coarse = data.load_cifar100(data_dir=tmp_path, label_mode="coarse")
    assert fine.num_classes == 100 and coarse.num_classes == 20
    np.testing.assert_array_equal(coarse.y_train, fine.y_train // 5)
    assert fine.x_train.shape == (30, 32, 32, 3)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_local_idx(tmp_path, no_data_env, compress):
    folder, arrays = write_mnist(tmp_path, compress=compress)
    ds = data.load_mnist(data_dir=tmp_path, validation_size=10)
    assert ds.x_train.shape == (30, 28, 28, 1) and ds.x_val.shape == (10, 28, 28, 1)
    assert ds.x_test.shape == (20, 28, 28, 1) and ds.x_test.dtype == np.uint8
    np.testing.assert_array_equal(ds.x_test[..., 0], arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert data.load_dataset("mnist", data_dir=folder).x_train.shape[0] == 40


# ---------------------------------------------------------------------------------------------
# Bad input


def test_missing_directory(tmp_path, no_data_env):
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz") as err:
        data.load_cifar10(data_dir=tmp_path / "nowhere")
    assert "nowhere" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        data.load_cifar10(data_dir=tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_mnist(data_dir=tmp_path / "empty")


def test_missing_batch_file(tmp_path, no_data_env):
    folder, _, _ = write_cifar10(tmp_path, per_batch=4)
    (folder / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4"):
        data.load_cifar10(data_dir=tmp_path)


def test_missing_idx_file(tmp_path, no_data_env):
    folder, _ = write_mnist(tmp_path)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="IDX file not found: .*t10k-labels-idx1-ubyte"):
        data.load_mnist(data_dir=tmp_path)


def test_truncated_pickle(tmp_path, no_data_env):
    folder, _, _ = write_cifar10(tmp_path, per_batch=4)
    raw = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="data_batch_3.*truncated or corrupt") as err:
        data.load_cifar10(data_dir=tmp_path)
    assert "source='tfds'" in str(err.value)


def test_wrong_shapes_in_pickle(tmp_path, no_data_env):
    folder, _, _ = write_cifar10(tmp_path, per_batch=4)
    _pickle_to(folder / "test_batch", {b"labels": [0, 1], b"data": np.zeros((2, 1000), np.uint8)})
    with pytest.raises(ValueError, match=r"test_batch.*\(N, 3072\)"):
        data.load_cifar10(data_dir=tmp_path)
    _pickle_to(folder / "test_batch", {b"labels": [0], b"data": np.zeros((2, 3072), np.uint8)})
    with pytest.raises(ValueError, match="1 labels for 2 images"):
        data.load_cifar10(data_dir=tmp_path)
    _pickle_to(folder / "test_batch", [1, 2, 3])
    with pytest.raises(ValueError, match="not a CIFAR batch"):
        data.load_cifar10(data_dir=tmp_path)


def test_corrupt_idx_files(tmp_path, no_data_env):
    folder, _ = write_mnist(tmp_path)
    path = folder / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))  # data shorter than the header says
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz.*truncated"):
        data.load_mnist(data_dir=tmp_path)
    path.write_bytes(path.read_bytes()[:50])  # truncated gzip stream
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz"):
        data.load_mnist(data_dir=tmp_path)
    path.write_bytes(gzip.compress(b"\x12\x34\x56\x78" + raw[4:]))
    with pytest.raises(ValueError, match="bad magic number"):
        data.load_mnist(data_dir=tmp_path)
    write_mnist(tmp_path)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(_idx_bytes(np.zeros(7, np.uint8))))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz: expected 20 labels"):
        data.load_mnist(data_dir=tmp_path)


def test_pickled_dict_without_images(tmp_path, no_data_env):
    folder, _, _ = write_cifar10(tmp_path, per_batch=4)
    _pickle_to(folder / "data_batch_2", {b"labels": [0, 1]})
    with pytest.raises(ValueError, match=r"data_batch_2 is not a CIFAR batch: keys .* lack b'data'"):
        data.load_cifar10(data_dir=tmp_path)


def test_corrupt_label_names(tmp_path, no_data_env):
    folder, _, _ = write_cifar10(tmp_path, per_batch=4)
    (folder / "batches.meta").write_bytes(b"\x80\x02}q")
    with pytest.raises(ValueError, match="batches.meta.*truncated or corrupt"):
        data.load_cifar10(data_dir=tmp_path)
    folder = write_cifar100(tmp_path)
    (folder / "meta").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="Could not read .*meta"):
        data.load_cifar100(data_dir=tmp_path)


def test_labels_out_of_range(tmp_path, no_data_env):
    folder, _, _ = write_cifar10(tmp_path, per_batch=4)
    _pickle_to(folder / "test_batch", {b"labels": [0, 12], b"data": np.zeros((2, 3072), np.uint8)})
    with pytest.raises(ValueError, match=r"test_batch: labels must be in \[0, 10\); found \[0, 12\]"):
        data.load_cifar10(data_dir=tmp_path)
    folder, _ = write_mnist(tmp_path, n_test=3)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(_idx_bytes(np.array([1, 10, 2], np.uint8))))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte.gz: labels must be in \[0, 10\)"):
        data.load_mnist(data_dir=tmp_path)


def test_idx_files_too_short_or_of_the_wrong_shape(tmp_path, no_data_env):
    folder, _ = write_mnist(tmp_path)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00"))
    with pytest.raises(ValueError, match="too short to be an IDX file"):
        data.load_mnist(data_dir=tmp_path)
    path.write_bytes(gzip.compress(struct.pack(">HBB", 0, 0x08, 3) + b"\x00\x00\x00\x05"))
    with pytest.raises(ValueError, match="truncated IDX header"):
        data.load_mnist(data_dir=tmp_path)
    path.write_bytes(gzip.compress(_idx_bytes(np.zeros((40, 784), np.uint8))))
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        data.load_mnist(data_dir=tmp_path)


def test_bad_arguments_of_the_loaders(tmp_path, no_data_env):
    write_cifar100(tmp_path)
    with pytest.raises(ValueError, match="source must be 'auto', 'tfds' or 'local'; got 'disk'"):
        data.load_cifar10(source="disk", data_dir=tmp_path)
    with pytest.raises(ValueError, match="label_mode must be 'fine' or 'coarse'; got 'medium'"):
        data.load_cifar100(data_dir=tmp_path, label_mode="medium")
    with pytest.raises(ValueError, match="Unknown data set 'svhn'"):
        data.load_dataset("svhn", data_dir=tmp_path)
    with pytest.raises(ValueError, match="num_validation must be in"):
        data.load_cifar100(data_dir=tmp_path, validation_size=30)


def test_tfds_source_without_tensorflow_datasets(monkeypatch, no_data_env):
    """A clear error, before anything is downloaded, where tensorflow-datasets is missing."""
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import raises ImportError
    with pytest.raises(ImportError, match="source='tfds' needs tensorflow and tensorflow-datasets"):
        data.load_cifar10(source="tfds")


def test_bad_normalisation_and_batching_arguments():
    x = np.zeros((6, 4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="kind must be one of"):
        data.normalization_stats(x, kind="global")
    with pytest.raises(ValueError, match=r"std must be positive; got \[1.0, 0.0, 1.0\]"):
        data.Preprocess([0.0] * 3, [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="x and y differ in length: 6 vs 5"):
        data.ArrayBatches(x, np.zeros(5), batch_size=2)
    with pytest.raises(ValueError, match="6 examples make no batch of 8"):
        data.ArrayBatches(x, np.zeros(6), batch_size=8, drop_remainder=True)


# ---------------------------------------------------------------------------------------------
# The offline copies (../shared/data), when present


def test_shared_cifar10(shared_data_dir, no_data_env):
    ds = data.load_cifar10(data_dir=shared_data_dir, validation_size=5000)
    assert ds.x_train.shape == (45000, 32, 32, 3) and ds.x_val.shape == (5000, 32, 32, 3)
    assert ds.x_test.shape == (10000, 32, 32, 3)
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.class_names[:3] == ["airplane", "automobile", "bird"]
    assert ds.checksums["test_batch"] == "1e3ab2124eead255213e5dccc07cb6a7"
    mean, std = data.channel_mean_std(ds.x_train)
    assert np.all((mean > 100) & (mean < 140)) and np.all((std > 55) & (std < 75))


def test_shared_mnist(shared_data_dir, no_data_env):
    ds = data.load_mnist(data_dir=shared_data_dir)
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.checksums["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert ds.y_train[:5].tolist() == [5, 0, 4, 1, 9]


# ---------------------------------------------------------------------------------------------
# tensorflow-datasets (mocked: no download)


@pytest.mark.parametrize("name,shape", [("cifar10", (32, 32, 3)), ("mnist", (28, 28, 1))])
def test_tfds_source_with_mock_data(name, shape, no_data_env, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets not installed")
    with tfds.testing.mock_data(num_examples=24):
        ds = data.load_dataset(name, source="tfds", validation_size=4)
    assert ds.source == "tfds" and ds.name == name
    assert ds.x_train.shape == (20,) + shape and ds.x_train.dtype == np.uint8
    assert ds.x_val.shape == (4,) + shape and ds.x_test.shape == (24,) + shape
    assert ds.y_train.dtype == np.int64 and ds.num_classes == 10
    assert "tfds_version" in ds.checksums


# ---------------------------------------------------------------------------------------------
# Augmentation and normalisation


def _candidates(img, p):
    """All crops (and flipped crops) of the zero-padded image, as a dict bytes -> (dy, dx, f)."""
    h, w, _ = img.shape
    padded = np.pad(img, ((p, p), (p, p), (0, 0)))
    out = {}
    for dy in range(2 * p + 1):
        for dx in range(2 * p + 1):
            crop = padded[dy : dy + h, dx : dx + w]
            out.setdefault(crop.tobytes(), (dy, dx, False))
            out.setdefault(crop[:, ::-1].tobytes(), (dy, dx, True))
    return out


def test_random_crop_flip_per_sample():
    rng = np.random.default_rng(0)
    # Values 1..255 (no zeros), so every crop and flip is distinguishable.
    x = rng.integers(1, 256, size=(400, 6, 6, 2)).astype("float32")
    y = keras.ops.convert_to_numpy(data.random_crop_flip(x, padding=2, flip=True, seed=3))
    assert y.shape == x.shape and y.dtype == np.float32
    found = []
    for i in range(len(x)):
        cands = _candidates(x[i], 2)
        key = y[i].tobytes()
        assert key in cands, f"output {i} is not a crop of the padded input"
        found.append(cands[key])
    dys = {f[0] for f in found}
    dxs = {f[1] for f in found}
    flips = np.mean([f[2] for f in found])
    assert dys == set(range(5)) and dxs == set(range(5))  # every offset occurs
    assert 0.4 < flips < 0.6  # ~50% flipped
    # Per sample: not all offsets of the batch are the same.
    assert len({(f[0], f[1]) for f in found}) > 10


def test_random_crop_flip_options_and_dtypes():
    x = np.arange(2 * 4 * 4 * 1, dtype="uint8").reshape(2, 4, 4, 1) + 1
    same = keras.ops.convert_to_numpy(data.random_crop_flip(x, padding=0, flip=False))
    np.testing.assert_array_equal(same, x)
    only_flip = keras.ops.convert_to_numpy(data.random_crop_flip(x, padding=0, flip=True, seed=1))
    for i in range(2):
        assert (np.array_equal(only_flip[i], x[i])
                or np.array_equal(only_flip[i], x[i, :, ::-1]))
    u8 = keras.ops.convert_to_numpy(data.random_crop_flip(x, padding=1, seed=2))
    assert u8.dtype == np.uint8
    # A seeded generator gives reproducible draws.
    a = data.random_crop_flip(x, 1, seed=keras.random.SeedGenerator(7))
    b = data.random_crop_flip(x, 1, seed=keras.random.SeedGenerator(7))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_channel_mean_std_and_standardize():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(123, 5, 5, 3), dtype=np.uint8)
    mean, std = data.channel_mean_std(x, chunk=10)
    ref = x.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(mean, ref.mean(0))
    np.testing.assert_allclose(std, ref.std(0))
    z = keras.ops.convert_to_numpy(data.standardize(x, mean, std))
    np.testing.assert_allclose(z.reshape(-1, 3).mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.reshape(-1, 3).std(0), 1, atol=1e-4)


def test_preprocess_layer():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(16, 8, 8, 3), dtype=np.uint8)
    mean, std = data.channel_mean_std(x)
    layer = data.Preprocess(mean, std, padding=2, seed=0)
    infer = keras.ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(infer, (x - mean) / std, rtol=1e-5, atol=1e-5)
    trained = keras.ops.convert_to_numpy(layer(x, training=True))
    assert trained.shape == x.shape and not np.allclose(trained, infer)
    # Augmentation acts on the normalised image: padded pixels are 0 (the mean).
    assert np.any(trained == 0.0)
    off = data.Preprocess(mean, std, augment=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(off(x, training=True)), infer,
                               rtol=1e-6)
    config = layer.get_config()
    clone = data.Preprocess.from_config(config)
    assert clone.padding == 2 and clone.mean == layer.mean
    with pytest.raises(ValueError):
        data.Preprocess(mean, [1.0, 0.0, 1.0])
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        bf = data.Preprocess(mean, std)
        assert keras.backend.standardize_dtype(bf(x, training=True).dtype) == "bfloat16"
    finally:
        keras.config.set_dtype_policy("float32")


def test_with_preprocessing_reshapes_for_flat_models():
    inputs = keras.Input((784,))
    flat_model = keras.Model(inputs, keras.layers.Dense(10)(inputs))
    wrapped = data.with_preprocessing(flat_model, (28, 28, 1), [33.0], [78.0], augment=False)
    out = wrapped(np.zeros((2, 28, 28, 1), np.uint8))
    assert tuple(out.shape) == (2, 10)
    with pytest.raises(ValueError, match="cannot be reshaped"):
        data.with_preprocessing(flat_model, (32, 32, 3), [0.0] * 3, [1.0] * 3)


def test_array_batches_cover_each_epoch_once_and_resume():
    x = np.arange(10)[:, None]
    y = np.arange(10)
    batches = data.ArrayBatches(x, y, batch_size=4, seed=5)
    assert batches.steps_per_epoch == 3 and batches.num_batches is None
    epochs = [np.concatenate([batches[e * 3 + j][1] for j in range(3)]) for e in range(3)]
    for seen in epochs:
        assert sorted(seen.tolist()) == list(range(10))
    assert not all(np.array_equal(epochs[0], e) for e in epochs[1:])  # reshuffled
    resumed = data.ArrayBatches(x, y, batch_size=4, seed=5, initial_epoch=1)
    for j in range(6):
        np.testing.assert_array_equal(resumed[j][1], batches[3 + j][1])
    dropped = data.ArrayBatches(x, y, batch_size=4, drop_remainder=True, shuffle=False)
    assert dropped.steps_per_epoch == 2
    np.testing.assert_array_equal(dropped[2][1], [0, 1, 2, 3])
