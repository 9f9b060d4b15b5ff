"""desktop_denoiser.core.store: saving, loading, listing and checking models."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from desktop_denoiser.core import models, store as store_mod, store_cleanup
from desktop_denoiser.core.errors import ConfigError, DenoiserError, ModelFileError, SaveError
from desktop_denoiser.core.store import FORMAT, ModelStore, load_keras
from conftest import read_only_folder  # noqa: E402

META = {"kind": "denoiser", "architecture": "conv", "noise_label": "uniform:level=0.9",
        "metrics": {"test_psnr": 17.25, "test_accuracy_denoised": 0.9}, "created": "2024-01-01T00:00:00+00:00"}


@pytest.fixture(scope="module")
def conv_model():
    return models.build("conv")


@pytest.fixture
def store(tmp_path) -> ModelStore:
    """A source checkout's layout: a writable bundled folder (saves still go to the user's)."""
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
    assert entry.name == "my-conv" and entry.source == "user"
    assert entry.path == store.user_dir / "my-conv.keras"
    assert entry.path.is_file() and entry.path.with_suffix(".json").is_file()
    on_disk = json.loads(entry.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert on_disk == {**META, "name": "my-conv", "format": FORMAT, "run_id": on_disk["run_id"]}
    assert re.fullmatch(r"[0-9a-f]{32}", on_disk["run_id"])  # names the run: see test_figures_never_cross_runs

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
    assert _listing(store.write_dir) == {} and _listing(store.bundled_dir) == {}


def test_unique_names(store, conv_model):
    names = [store.save(conv_model, META, "x").name for _ in range(3)]
    assert names == ["x", "x-2", "x-3"]
    assert sorted(p.name for p in store.write_dir.glob("*.keras")) == ["x-2.keras", "x-3.keras", "x.keras"]
    assert [e.name for e in store.entries()] == ["x", "x-2", "x-3"]
    # overwrite keeps the name
    assert store.save(conv_model, META, "x", overwrite=True).name == "x"
    assert len(list(store.write_dir.glob("*.keras"))) == 3


def test_unique_names_count_the_other_folder(store, conv_model):
    store.save(conv_model, META, "shared", folder=store.bundled_dir)
    assert store.save(conv_model, META, "shared").name == "shared-2"


@pytest.mark.parametrize("name, expected", [("../escape", "escape"), ("my model/v1", "my-model-v1"), ("", "model"), ("   ", "model")])
def test_names_are_made_safe(store, conv_model, name, expected):
    entry = store.save(conv_model, META, name)
    assert entry.name == expected
    assert entry.path.parent == store.write_dir


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
    assert _listing(store.write_dir) == {}  # no temporary files, no half model, no metadata


def test_failed_save_keeps_the_existing_model(store, conv_model, monkeypatch):
    store.save(conv_model, META, "x")
    before = _listing(store.write_dir)
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
        assert _listing(store.write_dir) == before
    monkeypatch.undo()
    assert store.load("x").entry.meta.get("note") is None


def test_failed_save_with_another_exception_also_cleans_up(store, conv_model):
    store.save(conv_model, META, "x")
    before = _listing(store.write_dir)
    with pytest.raises(RuntimeError):
        store.save(_ExplodingModel(RuntimeError("keras bug")), META, "x", overwrite=True)
    assert _listing(store.write_dir) == before


def test_failed_metadata_write_keeps_the_existing_model(store, conv_model, monkeypatch):
    store.save(conv_model, META, "x")
    before = _listing(store.write_dir)

    real_write_text = Path.write_text

    def fail(self, *args, **kwargs):  # the disk fills up while the metadata is written
        if ".json" in self.name:
            raise OSError(28, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fail)
    other = models.build("conv")
    with pytest.raises(SaveError):
        store.save(other, {**META, "note": "new"}, "x", overwrite=True)
    assert _listing(store.write_dir) == before


def test_temporary_files_are_not_listed(store, conv_model):
    store.save(conv_model, META, "real")
    (store.write_dir / ".real.abc123.tmp.keras").write_bytes(b"partial")
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
    store.save(conv_model, META, "shipped", folder=bundled)
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


def test_a_writable_bundled_folder_is_never_written_to_by_itself(store, conv_model):
    """Issue 12: in a source checkout the bundled folder (git-tracked) is writable; new models
    went there and a training dirtied the checkout. They go to the user's folder."""
    store.save(conv_model, META, "shipped", folder=store.bundled_dir)
    before = _listing(store.bundled_dir)
    assert store.write_dir == store.user_dir
    entry = store.save(conv_model, META, "mine")
    assert (entry.source, entry.path) == ("user", store.user_dir / "mine.keras")
    assert store.save(conv_model, META, "shipped").path == store.user_dir / "shipped-2.keras"  # never replaced
    assert _listing(store.bundled_dir) == before
    with pytest.raises(SaveError) as info:
        store.delete("shipped")
    assert str(info.value) == "shipped ships with the app and cannot be deleted."
    assert _listing(store.bundled_dir) == before


def test_a_store_with_a_folder_of_its_own_writes_only_there_and_reads_it_first(store, conv_model, tmp_path):
    """train --out DIR: DIR, then the bundled models, then the user's; only DIR's names are taken."""
    store.save(conv_model, {**META, "note": "bundled"}, "classifier", folder=store.bundled_dir)
    store.save(conv_model, {**META, "note": "user"}, "classifier", folder=store.user_dir, overwrite=True)
    store.save(conv_model, {**META, "note": "user only"}, "mine")
    bundled, user = _listing(store.bundled_dir), _listing(store.user_dir)
    out = tmp_path / "out"
    own = ModelStore(bundled_dir=store.bundled_dir, user_dir=store.user_dir, write_to=out)
    assert own.write_dir == out
    assert own.find("classifier").meta["note"] == "bundled"  # the shipped one, not the user's
    assert own.find("mine").meta["note"] == "user only"  # the user's models are still there to use
    entry = own.save(conv_model, {**META, "note": "out"}, "classifier")  # taken elsewhere only: not classifier-2
    assert (entry.name, entry.path) == ("classifier", out / "classifier.keras")
    assert own.find("classifier").meta["note"] == "out"
    assert own.save(conv_model, META, "classifier").name == "classifier-2"  # taken in DIR: never replaced
    assert sorted(_listing(out)) == ["classifier-2.json", "classifier-2.keras", "classifier.json", "classifier.keras"]
    assert _listing(store.bundled_dir) == bundled and _listing(store.user_dir) == user


def test_an_overwriting_store_replaces_both_halves_in_place(store, conv_model):
    """train --bundled: the same name, new content, no NAME-2, nothing else touched."""
    first = store.save(conv_model, {**META, "note": "old"}, "shipped", folder=store.bundled_dir)
    store.save(conv_model, META, "other", folder=store.bundled_dir)
    other = {n: b for n, b in _listing(store.bundled_dir).items() if n.startswith("other")}
    old_json = first.path.with_suffix(".json").read_bytes()
    bundled = ModelStore(bundled_dir=store.bundled_dir, user_dir=store.user_dir, write_to=store.bundled_dir, overwrite=True)
    assert bundled.write_dir == store.bundled_dir
    with bundled.reserve("shipped") as res:
        assert res.name == "shipped"
        entry = bundled.save(models.build("dense"), {**META, "architecture": "dense", "note": "new"}, reservation=res)
    assert entry.path == first.path and entry.meta["run_id"] != first.meta["run_id"]
    on_disk = json.loads(entry.path.with_suffix(".json").read_text())
    assert on_disk["note"] == "new" and on_disk["run_id"] == entry.meta["run_id"] != json.loads(old_json)["run_id"]
    assert bundled.load("shipped").model.name == "dense"  # the new model beside its new metadata
    listing = _listing(store.bundled_dir)
    assert sorted(listing) == ["other.json", "other.keras", "shipped.json", "shipped.keras"]
    assert {n: b for n, b in listing.items() if n.startswith("other")} == other
    assert not store.user_dir.exists()


def test_default_store_folders_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(tmp_path / "b"))
    monkeypatch.setenv("DESKTOP_DENOISER_HOME", str(tmp_path / "h"))
    s = ModelStore()
    assert s.bundled_dir == tmp_path / "b"
    assert s.user_dir == tmp_path / "h" / "models"


def test_user_models_shadow_bundled_ones(store, conv_model):
    store.save(conv_model, META, "same", folder=store.bundled_dir)
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
    assert sorted(p.name for p in store.write_dir.iterdir()) == ["kept.json", "kept.keras"]
    with pytest.raises(ModelFileError):
        store.delete("gone")


def test_import_file(store, conv_model, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    conv_model.save(outside / "friend.keras")
    entry = store.import_file(outside / "friend.keras")
    assert entry.name == "friend" and entry.source == "user"
    assert entry.meta["kind"] == "denoiser" and entry.meta["imported_from"] == str(outside / "friend.keras")
    assert store.load("friend").entry.kind == "denoiser"
    (outside / "broken.keras").write_bytes(b"junk")
    with pytest.raises(ModelFileError):
        store.import_file(outside / "broken.keras")
    assert not (store.write_dir / "broken.keras").exists() and _listing(store.bundled_dir) == {}


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
    assert store.find("mine").path == store.write_dir / "mine.keras"


# ----------------------------------------------------------------------------------------------
# reservations: names are taken once, at the start, by one run




def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.is_dir() else []


def test_two_saves_of_one_name_at_once_give_two_consistent_models(store, conv_model):
    """Two real saves of the same name in two threads, started together: before reservations
    both took the free name and the last rename won, leaving one run's .json beside the other's
    .keras."""
    import threading

    dense = models.build("dense")
    start = threading.Barrier(2)
    saved, errors = {}, []

    def save(model, arch):
        try:
            start.wait()
            saved[arch] = store.save(model, {**META, "architecture": arch, "parameters": model.count_params()}, "same")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(m, a)) for m, a in ((conv_model, "conv"), (dense, "dense"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(e.name for e in saved.values()) == ["same", "same-2"]
    assert sorted(p.name for p in store.write_dir.iterdir()) == ["same-2.json", "same-2.keras", "same.json", "same.keras"]
    for arch, entry in saved.items():
        on_disk = json.loads(entry.path.with_suffix(".json").read_text())
        loaded = store.load(entry.name)
        assert on_disk["architecture"] == arch == loaded.model.name  # the metadata describes its own model
        assert on_disk["parameters"] == loaded.model.count_params()
        assert on_disk["run_id"] == entry.meta["run_id"]
    assert saved["conv"].meta["run_id"] != saved["dense"].meta["run_id"]


def test_a_reserved_name_is_not_given_to_another_run(store, conv_model):
    with store.reserve("busy") as res:
        assert res.name == "busy" and res.requested == "busy"
        assert _hidden(store.write_dir) == [".busy.lock"]
        other = store.reserve("busy")  # while the first run trains
        assert (other.name, other.requested) == ("busy-2", "busy")
        other.release()
        assert store.save(conv_model, META, "busy").name == "busy-2"  # released unused: free again
        entry = store.save(conv_model, META, reservation=res)
        assert entry.name == "busy"
    assert _hidden(store.write_dir) == []  # released: the lock file is gone
    assert [e.name for e in store.entries()] == ["busy", "busy-2"]
    with pytest.raises(SaveError):  # a reservation that ended saves nothing
        store.save(conv_model, META, reservation=res)


def test_figures_never_cross_runs(store, conv_model):
    """A figures rewrite for a run whose model was replaced since is refused: it would describe
    another run's model."""
    first = store.save(conv_model, {**META, "note": "run A"}, "x")
    second = store.save(models.build("conv"), {**META, "note": "run B"}, "x", overwrite=True)
    json_path = first.path.with_suffix(".json")
    before = json_path.read_bytes()
    with pytest.raises(SaveError) as info:
        store.update_metadata(first, {"metrics": {"test_psnr": 99.0}})
    assert "x was replaced or deleted" in str(info.value)
    assert json_path.read_bytes() == before
    assert json.loads(before)["note"] == "run B"
    # the figures of the run that is there are written
    updated = store.update_metadata(second, {"metrics": {"test_psnr": 20.5}})
    assert json.loads(json_path.read_text())["metrics"] == {"test_psnr": 20.5} == updated.meta["metrics"]
    assert _hidden(store.write_dir) == []


@pytest.mark.parametrize("name", ["a" * 300, "b" * (store_mod.MAX_NAME_LENGTH + 1)])
def test_a_name_too_long_is_refused_before_anything_is_written(store, name):
    with pytest.raises(ConfigError) as info:
        store.reserve(name)
    assert str(info.value) == f"The model name is too long ({len(name)} characters; at most {store_mod.MAX_NAME_LENGTH})."
    assert _listing(store.write_dir) == {}
    assert store.reserve("c" * store_mod.MAX_NAME_LENGTH).name == "c" * store_mod.MAX_NAME_LENGTH


def test_a_read_only_folder_is_refused_before_anything_is_written(tmp_path, conv_model):
    folder = tmp_path / "ro"
    undo = read_only_folder(folder)
    try:
        store = ModelStore(bundled_dir=folder, user_dir=tmp_path / "user", write_to=folder)
        assert store.write_dir == folder  # no fallback to the user's folder
        with pytest.raises(SaveError) as info:
            store.reserve("x")
        assert str(info.value).startswith(f"Cannot write to {folder}: ")
        with pytest.raises(SaveError):
            store.save(conv_model, META, "x")
        with pytest.raises(SaveError) as info:
            store.reserve("x", folder / "sub")
        assert str(info.value).startswith(f"Cannot create the folder {folder / 'sub'}: ")
        assert list(folder.iterdir()) == [] and not (tmp_path / "user").exists()
    finally:
        undo()


def test_a_file_as_the_folder_is_refused(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("notes")
    with pytest.raises(SaveError) as info:
        ModelStore(bundled_dir=tmp_path / "b", user_dir=tmp_path / "u").reserve("x", afile)
    assert str(info.value) == f"Cannot save models in {afile}: it is not a folder."
    assert afile.read_text() == "notes"


# ----------------------------------------------------------------------------------------------
# a full disk: the message names the file that failed; nothing is left behind


def _keras_temp_dirs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def test_a_full_disk_while_keras_writes_names_the_model_file_and_leaks_nothing(store, conv_model, tmp_path, monkeypatch):
    """Keras writes the weights, then the disk is full: its own temporary folder used to stay
    in /tmp, and the message named the .json."""
    import tempfile

    from keras.src.saving import saving_lib

    temp = tmp_path / "system-temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    real_close = saving_lib.H5IOStore.close

    def close_then_disk_full(self):
        real_close(self)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(saving_lib.H5IOStore, "close", close_then_disk_full)
    with pytest.raises(SaveError) as info:
        store.save(conv_model, META, "full")
    assert str(info.value) == f"Could not save {store.write_dir / 'full.keras'}: No space left on device"
    assert _listing(store.write_dir) == {}
    assert _keras_temp_dirs(temp) == []  # Keras's assets folder is removed too


def test_a_full_disk_while_the_metadata_is_written_names_the_metadata_file(store, conv_model, monkeypatch):
    real_write_text = Path.write_text

    def fail(self, *args, **kwargs):
        if self.name.endswith(".tmp.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fail)
    with pytest.raises(SaveError) as info:
        store.save(conv_model, META, "full")
    assert str(info.value) == f"Could not save {store.write_dir / 'full.json'}: No space left on device"
    assert _listing(store.write_dir) == {}


def test_nan_figures_are_written_as_unknown(store, conv_model):
    entry = store.save(conv_model, {**META, "metrics": {"test_psnr": float("nan"), "test_ssim": np.float32("inf"),
                                                         "test_accuracy_denoised": 0.5}}, "nan")
    text = entry.path.with_suffix(".json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["metrics"] == {"test_psnr": None, "test_ssim": None, "test_accuracy_denoised": 0.5}
    (listed,) = store.entries()
    assert listed.meta["metrics"] == {"test_accuracy_denoised": 0.5} and listed.ignored == ()


# ----------------------------------------------------------------------------------------------
# after a kill: what an unfinished save left is removed by the next start


_KILLED_SAVE = r"""
import os, signal, sys
from pathlib import Path
from desktop_denoiser.core import atomic, models, store as store_mod
from keras.src.saving import saving_lib

folder, name, where = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = store_mod.ModelStore(bundled_dir=folder, user_dir=folder / "user", write_to=folder)
kill = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
if where == "inside-keras":  # Keras has made its temporary folder and is writing the weights
    saving_lib.H5IOStore.close = kill
else:  # the metadata is in place, the model is about to be renamed
    real = atomic.move_into_place
    atomic.move_into_place = lambda tmp, target: kill() if str(target).endswith(".keras") else real(tmp, target)
store.save(models.build("conv"), {"kind": "denoiser", "architecture": "conv"}, name)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_save_is_cleaned_up_by_the_next_start(tmp_path, monkeypatch):
    import subprocess
    import tempfile

    runs = {}
    for name, where in (("a", "inside-keras"), ("b", "between-renames")):  # each in its own folders
        folder, temp = tmp_path / f"models-{name}", tmp_path / f"temp-{name}"
        folder.mkdir()
        temp.mkdir()
        env = {**os.environ, "TMPDIR": str(temp), "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        proc = subprocess.run([sys.executable, "-c", _KILLED_SAVE, str(folder), name, where], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == -9, proc.stderr
        runs[name] = folder, temp, sorted(p.name for p in folder.iterdir())
    # what the kills left: the locks and temporary files, b's metadata without its model, a's Keras folder
    left = runs["a"][2]
    assert ".a.lock" in left and sum(bool(re.fullmatch(r"\.a\.\w{8}\.tmp\.(keras|json)", n)) for n in left) == 2, left
    assert [n for n in _keras_temp_dirs(runs["a"][1]) if n.startswith(store_mod.KERAS_TEMP_PREFIX)], "a's Keras folder"
    left = runs["b"][2]
    assert ".b.lock" in left and "b.json" in left and "b.keras" not in left, left
    assert sum(bool(re.fullmatch(r"\.b\.\w{8}\.tmp\.keras", n)) for n in left) == 1, left

    for name, (folder, temp, _) in runs.items():
        monkeypatch.setattr(tempfile, "tempdir", str(temp))
        monkeypatch.setattr(store_cleanup, "_keras_dirs_cleaned", False)
        store = ModelStore(bundled_dir=folder, user_dir=tmp_path / "user")
        assert store.entries() == []  # no model: the save did not finish
        assert sorted(p.name for p in folder.iterdir()) == []
        assert _keras_temp_dirs(temp) == []
        assert store.save(models.build("conv"), META, name, folder=folder).name == name  # the name is free again


def test_a_save_in_progress_is_left_alone_by_the_cleanup(store, tmp_path):
    folder = store.write_dir
    with store.reserve("live"):
        tmp_files = [folder / ".live.abcd1234.tmp.keras", folder / ".live.efgh5678.tmp.json"]
        for p in tmp_files:
            p.write_bytes(b"being written")
        (folder / "live.json").write_text(json.dumps({**META, "format": FORMAT}))  # renamed, the model is next
        other = ModelStore(bundled_dir=folder, user_dir=tmp_path / "u")  # another program starts meanwhile
        assert other.clean_up() == []
        assert all(p.exists() for p in tmp_files) and (folder / "live.json").exists()
        assert other.entries() == []  # and no half model is listed
    # the run is gone without finishing: the next start removes its leftovers
    assert sorted(ModelStore(bundled_dir=folder, user_dir=tmp_path / "u").clean_up()) == sorted(
        [*tmp_files, folder / "live.json"])
    assert _listing(folder) == {}


def test_the_cleanup_never_removes_files_that_are_not_ours(store, conv_model):
    folder = store.bundled_dir
    store.save(conv_model, META, "kept", folder=folder)
    (folder / "notes.json").write_text('{"mine": true}')  # someone's own file, no model beside it
    (folder / "old.json").write_text(json.dumps(META))  # metadata without our format
    before = _listing(folder)
    assert ModelStore(bundled_dir=folder, user_dir=store.user_dir).clean_up() == []
    assert _listing(folder) == before


# ----------------------------------------------------------------------------------------------
# a broken model in the user's folder does not hide a working bundled one


def _shadowing_user_copy(store, conv_model, write):
    store.save(conv_model, {**META, "created": "2024-01-01T00:00:00+00:00"}, "unet-mixed", folder=store.bundled_dir)
    store.save(conv_model, {**META, "created": "2023-01-01T00:00:00+00:00"}, "older", folder=store.bundled_dir)
    user = store.user_dir
    user.mkdir(parents=True)
    write(user / "unet-mixed.keras")
    (user / "unet-mixed.json").write_text(json.dumps({**META, "created": "2025-01-01T00:00:00+00:00"}))


@pytest.mark.parametrize("damage", ["truncated", "random bytes", "garbled config", "empty"])
def test_a_corrupt_user_model_does_not_hide_the_bundled_one(store, conv_model, damage):
    def write(path):
        good = (store.bundled_dir / "unet-mixed.keras").read_bytes()
        if damage == "truncated":
            path.write_bytes(good[: len(good) // 2])
        elif damage == "random bytes":
            path.write_bytes(np.random.default_rng(0).bytes(4096))
        elif damage == "empty":
            path.write_bytes(b"")
        else:
            with zipfile.ZipFile(store.bundled_dir / "unet-mixed.keras") as src, zipfile.ZipFile(path, "w") as dst:
                for item in src.infolist():
                    dst.writestr(item, b"{ not json" if item.filename == "config.json" else src.read(item.filename))

    _shadowing_user_copy(store, conv_model, write)
    listed = [(e.name, e.source, e.error is None) for e in store.entries()]
    assert listed == [("older", "bundled", True), ("unet-mixed", "bundled", True), ("unet-mixed", "user", False)]
    broken = store.entries()[2]
    assert "unet-mixed.keras" in broken.error and "unusable" in broken.summary()  # reported
    assert store.default("denoiser").path == store.bundled_dir / "unet-mixed.keras"
    assert store.find("unet-mixed").source == "bundled"
    assert store.load("unet-mixed", "denoiser").entry.source == "bundled"
    from desktop_denoiser.core import workflows

    _, d_entry, _ = workflows.load_pipeline(store, need_classifier=False)
    assert d_entry.path == store.bundled_dir / "unet-mixed.keras"


def test_a_user_model_that_fails_to_load_is_skipped_after_the_first_try(store, conv_model):
    """A file that looks whole but that Keras refuses (here: an unsafe Lambda layer)."""
    import keras

    def write(path):
        inp = keras.Input((28, 28, 1))
        keras.Model(inp, keras.layers.Lambda(lambda t: t * 0.5)(inp)).save(path)

    _shadowing_user_copy(store, conv_model, write)
    first = store.default("denoiser")
    assert first.source == "user"  # nothing is known against it yet
    with pytest.raises(ModelFileError):
        store.load(str(first.path), "denoiser")
    assert store.default("denoiser").path == store.bundled_dir / "unet-mixed.keras"
    assert store.load("unet-mixed").entry.source == "bundled"
    assert [e.error is None for e in store.entries() if e.name == "unet-mixed"] == [True, False]


def test_a_good_user_model_still_shadows_the_bundled_one(store, conv_model):
    store.save(conv_model, META, "unet-mixed", folder=store.bundled_dir)
    store.save(conv_model, {**META, "note": "mine"}, "unet-mixed", folder=store.user_dir, overwrite=True)
    assert [(e.name, e.source) for e in store.entries()] == [("unet-mixed", "user")]
    assert store.default("denoiser").meta["note"] == "mine"


# ----------------------------------------------------------------------------------------------
# metadata of the wrong types: dropped field by field, never a crash


@pytest.mark.parametrize("bad, ignored", [
    ({"metrics": {"test_psnr": "high", "test_accuracy_denoised": 0.9}}, ("metrics.test_psnr",)),
    ({"metrics": None}, ("metrics",)),
    ({"metrics": [1, 2]}, ("metrics",)),
    ({"metrics": {"test_psnr": True, "test_accuracy_denoised": [0.9], "test_noise": 3}},
     ("metrics.test_psnr", "metrics.test_accuracy_denoised", "metrics.test_noise")),
    ({"created": 20240101}, ("created",)),
    ({"noise_label": {"kind": "uniform"}, "architecture": 7}, ("noise_label", "architecture")),
    ({"parameters": "many", "epochs_trained": 2.5, "training_seconds": "long"},
     ("parameters", "epochs_trained", "training_seconds")),
    ({"noise": "uniform", "config": {"mnist": 5, "noise": {"kind": "uniform", "params": {"level": "x"}}}},
     ("noise", "config.mnist", "config.noise")),
])
def test_metadata_of_the_wrong_types_is_unknown_not_a_crash(store, conv_model, bad, ignored):
    good = store.save(conv_model, {**META, "created": "2024-06-01T00:00:00+00:00"}, "good")
    entry = store.save(conv_model, META, "odd")
    json_path = entry.path.with_suffix(".json")
    json_path.write_text(json.dumps({**json.loads(json_path.read_text()), **bad}))
    listed = {e.name: e for e in store.entries()}
    odd = listed["odd"]
    assert odd.error is None and sorted(odd.ignored) == sorted(ignored)
    for field in ignored:
        key, _, sub = field.partition(".")
        assert (sub not in odd.meta.get(key, {})) if sub else (key not in odd.meta)
    line = odd.summary()
    assert line.startswith("odd  ") and f"[unknown: {', '.join(odd.ignored)}]" in line
    if "metrics.test_accuracy_denoised" not in ignored and "metrics" not in ignored:
        assert "acc 90.00%" in line
    assert store.default("denoiser").name == "good"  # "created" compared as text only
    assert store.load("odd").entry.meta == odd.meta
    store.update_metadata(odd, {"metrics": {"test_psnr": 18.0}})  # rewritten without the bad fields
    (again,) = [e for e in store.entries() if e.name == "odd"]
    assert again.meta["metrics"] == {"test_psnr": 18.0} and not any(f.startswith("metrics") for f in again.ignored)
    assert good.name == "good"


def test_the_window_describes_models_with_bad_metadata(store, conv_model):
    """The window's model panel and tooltips format these entries (they used to raise)."""
    pytest.importorskip("PySide6")
    from desktop_denoiser.core.figures import ModelFigures
    from desktop_denoiser.gui.descriptions import describe_entry

    bad = {"metrics": {"test_psnr": "high", "test_accuracy_denoised": 0.9, "test_accuracy_noisy": "x"}, "created": 5,
           "parameters": "many", "epochs_trained": 3, "training_seconds": "long"}
    entry = store.save(conv_model, META, "odd")
    json_path = entry.path.with_suffix(".json")
    json_path.write_text(json.dumps({**json.loads(json_path.read_text()), **bad}))
    (odd,) = store.entries()
    figures = ModelFigures.of_entry(odd)
    assert figures.headline() == "not measured" and figures.psnr is None and figures.accuracy_noisy is None
    assert figures.accuracy_denoised == 0.9  # the one figure of the right type is kept
    text = describe_entry(odd)
    assert "not measured" in text and "created" not in text and "3 epochs" in text
    json_path.write_text(json.dumps({**json.loads(json_path.read_text()), "metrics": None}))
    (odd,) = store.entries()
    assert ModelFigures.of_entry(odd).headline() == "not measured" and "<b>odd</b>" in describe_entry(odd)
