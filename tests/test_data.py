"""desktop_denoiser.core.data: finding and loading MNIST, and the deterministic split."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from desktop_denoiser.core import data
from desktop_denoiser.core.errors import DatasetError


@pytest.fixture
def mnist_path(mnist) -> Path:
    return Path(os.environ[data.ENV_VAR])


def _fake_mnist(n_train=1000, n_test=20, classes_grouped=True) -> data.Mnist:
    """Training image i carries its own index in pixels (0, 0) and (0, 1); labels grouped by class."""
    x = np.zeros((n_train, 28, 28), np.uint8)
    idx = np.arange(n_train)
    x[:, 0, 0], x[:, 0, 1] = idx % 256, idx // 256
    y = np.sort(idx % 10) if classes_grouped else idx % 10
    return data.Mnist(x, y.astype(np.int64), np.zeros((n_test, 28, 28), np.uint8), np.arange(n_test) % 10, "fake")


def _indices(images: np.ndarray) -> np.ndarray:
    u8 = np.round(images * 255).astype(np.int64)
    return u8[:, 0, 0] + 256 * u8[:, 0, 1]


def _write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


# ----------------------------------------------------------------------------------------------
# loading


def test_load_from_explicit_path(mnist_path):
    m = data.load_mnist(mnist_path)
    assert m.x_train.shape == (60000, 28, 28) and m.x_train.dtype == np.uint8
    assert m.x_test.shape == (10000, 28, 28) and m.x_test.dtype == np.uint8
    assert m.y_train.shape == (60000,) and m.y_test.shape == (10000,)
    assert set(np.unique(m.y_train)) == set(range(10))
    assert m.x_train.max() == 255 and m.x_train.min() == 0
    assert m.source == str(mnist_path)
    # cached: the same object on the second call, also through a string path
    assert data.load_mnist(str(mnist_path)) is m


def test_load_from_environment_variable(mnist_path, tmp_path, monkeypatch):
    copy = tmp_path / "copy-of-mnist.npz"
    with np.load(mnist_path) as f:
        _write_npz(copy, x_train=f["x_train"][:50], y_train=f["y_train"][:50], x_test=f["x_test"][:10], y_test=f["y_test"][:10])
    monkeypatch.setenv(data.ENV_VAR, str(copy))
    m = data.load_mnist()
    assert m.source == str(copy)
    assert len(m.x_train) == 50 and len(m.x_test) == 10
    assert m.y_train.dtype == np.int64


def test_explicit_path_wins_over_environment(mnist_path, tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nothing-here.npz"))
    assert data.load_mnist(mnist_path).source == str(mnist_path)


def test_explicit_missing_path_is_a_dataset_error(tmp_path):
    missing = tmp_path / "no-such-mnist.npz"
    with pytest.raises(DatasetError) as info:
        data.load_mnist(missing)
    message = str(info.value)
    assert "DESKTOP_DENOISER_MNIST" in message
    assert str(missing) in message
    assert "\n" not in message


def test_missing_environment_path_is_an_error_not_a_download(tmp_path, monkeypatch):
    missing = tmp_path / "typo.npz"
    monkeypatch.setenv(data.ENV_VAR, str(missing))
    with pytest.raises(DatasetError) as info:
        data.load_mnist()
    assert "DESKTOP_DENOISER_MNIST" in str(info.value)
    assert str(missing) in str(info.value)


def test_corrupt_npz_is_a_dataset_error(tmp_path):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(DatasetError) as info:
        data.load_mnist(bad)
    assert "DESKTOP_DENOISER_MNIST" in str(info.value)


def test_truncated_npz_is_a_dataset_error(mnist_path, tmp_path):
    whole = mnist_path.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError):
        data.load_mnist(bad)


def test_npz_without_the_arrays_is_a_dataset_error(tmp_path):
    bad = _write_npz(tmp_path / "other.npz", images=np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(DatasetError):
        data.load_mnist(bad)


def test_npz_with_wrong_shapes_is_a_dataset_error(tmp_path):
    bad = _write_npz(
        tmp_path / "cifar.npz",
        x_train=np.zeros((10, 32, 32, 3), np.uint8), y_train=np.zeros(10), x_test=np.zeros((5, 32, 32, 3), np.uint8), y_test=np.zeros(5),
    )
    with pytest.raises(DatasetError) as info:
        data.load_mnist(bad)
    assert "28, 28" in str(info.value)


def test_npz_with_mismatched_lengths_is_a_dataset_error(tmp_path):
    bad = _write_npz(
        tmp_path / "short.npz",
        x_train=np.zeros((10, 28, 28), np.uint8), y_train=np.zeros(9), x_test=np.zeros((5, 28, 28), np.uint8), y_test=np.zeros(5),
    )
    with pytest.raises(DatasetError):
        data.load_mnist(bad)


def test_npz_needing_pickle_is_refused(tmp_path):
    objects = np.empty(2, dtype=object)
    objects[:] = [np.zeros((28, 28)), "x"]
    bad = _write_npz(tmp_path / "pickled.npz", x_train=objects, y_train=np.zeros(2), x_test=objects, y_test=np.zeros(2))
    with pytest.raises(DatasetError):
        data.load_mnist(bad)


def test_to_float():
    out = data.to_float(np.array([[0, 51, 255]], np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]])


# ----------------------------------------------------------------------------------------------
# the split


def test_split_is_deterministic_and_seeded():
    fake = _fake_mnist()
    a, b = data.train_val_split(fake, 0.1, seed=3), data.train_val_split(fake, 0.1, seed=3)
    for name in ("x_train", "y_train", "x_val", "y_val"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = data.train_val_split(fake, 0.1, seed=4)
    assert not np.array_equal(_indices(a.x_val), _indices(c.x_val))


def test_split_is_disjoint_and_complete():
    fake = _fake_mnist()
    s = data.train_val_split(fake, 0.1, seed=0)
    train, val = _indices(s.x_train), _indices(s.x_val)
    assert len(val) == 100 and len(train) == 900
    assert not set(train) & set(val)
    assert sorted(np.concatenate([train, val])) == list(range(1000))
    # the labels travel with their images
    np.testing.assert_array_equal(s.y_train, fake.y_train[train])
    np.testing.assert_array_equal(s.y_val, fake.y_train[val])
    assert s.x_train.dtype == np.float32 and 0.0 <= s.x_train.min() and s.x_train.max() <= 1.0


def test_split_is_shuffled_not_a_tail():
    fake = _fake_mnist()  # labels grouped by class: a tail split would validate on 9s only
    s = data.train_val_split(fake, 0.1, seed=0)
    assert set(np.unique(s.y_val)) == set(range(10))
    assert set(np.unique(s.y_train)) == set(range(10))


def test_split_of_real_mnist_covers_all_classes(mnist):
    s = data.train_val_split(mnist, 0.1, seed=0)
    assert len(s.x_val) == 6000 and len(s.x_train) == 54000
    counts = np.bincount(s.y_val, minlength=10)
    assert counts.min() > 400, counts
    small = data.train_val_split(mnist, 0.1, seed=0, subset=500)
    assert set(np.unique(small.y_val)) == set(range(10))


@pytest.mark.parametrize("subset, val_fraction, n_train, n_val",
                         [(900, 0.1, 900, 100), (500, 0.1, 500, 56), (800, 0.2, 800, 200), (10, 0.1, 10, 1)])
def test_subset_sizes(subset, val_fraction, n_train, n_val):
    s = data.train_val_split(_fake_mnist(), val_fraction, seed=0, subset=subset)
    assert len(s.x_train) == len(s.y_train) == n_train
    assert len(s.x_val) == len(s.y_val) == n_val
    assert not set(_indices(s.x_train)) & set(_indices(s.x_val))


def test_subset_larger_than_the_data_uses_everything():
    s = data.train_val_split(_fake_mnist(), 0.1, seed=0, subset=5000)
    assert len(s.x_train) + len(s.x_val) == 1000


def test_subset_is_a_prefix_of_the_same_shuffle():
    fake = _fake_mnist()
    small = data.train_val_split(fake, 0.1, seed=0, subset=90)
    big = data.train_val_split(fake, 0.1, seed=0, subset=180)
    # the same seed walks the same permutation: the small run's images are all in the big one
    assert set(_indices(small.x_train)) | set(_indices(small.x_val)) <= set(_indices(big.x_train)) | set(_indices(big.x_val))


def test_subset_too_small_is_a_dataset_error():
    with pytest.raises(DatasetError):
        data.train_val_split(_fake_mnist(), 0.1, seed=0, subset=9)


# ----------------------------------------------------------------------------------------------
# what is wrong with a file that is not MNIST: one sentence, before any training


def _small(x_train=None, y_train=None, x_test=None, y_test=None) -> dict:
    rng = np.random.default_rng(0)
    return dict(
        x_train=rng.integers(0, 256, (30, 28, 28), dtype=np.uint8) if x_train is None else x_train,
        y_train=np.arange(30) % 10 if y_train is None else y_train,
        x_test=rng.integers(0, 256, (5, 28, 28), dtype=np.uint8) if x_test is None else x_test,
        y_test=np.arange(5) % 10 if y_test is None else y_test,
    )


def _refused(path: Path, *words) -> str:
    with pytest.raises(DatasetError) as info:
        data.load_mnist(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message, message
    return message


def test_a_npy_file_is_refused_with_a_message(tmp_path):
    path = tmp_path / "x_train.npy"
    np.save(path, np.zeros((10, 28, 28), np.uint8))  # was: TypeError from `with np.load(...)`
    _refused(path, "a single NumPy array (.npy)", "x_train, y_train, x_test and y_test")


@pytest.mark.parametrize("content", [b"hello, this is text\n", b"", b"\x80\x04K\x01."])
def test_a_file_that_is_no_npz_gets_no_advice_to_unpickle_it(tmp_path, content):
    path = tmp_path / "mnist.npz"
    path.write_bytes(content)
    message = _refused(path, "is not an mnist.npz (not a NumPy .npz archive)")
    assert "pickle" not in message and "unsafe" not in message


def test_an_npz_of_python_objects_gets_no_advice_to_unpickle_it(tmp_path):
    objects = np.empty(2, dtype=object)
    objects[:] = [np.zeros((28, 28)), "x"]
    path = _write_npz(tmp_path / "pickled.npz", x_train=objects, y_train=np.zeros(2), x_test=objects, y_test=np.zeros(2))
    message = _refused(path, "holds Python objects")
    assert "allow_pickle" not in message and "unsafe" not in message


def test_images_scaled_to_0_1_are_refused_not_cut_to_black_and_white(tmp_path):
    arrays = _small()
    arrays["x_train"] = arrays["x_train"].astype(np.float32) / 255.0  # was silently cast: all 0 but the 1.0 pixels
    _refused(_write_npz(tmp_path / "float.npz", **arrays), "x_train", "as if scaled to [0, 1]", "0-255")


def test_float_images_with_whole_pixel_values_are_accepted(tmp_path):
    arrays = _small()
    floats = {**arrays, "x_train": arrays["x_train"].astype(np.float64), "y_train": arrays["y_train"].astype(np.float32)}
    m = data.load_mnist(_write_npz(tmp_path / "f.npz", **floats))
    assert m.x_train.dtype == np.uint8 and np.array_equal(m.x_train, arrays["x_train"])
    assert m.y_train.dtype == np.int64 and np.array_equal(m.y_train, arrays["y_train"])


@pytest.mark.parametrize("x, words", [
    (np.full((30, 28, 28), 300, np.int32), ("values from 300 to 300", "outside the pixel values 0-255")),
    (np.full((30, 28, 28), np.nan, np.float32), ("NaN or infinite",)),
    (np.full((30, 28, 28), True), ("holds bool values",)),
])
def test_images_that_are_no_pixels_are_refused(tmp_path, x, words):
    _refused(_write_npz(tmp_path / "bad.npz", **_small(x_train=x)), "x_train", *words)


@pytest.mark.parametrize("name, labels, words", [
    ("y_train", np.arange(30) % 11, ("labels from 0 to 10", "digits 0-9")),
    ("y_test", np.array([0, 1, -1, 2, 3]), ("labels from -1 to 3",)),
    ("y_train", np.full(30, 0.5), ("not whole numbers",)),
    ("y_train", np.zeros((30, 10)), ("has shape (30, 10)",)),
])
def test_labels_outside_0_to_9_are_refused(tmp_path, name, labels, words):
    """They used to reach TensorFlow, whose InvalidArgumentError ended the classifier's training."""
    _refused(_write_npz(tmp_path / "labels.npz", **_small(**{name: labels})), name, *words)


@pytest.mark.parametrize("which", ["x_test", "x_train"])
def test_an_empty_set_is_refused(tmp_path, which):
    """An empty test set wrote NaN figures into the model's metadata after the whole training."""
    y_name = "y" + which[1:]
    arrays = _small(**{which: np.zeros((0, 28, 28), np.uint8), y_name: np.zeros(0, np.int64)})
    assert _refused(_write_npz(tmp_path / "empty.npz", **arrays)).endswith(f": {which} holds no images.")


def test_an_empty_test_set_is_refused_before_the_training(tmp_path):
    from desktop_denoiser.core.training import TrainConfig, Trainer

    arrays = _small(x_test=np.zeros((0, 28, 28), np.uint8), y_test=np.zeros(0, np.int64))
    path = _write_npz(tmp_path / "empty.npz", **arrays)
    statuses = []
    with pytest.raises(DatasetError):
        Trainer(TrainConfig(arch="conv", epochs=1, mnist=str(path)), on_status=statuses.append).run()
    assert statuses == ["Loading MNIST…"]  # nothing was built or trained
