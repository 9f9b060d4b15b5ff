"""desktop_denoiser.core.store: saving, loading, listing and checking models."""

from __future__ import annotations

import errno
import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from desktop_denoiser.core import models, store as store_mod
from desktop_denoiser.core.errors import DenoiserError, ModelFileError, SaveError
from desktop_denoiser.core.store import FORMAT, ModelStore, load_keras

META = {"kind": "denoiser", "architecture": "conv", "noise_label": "uniform:level=0.9",
        "metrics": {"test_psnr": 17.25, "test_accuracy_denoised": 0.9}, "created": "2024-01-01T00:00:00+00:00"}


@pytest.fixture(scope="module")
def conv_model():
    return models.build("conv")


@pytest.fixture
def store(tmp_path) -> ModelStore:
    bundled = tmp_path / "bundled"
    bundled.mkdir()
    return ModelStore(bundled_dir=bundled, user_dir=tmp_path / "user" / "models")


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def _foreign_model(shape_in=(32, 32, 3), out_units=None):
    import keras

    inp = keras.Input(shape_in)
    x = keras.layers.Conv2D(2, 3, padding="same")(inp)
    if out_units:
        x = keras.layers.Dense(out_units)(keras.layers.Flatten()(x))
    return keras.Model(inp, x)


# ----------------------------------------------------------------------------------------------
# round trip


def test_save_and_load_round_trip(store, conv_model):
    entry = store.save(conv_model, META, "my-conv")
    assert entry.name == "my-conv" and entry.source == "bundled"
    assert entry.path == store.bundled_dir / "my-conv.keras"
    assert entry.path.is_file() and entry.path.with_suffix(".json").is_file()
    on_disk = json.loads(entry.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert on_disk == {**META, "name": "my-conv", "format": FORMAT}

    loaded = store.load("my-conv")
    assert loaded.entry.meta == on_disk
    assert loaded.entry.kind == "denoiser" and loaded.entry.architecture == "conv"
    for a, b in zip(conv_model.get_weights(), loaded.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded.model(x)), np.asarray(conv_model(x)), atol=1e-6)
    # by path too, and with the expected kind
    assert store.load(str(entry.path), "denoiser").entry.name == "my-conv"


def test_metadata_with_numpy_values_is_saved(store, conv_model):
    meta = {**META, "metrics": {"test_psnr": np.float32(18.5), "test_images": np.int64(10)}, "where": Path("/x")}
    entry = store.save(conv_model, meta, "np")
    on_disk = json.loads(entry.path.with_suffix(".json").read_text())
    assert on_disk["metrics"] == {"test_psnr": 18.5, "test_images": 10}
    assert on_disk["where"] == "/x"


def test_unserialisable_metadata_is_a_save_error_and_writes_nothing(store, conv_model):
    with pytest.raises(SaveError):
        store.save(conv_model, {**META, "bad": object()}, "bad")
    assert _listing(store.bundled_dir) == {}


def test_unique_names(store, conv_model):
    names = [store.save(conv_model, META, "x").name for _ in range(3)]
    assert names == ["x", "x-2", "x-3"]
    assert sorted(p.name for p in store.bundled_dir.glob("*.keras")) == ["x-2.keras", "x-3.keras", "x.keras"]
    assert [e.name for e in store.entries()] == ["x", "x-2", "x-3"]
    # overwrite keeps the name
    assert store.save(conv_model, META, "x", overwrite=True).name == "x"
    assert len(list(store.bundled_dir.glob("*.keras"))) == 3


def test_unique_names_count_the_other_folder(store, conv_model):
    store.save(conv_model, META, "shared", folder=store.user_dir)
    assert store.save(conv_model, META, "shared").name == "shared-2"


@pytest.mark.parametrize("name, expected", [("../escape", "escape"), ("my model/v1", "my-model-v1"), ("", "model"), ("   ", "model")])
def test_names_are_made_safe(store, conv_model, name, expected):
    entry = store.save(conv_model, META, name)
    assert entry.name == expected
    assert entry.path.parent == store.bundled_dir


# ----------------------------------------------------------------------------------------------
# atomic save


class _ExplodingModel:
    """Writes half a file, then fails, like a full disk in the middle of model.save."""

    def __init__(self, exc):
        self.exc = exc
        self.calls = 0

    def save(self, path, **kwargs):
        self.calls += 1
        Path(path).write_bytes(b"PK\x03\x04 partial")
        raise self.exc


def test_failed_save_leaves_no_files(store):
    model = _ExplodingModel(OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(SaveError) as info:
        store.save(model, META, "new")
    assert model.calls == 1
    assert "No space left" in str(info.value)
    assert _listing(store.bundled_dir) == {}  # no temporary files, no half model, no metadata


def test_failed_save_keeps_the_existing_model(store, conv_model, monkeypatch):
    store.save(conv_model, META, "x")
    before = _listing(store.bundled_dir)
    assert set(before) == {"x.keras", "x.json"}
    # the real model's save raises midway (after writing part of the file)
    real_save = type(conv_model).save

    def save_then_fail(self, path, *args, **kwargs):
        real_save(self, path, *args, **kwargs)
        with open(path, "r+b") as fh:
            fh.truncate(100)
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(type(conv_model), "save", save_then_fail)
    for overwrite in (True, False):
        with pytest.raises(SaveError):
            store.save(conv_model, {**META, "note": "new"}, "x", overwrite=overwrite)
        assert _listing(store.bundled_dir) == before
    monkeypatch.undo()
    assert store.load("x").entry.meta.get("note") is None


def test_failed_save_with_another_exception_also_cleans_up(store, conv_model):
    store.save(conv_model, META, "x")
    before = _listing(store.bundled_dir)
    with pytest.raises(RuntimeError):
        store.save(_ExplodingModel(RuntimeError("keras bug")), META, "x", overwrite=True)
    assert _listing(store.bundled_dir) == before


def test_failed_metadata_write_keeps_the_existing_model(store, conv_model, monkeypatch):
    store.save(conv_model, META, "x")
    before = _listing(store.bundled_dir)

    real_write_text = Path.write_text

    def fail(self, *args, **kwargs):  # the disk fills up while the metadata is written
        if ".json" in self.name:
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fail)
    other = models.build("conv")
    with pytest.raises(SaveError):
        store.save(other, {**META, "note": "new"}, "x", overwrite=True)
    assert _listing(store.bundled_dir) == before


def test_temporary_files_are_not_listed(store, conv_model):
    store.save(conv_model, META, "real")
    (store.bundled_dir / ".real.abc123.tmp.keras").write_bytes(b"partial")
    assert [e.name for e in store.entries()] == ["real"]


# ----------------------------------------------------------------------------------------------
# bad files: one ModelFileError, never another exception


def _assert_model_file_error(call, *words):
    with pytest.raises(ModelFileError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and message
    for word in words:
        assert word in message, message
    return message


def test_random_bytes_keras_file(store):
    path = store.bundled_dir / "noise.keras"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _assert_model_file_error(lambda: store.load("noise"), "noise.keras")
    _assert_model_file_error(lambda: load_keras(path), "noise.keras")


def test_empty_keras_file(store):
    (store.bundled_dir / "empty.keras").write_bytes(b"")
    _assert_model_file_error(lambda: store.load("empty"), "empty.keras")


def test_truncated_keras_file(store, conv_model):
    entry = store.save(conv_model, META, "whole")
    data = entry.path.read_bytes()
    cut = store.bundled_dir / "cut.keras"
    cut.write_bytes(data[: len(data) // 2])
    cut.with_suffix(".json").write_text(json.dumps(META))
    _assert_model_file_error(lambda: store.load("cut"), "cut.keras")


def test_zip_that_is_not_a_keras_model(store):
    path = store.bundled_dir / "zip.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "not a model")
    _assert_model_file_error(lambda: store.load("zip"), "zip.keras")


def test_keras_file_with_garbled_config(store, conv_model):
    entry = store.save(conv_model, META, "src")
    path = store.bundled_dir / "garbled.keras"
    with zipfile.ZipFile(entry.path) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            dst.writestr(item, b"{ not json" if item.filename == "config.json" else data)
    _assert_model_file_error(lambda: store.load("garbled"), "garbled.keras")


def test_model_with_the_wrong_input_shape(store):
    _foreign_model((32, 32, 3)).save(store.bundled_dir / "cifar.keras")
    _assert_model_file_error(lambda: store.load("cifar"), "cifar.keras", "28×28×1")


def test_model_with_the_wrong_output_shape(store):
    _foreign_model((28, 28, 1), out_units=5).save(store.bundled_dir / "five.keras")
    _assert_model_file_error(lambda: store.load("five"), "five.keras")


def test_model_of_the_wrong_kind(store, conv_model):
    store.save(conv_model, META, "den")
    _assert_model_file_error(lambda: store.load("den", "classifier"), "den.keras")
    # metadata that contradicts the model
    store.save(conv_model, {**META, "kind": "classifier"}, "liar")
    _assert_model_file_error(lambda: store.load("liar"), "liar.keras")


def test_unsafe_lambda_layer_is_refused(store):
    import keras

    inp = keras.Input((28, 28, 1))
    out = keras.layers.Lambda(lambda t: t * 0.5)(inp)
    keras.Model(inp, out).save(store.bundled_dir / "lambda.keras")
    _assert_model_file_error(lambda: store.load("lambda"), "lambda.keras")


def test_not_a_keras_suffix(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n")
    _assert_model_file_error(lambda: load_keras(path), "model.h5")


@pytest.mark.parametrize(
    "text",
    ["{ this is not json", "", "[1, 2, 3]", '{"kind": "toaster"}', '"just a string"', "\xff\xfe garbage"],
)
def test_malformed_metadata(store, conv_model, text):
    entry = store.save(conv_model, META, "m")
    json_path = entry.path.with_suffix(".json")
    if text.startswith("\xff"):
        json_path.write_bytes(b"\xff\xfe\x00garbage")
    else:
        json_path.write_text(text, encoding="utf-8")
    message = _assert_model_file_error(lambda: store.load("m"), "m.json")
    # listing does not raise: the entry carries the error
    (listed,) = store.entries()
    assert listed.name == "m" and listed.error == message
    assert "unusable" in listed.summary()
    # and it is never the store's default
    assert store.default("denoiser") is None


def test_missing_metadata_loads_with_inferred_kind(store, conv_model):
    entry = store.save(conv_model, META, "bare")
    entry.path.with_suffix(".json").unlink()
    (listed,) = store.entries()
    assert listed.error is None and listed.kind == "unknown"
    loaded = store.load("bare")
    assert loaded.entry.kind == "denoiser"
    assert loaded.entry.architecture == "conv"  # the Keras model's name
    assert store.load("bare", "denoiser").entry.kind == "denoiser"


def test_missing_model_name(store, conv_model):
    store.save(conv_model, META, "present")
    message = _assert_model_file_error(lambda: store.load("absent"), "absent")
    assert "present" in message  # lists what is available
    _assert_model_file_error(lambda: store.load(str(store.bundled_dir / "absent.keras")), "absent.keras")


def test_errors_are_denoiser_errors():
    assert issubclass(ModelFileError, DenoiserError) and issubclass(SaveError, DenoiserError)


# ----------------------------------------------------------------------------------------------
# folders


def test_read_only_bundled_folder_sends_saves_to_the_user_folder(store, conv_model):
    bundled = store.bundled_dir
    store.save(conv_model, META, "shipped")
    os.chmod(bundled, 0o555)
    try:
        if os.access(bundled, os.W_OK):
            pytest.skip("running as root: a 0o555 folder is still writable")
        assert store.write_dir == store.user_dir
        entry = store.save(conv_model, META, "mine")
        assert entry.source == "user"
        assert entry.path == store.user_dir / "mine.keras"
        assert sorted(p.name for p in bundled.iterdir()) == ["shipped.json", "shipped.keras"]
        with pytest.raises(SaveError):
            store.delete("shipped")  # ships with the app
        assert [(e.name, e.source) for e in store.entries()] == [("shipped", "bundled"), ("mine", "user")]
    finally:
        os.chmod(bundled, stat.S_IRWXU)


def test_unwritable_bundled_folder_even_as_root(store, conv_model, monkeypatch):
    """The same as above where chmod cannot help (root): the OS says the folder is not writable."""
    from desktop_denoiser.core import paths

    real_access = os.access
    bundled = store.bundled_dir

    def access(path, mode, *args, **kwargs):
        if Path(path) == bundled and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(paths.os, "access", access)
    assert store.write_dir == store.user_dir
    entry = store.save(conv_model, META, "mine")
    assert entry.source == "user" and entry.path == store.user_dir / "mine.keras"
    assert list(bundled.iterdir()) == []


def test_missing_bundled_folder_sends_saves_to_the_user_folder(tmp_path, conv_model):
    store = ModelStore(bundled_dir=tmp_path / "not-installed", user_dir=tmp_path / "home" / "models")
    assert store.write_dir == store.user_dir
    assert store.entries() == []
    entry = store.save(conv_model, META, "mine")
    assert entry.source == "user"
    assert (tmp_path / "home" / "models" / "mine.keras").is_file()
    assert not (tmp_path / "not-installed").exists()
    assert [(e.name, e.source) for e in store.entries()] == [("mine", "user")]


def test_writable_bundled_folder_is_the_write_folder(store):
    assert store.write_dir == store.bundled_dir


def test_default_store_folders_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(tmp_path / "b"))
    monkeypatch.setenv("DESKTOP_DENOISER_HOME", str(tmp_path / "h"))
    s = ModelStore()
    assert s.bundled_dir == tmp_path / "b"
    assert s.user_dir == tmp_path / "h" / "models"


def test_user_models_shadow_bundled_ones(store, conv_model):
    store.save(conv_model, META, "same")
    store.save(conv_model, {**META, "note": "mine"}, "same", folder=store.user_dir, overwrite=True)
    entries = store.entries()
    assert [(e.name, e.source) for e in entries] == [("same", "user")]
    assert store.load("same").entry.meta["note"] == "mine"


def test_entries_by_kind_and_default(store, conv_model):
    store.save(conv_model, {**META, "created": "2024-01-01T00:00:00+00:00"}, "older")
    store.save(conv_model, {**META, "created": "2024-06-01T00:00:00+00:00"}, "newer")
    assert [e.name for e in store.entries("denoiser")] == ["newer", "older"]
    assert store.entries("classifier") == []
    assert store.default("denoiser").name == "newer"
    assert store.default("classifier") is None
    store.save(conv_model, {**META, "created": "2000-01-01T00:00:00+00:00"}, store_mod.DEFAULT_DENOISER)
    assert store.default("denoiser").name == store_mod.DEFAULT_DENOISER  # the shipped default wins


def test_delete(store, conv_model):
    store.save(conv_model, META, "gone")
    store.save(conv_model, META, "kept")
    store.delete("gone")
    assert sorted(p.name for p in store.bundled_dir.iterdir()) == ["kept.json", "kept.keras"]
    with pytest.raises(ModelFileError):
        store.delete("gone")


def test_import_file(store, conv_model, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    conv_model.save(outside / "friend.keras")
    entry = store.import_file(outside / "friend.keras")
    assert entry.name == "friend" and entry.source == "bundled"
    assert entry.meta["kind"] == "denoiser" and entry.meta["imported_from"] == str(outside / "friend.keras")
    assert store.load("friend").entry.kind == "denoiser"
    (outside / "broken.keras").write_bytes(b"junk")
    with pytest.raises(ModelFileError):
        store.import_file(outside / "broken.keras")
    assert not (store.bundled_dir / "broken.keras").exists()


# ----------------------------------------------------------------------------------------------
# the session's really trained models


def test_tiny_models_are_stored_with_real_metadata(tiny_models):
    store = tiny_models.store
    names = {e.name: e for e in store.entries()}
    ours = {tiny_models.denoiser_name, tiny_models.conv_name, tiny_models.classifier_name}
    assert set(names) >= ours  # other tests (the GUI's) may add models to the shared folder
    assert all(names[n].error is None and names[n].source == "bundled" for n in ours)
    clf = names[tiny_models.classifier_name].meta
    assert clf["kind"] == "classifier" and clf["architecture"] == "classifier" and clf["format"] == FORMAT
    assert clf["metrics"]["test_accuracy"] >= 0.85 and clf["metrics"]["test_images"] == 1000
    assert clf["epochs_trained"] == 2 and len(clf["history"]) == 2 and clf["best_epoch"] in (1, 2)
    den = names[tiny_models.denoiser_name].meta
    assert den["kind"] == "denoiser" and den["architecture"] == "unet"
    m = den["metrics"]
    assert m["test_psnr"] > m["test_psnr_noisy"]  # it denoises
    assert m["classifier"] == tiny_models.classifier_name and "test_accuracy_denoised" in m
    assert den["parameters"] == models.build("unet").count_params()
    assert store.default("denoiser").name == tiny_models.denoiser_name
    assert store.default("classifier").name == tiny_models.classifier_name
    assert "acc" in names[tiny_models.classifier_name].summary()
    assert "PSNR" in names[tiny_models.denoiser_name].summary()


def test_find_prefers_a_stored_name_over_an_unrelated_folder(store, conv_model, tmp_path, monkeypatch):
    store.save(conv_model, META, "mine")
    work = tmp_path / "work"
    (work / "mine").mkdir(parents=True)  # e.g. the user's own folder of digits called 'mine'
    monkeypatch.chdir(work)
    assert store.find("mine").path == store.bundled_dir / "mine.keras"
