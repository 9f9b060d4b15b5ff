"""Training on a folder of one's own digits (issue 15): ``TrainConfig.data/mnist_ratio/init``,
core/training_data.py, ``train --data DIR --mnist-ratio R --init NAME`` and the training panel's
data row. Small: 40 MNIST test digits as PNG files, a few batches, one epoch."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image, ImageDraw

from desktop_denoiser import cli as cli_mod
from desktop_denoiser.core import data as data_mod
from desktop_denoiser.core import model_card, runs, training_data
from desktop_denoiser.core.digit_folder import read_folder
from desktop_denoiser.core.errors import ConfigError
from desktop_denoiser.core.noise import NoiseSpec
from desktop_denoiser.core.training import TrainConfig, Trainer

PER_DIGIT = 4


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory, mnist):
    """``0/ … 9/`` with 4 MNIST test digits each (dark ink on white, 56 px), plus what a real folder
    holds: a file that is not an image, a blank page, a folder named ``x`` and a stray file."""
    root = tmp_path_factory.mktemp("my_digits") / "digits"
    seen = {d: 0 for d in range(10)}
    for i, label in enumerate(mnist.y_test):
        d = int(label)
        if seen[d] == PER_DIGIT:
            continue
        (root / str(d)).mkdir(parents=True, exist_ok=True)
        big = Image.fromarray(255 - mnist.x_test[i]).resize((56, 56), Image.Resampling.BICUBIC)
        big.save(root / str(d) / f"t{i:05d}.png")
        seen[d] += 1
        if all(n == PER_DIGIT for n in seen.values()):
            break
    (root / "3" / "broken.png").write_bytes(b"this is not a PNG")
    Image.new("L", (40, 40), 255).save(root / "5" / "blank.png")
    (root / "x").mkdir()
    cat = Image.new("L", (40, 40), 255)
    ImageDraw.Draw(cat).line([(8, 8), (30, 32)], fill=0, width=4)  # ink: a denoiser reads it, a classifier ignores x/
    cat.save(root / "x" / "cat.png")
    return root


def _config(folder, **overrides) -> TrainConfig:
    base = dict(arch="dense", noise=NoiseSpec.parse("uniform:0.5"), epochs=1, batch_size=32, subset=300, val_limit=200,
                patience=None, seed=0, data=str(folder))
    return TrainConfig(**{**base, **overrides})


# ----------------------------------------------------------------------------------------------
# the config


def test_config_round_trips_with_folder_share_and_init(digit_folder):
    cfg = TrainConfig(arch="classifier", noise=NoiseSpec("none"), data=str(digit_folder), mnist_ratio=0.3, init="classifier")
    d = cfg.validate().to_dict()
    assert (d["data"], d["mnist_ratio"], d["init"]) == (str(digit_folder), 0.3, "classifier")
    assert d["learning_rate"] == pytest.approx(1e-4)  # fine-tuning: a tenth of the classifier's 1e-3
    back = TrainConfig.from_dict(json.loads(json.dumps(d)))
    assert (back.data, back.mnist_ratio, back.init, back.lr) == (str(digit_folder), 0.3, "classifier", pytest.approx(1e-4))
    assert back.to_dict() == d
    default = TrainConfig(arch="classifier", noise=NoiseSpec("none"), data=str(digit_folder))
    assert default.mnist_share == training_data.DEFAULT_MNIST_RATIO == 0.5 and default.lr == pytest.approx(1e-3)
    assert TrainConfig().mnist_share == 1.0 and TrainConfig().to_dict()["mnist_ratio"] is None
    assert TrainConfig.from_dict({"arch": "unet"}).data is None  # older metadata: MNIST only, from scratch


@pytest.mark.parametrize("fields, message", [
    (dict(mnist_ratio=0.5), "give the folder too"),
    (dict(data="/no/such/folder"), "No such folder of digit images: /no/such/folder"),
    (dict(data=""), "Choose the folder"),
    (dict(data="FOLDER", mnist_ratio=1.0), "from 0 (the folder alone) to below 1"),
    (dict(data="FOLDER", mnist_ratio=-0.1), "from 0 (the folder alone) to below 1"),
])
def test_config_refuses_bad_data_settings(digit_folder, fields, message):
    if fields.get("data") == "FOLDER":
        fields = {**fields, "data": str(digit_folder)}
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainConfig(arch="classifier", noise=NoiseSpec("none"), **fields).validate()


# ----------------------------------------------------------------------------------------------
# reading, splitting and fingerprinting the folder


def test_unreadable_files_are_said_and_the_rest_used(digit_folder):
    lines = []
    fd = training_data.read(digit_folder, "classifier", 0.25, seed=0, on_problem=lines.append)
    assert len(fd.folder) == 10 * PER_DIGIT and fd.folder.counts == {d: PER_DIGIT for d in range(10)}
    assert any("broken.png" in line and "skipped" in line for line in lines)
    assert any("blank.png" in line for line in lines)
    assert any(line.startswith(str(digit_folder / "x")) and "not a digit" in line for line in lines)
    prov = fd.provenance()
    assert (prov["images"], prov["train_images"], prov["held_out_images"]) == (40, 30, 10)
    assert prov["counts"] == {str(d): PER_DIGIT for d in range(10)} and prov["problems"] == len(lines)


def test_held_out_part_is_seeded_per_digit_and_never_in_training(digit_folder):
    folder = read_folder(digit_folder)
    train, val = training_data.split(folder, 0.25, seed=0)
    assert set(train).isdisjoint(val) and sorted([*train, *val]) == list(range(len(folder)))
    assert sorted(folder.labels[val].tolist()) == list(range(10))  # one of each digit held out (25% of 4)
    again, val_again = training_data.split(folder, 0.25, seed=0)
    assert np.array_equal(val, val_again)
    _, other = training_data.split(folder, 0.25, seed=1)
    assert not np.array_equal(val, other)
    # the reader's order does not matter: the split follows the files' paths
    order = np.random.default_rng(5).permutation(len(folder))
    shuffled = type(folder)(folder.root, folder.images[order], folder.labels[order], [folder.paths[i] for i in order],
                            folder.problems, folder.counts)
    _, val_shuffled = training_data.split(shuffled, 0.25, seed=0)
    assert sorted(shuffled.paths[i] for i in val_shuffled) == sorted(folder.paths[i] for i in val)


def test_fingerprint_follows_the_digits_not_the_place_or_the_dates(digit_folder, tmp_path):
    first = training_data.fingerprint(read_folder(digit_folder))
    copy = tmp_path / "elsewhere"
    shutil.copytree(digit_folder, copy)  # other paths, other dates
    assert training_data.fingerprint(read_folder(copy)) == first
    one = next((copy / "7").glob("t*.png"))
    pixels = np.asarray(Image.open(one)).copy()
    pixels[10:20, 10:20] = 0  # a blot of ink on one digit
    Image.fromarray(pixels).save(one)
    assert training_data.fingerprint(read_folder(copy)) != first
    assert first.startswith("sha256:") and len(first) == len("sha256:") + 64


def test_a_big_folder_is_read_inside_the_windows_training_process(digit_folder, tmp_path, monkeypatch):
    """The window's training child is a daemonic process, which may not start the reader's worker
    processes (a folder of 200 files or more): it reads the folder itself."""
    import multiprocessing

    from desktop_denoiser.core import filebatch

    flat = tmp_path / "flat"
    flat.mkdir()
    pngs = sorted(digit_folder.glob("[0-9]/t*.png"))
    for k in range(filebatch.MIN_FILES_FOR_WORKERS):
        shutil.copy(pngs[k % len(pngs)], flat / f"{k:04d}.png")
    monkeypatch.setitem(multiprocessing.current_process()._config, "daemon", True)
    fd = training_data.read(flat, "denoiser", 0.1, seed=0)
    assert len(fd.folder) == filebatch.MIN_FILES_FOR_WORKERS and (len(fd.x_train), len(fd.x_val)) == (180, 20)


# ----------------------------------------------------------------------------------------------
# the mixed stream


def test_batches_hold_the_mnist_share_and_validation_is_the_held_out_part(digit_folder):
    import tensorflow as tf

    cfg = _config(digit_folder, mnist_ratio=0.25, val_fraction=0.25).validate()
    trainer = Trainer(cfg)
    folder = trainer._folder("denoiser")  # unlabelled: every image below the folder, the ``x/`` one too
    assert folder.y_train is None and len(folder.folder) == 41
    split = data_mod.train_val_split(data_mod.load_mnist(), cfg.val_fraction, cfg.seed, cfg.subset)
    ds = trainer._train_dataset(split, "denoiser", 32, tf, folder)
    train_set = {im.tobytes() for im in folder.x_train}
    held_out = {im.tobytes() for im in folder.x_val}
    from_folder = total = 0
    for noisy, clean in ds.take(20):
        assert noisy.shape == clean.shape == (32, 28, 28, 1)
        for image in np.rint(clean.numpy()[..., 0] * 255).astype(np.uint8):
            key = image.tobytes()
            assert key not in held_out, "a held-out image was trained on"
            from_folder += key in train_set
            total += 1
    assert total == 640
    assert from_folder / total == pytest.approx(0.75, abs=0.07)  # 1 - mnist_ratio, within 4 sigma
    cfg0 = _config(digit_folder, mnist_ratio=0.0, val_fraction=0.25)
    alone = Trainer(cfg0, folder=folder)._train_dataset(None, "denoiser", 32, tf, folder)
    for _, clean in alone.take(3):
        assert all(im.tobytes() in train_set for im in np.rint(clean.numpy()[..., 0] * 255).astype(np.uint8))
    val_noisy, val_clean = trainer._validation_set(split, "denoiser", folder)
    assert val_clean.shape == (len(folder.x_val), 28, 28, 1)
    assert {im.tobytes() for im in np.rint(val_clean[..., 0] * 255).astype(np.uint8)} == held_out


# ----------------------------------------------------------------------------------------------
# train --data --init, end to end


@pytest.fixture(scope="module")
def fine_tuned(tmp_path_factory, digit_folder):
    """``train --arch classifier --data DIR --init classifier`` (the bundled one) with a learning
    rate so small that the weights stay the bundled ones: one epoch, a few batches."""
    home = tmp_path_factory.mktemp("home_fine_tune")
    out = tmp_path_factory.mktemp("out_fine_tune")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DESKTOP_DENOISER_HOME", str(home))
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli_mod.main(["train", "--arch", "classifier", "--data", str(digit_folder), "--init", "classifier",
                                 "--lr", "1e-9", "--epochs", "1", "--batch-size", "16", "--subset", "100",
                                 "--val-fraction", "0.25", "--eval-limit", "100", "--out", str(out), "--name", "mine"])
    meta = json.loads((out / "mine.json").read_text())
    return dict(code=code, out=out, home=home, stdout=stdout.getvalue(), stderr=stderr.getvalue(), meta=meta)


def test_train_data_prints_both_figures_and_the_skipped_files(fine_tuned, digit_folder):
    assert fine_tuned["code"] == 0, fine_tuned["stderr"]
    stdout, stderr = fine_tuned["stdout"], fine_tuned["stderr"]
    assert "test accuracy" in stdout and "on 100 test digits" in stdout
    assert "On the folder's 10 held-out images: accuracy" in stdout
    assert f"desktop-denoiser: {digit_folder / '3' / 'broken.png'}: skipped" in stderr
    assert f"desktop-denoiser: {digit_folder / 'x'}: ignored" in stderr


def test_metadata_and_run_record_say_which_data_the_model_saw(fine_tuned, digit_folder):
    data = fine_tuned["meta"]["data"]
    assert data["source"] == "folder+mnist" and data["mnist_ratio"] == 0.5
    folder = data["folder"]
    assert folder["folder"] == str(digit_folder.resolve()) and folder["labelled"] is True
    assert folder["counts"] == {str(d): PER_DIGIT for d in range(10)}
    assert (folder["images"], folder["train_images"], folder["held_out_images"]) == (40, 30, 10)
    assert folder["fingerprint"] == training_data.fingerprint(read_folder(digit_folder))
    bundled = cli_mod._store().find("classifier")
    assert data["init"]["name"] == "classifier" and data["init"]["path"] == str(bundled.path)
    assert data["held_out"]["test_images"] == 10 and 0 <= data["held_out"]["test_accuracy"] <= 1
    assert fine_tuned["meta"]["config"]["init"] == "classifier"
    run = runs.of_model(fine_tuned["meta"]["run_id"], fine_tuned["home"] / "runs")
    assert run.data == data and run.config["data"] == str(digit_folder)
    from desktop_denoiser.core.store import ModelStore

    card = model_card.card(ModelStore(write_to=fine_tuned["out"]).find("mine"), run)
    assert folder["fingerprint"] in card and str(digit_folder.resolve()) in card
    assert "MNIST share of each batch: 50%" in card and "Started from: classifier" in card
    assert "| augmentation | basic |" in card and "| flagged 1s | none |" in card
    assert "On the folder's 10 held-out images: accuracy" in card


def test_init_starts_from_the_named_weights(fine_tuned, digit_folder, mnist):
    """With lr 1e-9 the trained model is still the bundled classifier: it started from its weights."""
    from desktop_denoiser.core import models
    from desktop_denoiser.core.store import ModelStore

    store = ModelStore(write_to=fine_tuned["out"])
    bundled = store.load(str(store.find("classifier").path), "classifier").model
    mine = store.load("mine", "classifier").model
    x = data_mod.to_float(mnist.x_test[:64])[..., None]
    expected = bundled.predict(x, verbose=0)
    np.testing.assert_allclose(mine.predict(x, verbose=0), expected, atol=1e-4)
    import keras

    keras.utils.set_random_seed(0)
    scratch = models.build("classifier")  # what the same run builds without --init
    assert np.abs(scratch.predict(x, verbose=0) - expected).max() > 0.1


def test_init_of_another_architecture_is_refused(tmp_path):
    from desktop_denoiser.core import training
    from desktop_denoiser.core.store import ModelStore

    store = ModelStore(user_dir=tmp_path / "models")
    with pytest.raises(ConfigError, match="Cannot start from unet-mixed: it is a unet, not a classifier"):
        training.init_entry(store, "unet-mixed", "classifier")


@pytest.mark.parametrize("extra, code, text", [
    (["--data", "NOPE"], 1, "No such folder of digit images"),
    (["--data", "EMPTY"], 1, "has no digit subfolders 0/ to 9/"),
    (["--data", "FOLDER", "--mnist-ratio", "1.5"], 2, "--mnist-ratio: must be from 0 (the folder alone) to below 1"),
    (["--mnist-ratio", "0.5"], 1, "give the folder too"),
    (["--data", "FOLDER", "--init", "no-such-model"], 1, "No model named 'no-such-model'"),
    (["--flag-ones", "2"], 2, "--flag-ones: must be from 0 to 1"),
    (["--arch", "unet", "--flag-ones", "0.5"], 1, "Only the classifier trains on flagged 1s"),
])
def test_bad_folder_or_option_is_one_line_before_any_work(tmp_path, capsys, digit_folder, extra, code, text):
    (tmp_path / "empty").mkdir()
    where = {"NOPE": str(tmp_path / "nope"), "EMPTY": str(tmp_path / "empty"), "FOLDER": str(digit_folder)}
    argv = ["train", "--arch", "classifier", "--out", str(tmp_path / "out"), *[where.get(a, a) for a in extra]]
    with pytest.raises(SystemExit) if code == 2 else contextlib.nullcontext() as exit_info:
        assert cli_mod.main(argv) == code
    if code == 2:
        assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and text in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing trained or saved


# ----------------------------------------------------------------------------------------------
# the training panel


def test_panel_data_row_gives_the_config_and_persists(qtbot, tmp_path, digit_folder):
    from PySide6.QtCore import QSettings

    from desktop_denoiser.gui.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    assert panel.config().data is None and panel.config().init is None  # MNIST, from scratch by default
    panel.arch.setCurrentIndex(panel.arch.findData("classifier"))
    row = panel.data_row
    assert row.start_from.isEnabled() and not row.share.isEnabled()
    with qtbot.waitSignal(row.folder_read, timeout=60_000):
        row.set_folder(str(digit_folder))
    assert row.folder_label.text() == "digits: 40 images, 3 problems (see the tooltip)"
    assert row.folder_label.toolTip().startswith(f"{digit_folder}\n") and "broken.png" in row.folder_label.toolTip()
    assert row.share.isEnabled()
    row.share.setValue(30)
    row.start_from.setCurrentIndex(row.start_from.findData("classifier"))
    assert panel.lr.value() == pytest.approx(1e-4)  # fine-tuning: a tenth of the learning rate
    cfg = panel.config().validate()
    assert (cfg.data, cfg.mnist_ratio, cfg.init, cfg.lr) == (str(digit_folder), 0.3, "classifier", pytest.approx(1e-4))

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    panel.save_settings(settings)
    other = TrainingPanel()
    qtbot.addWidget(other)
    with qtbot.waitSignal(other.data_row.folder_read, timeout=60_000):
        other.restore_settings(settings)
    again = other.config()
    assert (again.arch, again.data, again.mnist_ratio, again.init) == ("classifier", str(digit_folder), 0.3, "classifier")
    assert again.learning_rate == pytest.approx(1e-4)

    other.arch.setCurrentIndex(other.arch.findData("unet"))  # a denoiser: no labels, starts from scratch
    assert other.config().init is None and not other.data_row.start_from.isEnabled()
    other.data_row.source.setCurrentIndex(other.data_row.source.findData("mnist"))
    assert (other.config().data, other.config().mnist_ratio) == (None, None)

    fresh = TrainingPanel()  # a folder as the source, none chosen: refused with a message when started
    qtbot.addWidget(fresh)
    fresh.data_row.source.setCurrentIndex(fresh.data_row.source.findData("folder"))
    with pytest.raises(ConfigError, match="Choose the folder of digit images"):
        fresh.config().validate()
    fresh.arch.setCurrentIndex(fresh.arch.findData("classifier"))
    (tmp_path / "not-digits").mkdir()
    with qtbot.waitSignal(fresh.data_row.folder_read, timeout=60_000):
        fresh.data_row.set_folder(str(tmp_path / "not-digits"))
    assert fresh.data_row.folder_label.text() == "not-digits: cannot be used (see the tooltip)"
    assert "has no digit subfolders 0/ to 9/" in fresh.data_row.folder_label.toolTip()
