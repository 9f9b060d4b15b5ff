"""The record of every training (issue 14): runs written as they go, from ``train`` and from the
window's training process, listed, shown, compared, deleted; model cards; exports."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_denoiser import __version__
from desktop_denoiser.core import runs

REPO_ROOT = Path(__file__).resolve().parents[1]
ERROR_PREFIX = "desktop-denoiser: error:"
TF_NOISE = ("WARNING:", "I0000", "E0000", "W0000")
EPOCH_LINE = re.compile(r"^epoch (\d+): loss (\d+\.\d{4})  val_loss (\d+\.\d{4})  val PSNR (\d+\.\d\d) dB")


def run_cli(*args, home, cwd, bundled=None, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "desktop_denoiser", *map(str, args)], cwd=cwd, env=_env(home, bundled),
                          capture_output=True, text=True, timeout=timeout)


def _env(home, bundled=None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["DESKTOP_DENOISER_HOME"] = str(home)
    if bundled is not None:
        env["DESKTOP_DENOISER_BUNDLED"] = str(bundled)
    return env


def stderr_lines(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(TF_NOISE)]


def one_error_line(proc, *words) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = stderr_lines(proc)
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), proc.stderr
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


@pytest.fixture
def home(_isolated_home) -> Path:
    return _isolated_home


def _config(**overrides):
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.training import TrainConfig

    base = dict(arch="dense", noise=NoiseSpec.parse("uniform:0.5"), epochs=2, batch_size=32, subset=300, val_limit=200,
                patience=None)
    return TrainConfig(**{**base, **overrides})


def _store(tmp_path):
    from desktop_denoiser.core.store import ModelStore

    return ModelStore(bundled_dir=tmp_path / "no-bundled", user_dir=tmp_path / "user")


def _only_run(home: Path) -> runs.Run:
    found = runs.all_runs(home / "runs")
    assert len(found) == 1, found
    return found[0]


# ----------------------------------------------------------------------------------------------
# `train` records its run


def test_train_records_its_run(tmp_path, home, mnist):
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.training import TrainConfig

    out = tmp_path / "out"
    proc = run_cli("train", "--arch", "dense", "--subset", "300", "--epochs", "2", "--batch-size", "32",
                   "--eval-limit", "200", "--out", out, home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = _only_run(home)
    expected = TrainConfig(arch="dense", noise=NoiseSpec("mixed"), epochs=2, batch_size=32, subset=300, patience=3)
    assert run.config == expected.to_dict() and run.config["seed"] == 0
    assert run.status == runs.ENDED and run.state == "finished" and run.origin == "command line"
    assert run.versions["app"] == __version__ and run.versions["python"] == platform.python_version()
    assert run.versions["tensorflow"].startswith("2.") and run.device.startswith(("CPU: ", "GPU: "))
    printed = [EPOCH_LINE.match(line) for line in proc.stderr.splitlines() if EPOCH_LINE.match(line)]
    assert [int(m[1]) for m in printed] == [e["epoch"] for e in run.epochs] == [1, 2]
    for m, e in zip(printed, run.epochs):
        assert (m[2], m[3], m[4]) == (f"{e['loss']:.4f}", f"{e['val_loss']:.4f}", f"{e['val_metric']:.2f}")
        assert e["val_metric_name"] == "psnr" and e["step"] == 9 * e["epoch"]
    # every batch's loss: steps 1..18, and each epoch's loss is the mean of its batches'
    losses = run.losses()
    assert losses.dtype == np.float32 and losses.shape == (18, 2) == (run.steps, 2)
    assert losses[:, 0].tolist() == list(range(1, 19)) and np.isfinite(losses[:, 1]).all()
    for e in run.epochs:
        assert np.mean(losses[e["step"] - 9: e["step"], 1]) == pytest.approx(e["loss"], rel=1e-3)
    # the end, the model and its figures
    end = run.training_end()
    assert end.outcome.value == "finished" and proc.stdout.splitlines()[0] == f"{end.describe()} On {end.device}."
    assert end.epochs == 2 and end.steps == 18 and end.model == "dense-mixed"
    m = re.search(r"^saved (\S+) to (.+\.keras)$", proc.stdout, re.M)
    model_path = Path(m[2])
    assert run.model == {"name": "dense-mixed", "path": str(model_path), "saved": True} and model_path.is_file()
    meta = json.loads(model_path.with_suffix(".json").read_text())
    assert meta["run_id"] == run.run_id  # model and run name each other
    assert run.figures == meta["metrics"] and run.figures["test_images"] == 200 and run.figures["test_psnr"] > 0
    assert run.seconds >= end.seconds > 0
    assert not (home / "models").exists() and sorted(p.name for p in out.iterdir()) == ["dense-mixed.json", "dense-mixed.keras"]

    listed = run_cli("runs", home=home, cwd=tmp_path)
    assert listed.returncode == 0 and stderr_lines(listed) == []
    header, row = listed.stdout.splitlines()
    assert header.split() == ["id", "date", "arch", "noise", "bottleneck", "epochs", "outcome", "duration", "figures", "model"]
    assert row.startswith(run.short_id + "  ")
    for cell in ("dense", "mixed", " 64 ", "2/2", "finished", f"PSNR {meta['metrics']['test_psnr']:.2f} dB", "dense-mixed"):
        assert cell in row, (cell, row)

    shown = run_cli("runs", "show", run.run_id[:5], home=home, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert text.startswith(f"run {run.run_id}\nstate: finished") and f"end: {end.describe()}" in text
    assert "  subset: 300" in text and "  noise: mixed" in text and "batches: 18" in text
    assert f"  epoch 2: loss {run.epochs[1]['loss']:.4f}" in text
    from desktop_denoiser.core.figures import ModelFigures

    for line in ModelFigures.from_metrics("denoiser", meta["metrics"]).lines():
        assert f"  {line}" in text


# ----------------------------------------------------------------------------------------------
# how a run ends: cancelled, failed, killed


def test_a_cancelled_training_is_recorded_as_cancelled_epoch_by_epoch(tmp_path, home, mnist):
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.training import Trainer

    seen = []

    def on_epoch(e):  # the epoch is on disk before it is reported; the run is ours and alive
        (run,) = runs.all_runs(home / "runs")
        seen.append((run.state, run.pid, [x["epoch"] for x in run.epochs], run.epochs[-1]["val_loss"], e.val_loss))
        trainer.cancel()

    trainer = Trainer(_config(epochs=20, subset=600), on_epoch=on_epoch)
    result, entry = workflows.train_and_save(trainer, _store(tmp_path), "cut", eval_limit=50, origin="test")
    assert result.cancelled and entry is not None
    ((state, pid, epochs, recorded, reported),) = seen
    assert (state, pid, epochs, recorded) == (runs.RUNNING, os.getpid(), [1], reported)
    run = runs.of_model(entry.meta["run_id"])
    assert run is not None and run.origin == "test"
    end = run.training_end()
    assert run.state == "cancelled" and end.outcome.value == "cancelled" and end.best_epoch == 1
    assert end.describe().startswith("Cancelled after 1 epoch; kept best epoch 1, saved as cut")
    assert run.steps == result.steps == run.losses().shape[0] > 600 // 32  # stopped within the second epoch
    assert run.model["saved"] and Path(run.model["path"]) == entry.path and run.figures == entry.meta["metrics"] != {}


def test_a_failed_training_is_recorded_with_its_message(tmp_path, home):
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.errors import DatasetError
    from desktop_denoiser.core.training import Trainer

    missing = tmp_path / "nowhere" / "mnist.npz"
    with pytest.raises(DatasetError) as raised:
        workflows.train_and_save(Trainer(_config(mnist=str(missing))), _store(tmp_path), "never")
    run = _only_run(home)
    end = run.training_end()
    assert run.state == "failed" and end.message == str(raised.value) and f"MNIST file not found: {missing}" in end.message
    assert end.describe() == f"Training failed: {end.message}" and not end.saved
    assert run.model == {"name": "never", "path": str(tmp_path / "user" / "never.keras"), "saved": False}
    assert run.epochs == [] and run.steps == 0 and run.config["mnist"] == str(missing)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_training_is_listed_as_killed_with_its_epochs(tmp_path, home, mnist):
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop_denoiser", "train", "--arch", "dense", "--subset", "3000", "--epochs", "200",
         "--batch-size", "32", "--patience", "0", "--out", str(tmp_path / "out")],
        cwd=tmp_path, env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    printed = None
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            printed = EPOCH_LINE.match(line)
            if printed:
                break
        assert printed, "no epoch line"
        refused = run_cli("runs", "delete", _only_run(home).run_id[:6], home=home, cwd=tmp_path)  # it runs
        one_error_line(refused, "still running", f"process {proc.pid}")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        proc.stderr.close()
    run = _only_run(home)
    assert run.status == runs.RUNNING and run.pid == proc.pid and run.state == runs.KILLED and run.end is None
    assert len(run.epochs) >= 1 and f"{run.epochs[0]['loss']:.4f}" == printed[2]
    assert run.losses().shape[0] >= run.epochs[0]["step"] == 3000 // 32
    listed = run_cli("runs", home=home, cwd=tmp_path)
    (row,) = listed.stdout.splitlines()[1:]
    assert " killed " in row and f"{len(run.epochs)}/200" in row and "(dense-mixed: not saved)" in row
    shown = run_cli("runs", "show", run.short_id, home=home, cwd=tmp_path).stdout
    assert "state: killed" in shown and "the process ended without a word" in shown and "epoch 1: loss " in shown
    deleted = run_cli("runs", "delete", run.short_id, home=home, cwd=tmp_path)  # a killed run may go
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"deleted run {run.run_id}"
    assert not run.folder.exists()


class _FakeTrainer:
    """What a RunRecorder needs of a Trainer, without training."""

    def __init__(self):
        self.config = _config()
        self.epochs = []
        self.on_epoch, self.on_batch = self.epochs.append, None


def test_losses_are_buffered_and_flushed_within_a_long_epoch(tmp_path, monkeypatch):
    from desktop_denoiser.core import run_recorder
    from desktop_denoiser.core.training import EpochResult

    trainer = _FakeTrainer()
    with run_recorder.RunRecorder(trainer, "a" * 32, folder=tmp_path) as record:
        losses_file = tmp_path / ("a" * 32) / runs.LOSSES_FILE
        for step in range(1, 101):
            trainer.on_batch(step, 1.0 / step)
        assert not losses_file.exists()  # in memory: no file per batch
        monkeypatch.setattr(run_recorder, "FLUSH_SECONDS", 0.0)  # a long epoch: written every so often
        for step in range(101, 201):
            trainer.on_batch(step, 1.0 / step)
        assert np.load(losses_file).shape == (192, 2)  # every 64th batch once 30 s have passed (here: at once)
        trainer.on_epoch(EpochResult(1, 0.5, 0.4, 20.0, 1.0, 200))
        assert trainer.epochs[0].epoch == 1  # the trainer's own callback still hears it
        on_disk = runs.read(tmp_path / ("a" * 32))
        assert on_disk.steps == 200 and on_disk.epochs[0]["val_loss"] == 0.4 and on_disk.state == runs.RUNNING
        np.testing.assert_allclose(on_disk.losses()[:, 1], 1.0 / np.arange(1, 201), rtol=1e-6)
    assert trainer.on_batch is None and trainer.on_epoch == trainer.epochs.append  # unwrapped
    assert record.run.state == "failed" and "without a result" in record.run.end["message"]


def test_a_run_that_cannot_be_written_is_said_once_and_never_stops_the_training(tmp_path, monkeypatch):
    from conftest import fail_metadata_writes

    from desktop_denoiser.core import run_recorder
    from desktop_denoiser.core.training import EpochResult

    fail_metadata_writes(monkeypatch)  # every *.tmp.json write fails: the disk is full
    said, trainer = [], _FakeTrainer()
    with run_recorder.RunRecorder(trainer, "b" * 32, folder=tmp_path, on_status=said.append) as record:
        trainer.on_batch(1, 0.5)
        trainer.on_epoch(EpochResult(1, 0.5, 0.4, 20.0, 1.0, 1))
    assert record.broken and len(said) == 1 and "not recorded" in said[0] and "No space left" in said[0]
    assert trainer.epochs[0].epoch == 1


def test_a_process_that_is_gone_or_reused_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not runs.process_alive(child.pid)
    assert runs.process_alive(os.getpid())
    if runs.process_start(os.getppid()) is not None:
        assert runs.process_alive(os.getppid(), runs.process_start(os.getppid()))
        assert not runs.process_alive(os.getppid(), "another-boot:12")  # the id now names another process


# ----------------------------------------------------------------------------------------------
# the window's trainings: the training process


def test_the_window_training_process_records_its_run_and_later_figures(tmp_path, home, mnist):
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.inference import Pipeline
    from desktop_denoiser.core.training_process import TrainingProcess

    store = _store(tmp_path)
    events = list(TrainingProcess(_config(), store, "from-window").events())
    end = events[-1][1]
    assert end.outcome.value == "finished"
    run = runs.of_model(end.entry.meta["run_id"])
    assert run is not None and run.origin == "window" and run.pid != os.getpid() and run.state == "finished"
    assert run.config == _config().to_dict() and run.device == end.device
    epochs = [e[1] for e in events if e[0] == "epoch"]
    assert [(e["epoch"], e["loss"], e["val_loss"]) for e in run.epochs] == [(e.epoch, e.loss, e.val_loss) for e in epochs]
    assert run.training_end().describe() == end.describe() and run.model["path"] == str(end.entry.path)
    assert run.figures == {}  # the window measures later, in its inference thread
    loaded = store.load("from-window", "denoiser")
    figures, updated = workflows.measure_entry(store, end.entry, Pipeline(loaded.model, None, warmup=False), None, limit=100)
    run = runs.of_model(end.entry.meta["run_id"])
    assert run.figures == figures.to_metrics() == updated.meta["metrics"] and run.figures["test_images"] == 100
    assert [m["noise"] for m in run.measurements] == ["uniform:level=0.5"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_window_training_gets_its_end_from_the_parent(tmp_path, home, mnist):
    from desktop_denoiser.core.training_process import TrainingProcess

    process = TrainingProcess(_config(epochs=200, subset=3000), _store(tmp_path), "killed")
    for kind, _ in process.events():
        if kind == "epoch":
            os.kill(process.pid, signal.SIGKILL)
    run = _only_run(home)
    end = run.training_end()
    assert run.state == "failed" and "stopped by SIGKILL" in end.message and run.pid == process.pid
    assert len(run.epochs) >= 1 and end.epochs == len(run.epochs) and not run.model["saved"]


# ----------------------------------------------------------------------------------------------
# compare, delete, prefixes


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, mnist):
    """Two tiny recorded runs (dense: the article's 64-D code, and a 2-D one), measured; their
    home folder is copied into each test's."""
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.training import Trainer

    folder = tmp_path_factory.mktemp("two_runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DESKTOP_DENOISER_HOME", str(folder / "home"))
        store = _store(folder)
        for name, overrides in (("wide", {}), ("narrow", {"bottleneck": 2, "learning_rate": 0.003})):
            workflows.train_and_save(Trainer(_config(**overrides)), store, name, eval_limit=100)
    return folder


@pytest.fixture
def copied(two_runs, home):
    shutil.copytree(two_runs / "home" / "runs", home / "runs")
    by_name = {r.model["name"]: r for r in runs.all_runs(home / "runs")}
    return by_name["wide"], by_name["narrow"]


def test_compare_says_what_differs_and_draws_the_curves(copied, home, tmp_path):
    wide, narrow = copied
    figure = tmp_path / "curves.png"
    proc = run_cli("runs", "compare", wide.run_id[:7], narrow.short_id, "--figure", figure, home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "settings that differ:"
    differing = {line.split()[0]: line.split()[1:] for line in lines[2:lines.index("results:")]}
    assert differing == {"learning_rate": ["0.001", "0.003"], "bottleneck": ["64", "2"]}
    psnr = next(line for line in lines if line.strip().startswith("PSNR (dB)")).split()[2:]
    assert psnr == [f"{wide.figures['test_psnr']:.2f}", f"{narrow.figures['test_psnr']:.2f}"]
    assert lines[-1] == f"wrote {figure}"
    with Image.open(figure) as im:
        assert im.format == "PNG" and im.size[0] == 1000 and 640 < im.size[1] < 800
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    colours = {tuple(c) for c in np.unique(pixels, axis=0)}
    assert len(colours) > 10 and (31, 119, 180) in colours and (255, 127, 14) in colours  # each run its colour
    again = run_cli("runs", "compare", wide.short_id, narrow.short_id, "--figure", figure, home=home, cwd=tmp_path)
    one_error_line(again, "exists", "--overwrite")


def test_prefixes_and_delete(copied, home, tmp_path):
    wide, narrow = copied
    twin = home / "runs" / (wide.run_id[:4] + ("0" if wide.run_id[4] != "0" else "1") * 28)
    shutil.copytree(wide.folder, twin)
    one_error_line(run_cli("runs", "show", wide.run_id[:4], home=home, cwd=tmp_path), "names 2 runs", "give more of the id")
    one_error_line(run_cli("runs", "show", "zz", home=home, cwd=tmp_path), "No run with an id starting with 'zz'")
    one_error_line(run_cli("runs", "compare", wide.short_id, home=home, cwd=tmp_path), "at least two runs")
    shutil.rmtree(twin)
    proc = run_cli("runs", "delete", wide.run_id[:6], home=home, cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.strip() == f"deleted run {wide.run_id}; its model wide is kept"
    assert not wide.folder.exists() and Path(wide.model["path"]).is_file()
    assert [r.run_id for r in runs.all_runs(home / "runs")] == [narrow.run_id]


def test_an_unreadable_run_still_lists(home, tmp_path):
    (home / "runs" / "deadbeef").mkdir(parents=True)
    (home / "runs" / "deadbeef" / "run.json").write_text("{not json")
    proc = run_cli("runs", home=home, cwd=tmp_path)
    assert proc.returncode == 0 and "unreadable" in proc.stdout.splitlines()[1]
    assert run_cli("runs", home=home / "empty", cwd=tmp_path).stdout.strip() == "no runs recorded"


# ----------------------------------------------------------------------------------------------
# model cards


def test_card_of_a_recorded_model(copied, home, tmp_path, two_runs):
    from desktop_denoiser.core import model_card
    from desktop_denoiser.core.store import ModelStore

    wide, narrow = copied
    store = ModelStore(bundled_dir=two_runs / "no-bundled", user_dir=two_runs / "user")
    text = model_card.card(store.find("narrow"))
    assert text.startswith("# Model card: narrow\n") and "uniform:level=0.5" in text
    assert f"| {narrow.figures['test_psnr']:.2f} |" in text and "| 100 |" in text  # its figures, on 100 test digits
    assert "- **Training data:** MNIST training set, 300 training digits" in text and "| bottleneck | 2 |" in text
    assert f"`{narrow.run_id}`" in text and narrow.training_end().describe() in text
    assert "Its code is 2-D: a model for teaching" in text and "MNIST-style digits" in text
    assert "measured on 100 of the 10,000 test digits only" in text


def test_models_card_command(tiny_models, home, tmp_path):
    out = tmp_path / "card.md"
    printed = run_cli("models", "card", tiny_models.conv_name, home=home, cwd=tmp_path, bundled=tiny_models.folder)
    assert printed.returncode == 0, printed.stderr
    meta = tiny_models.store.find(tiny_models.conv_name).meta
    m = meta["metrics"]
    assert "uniform:level=0.9" in printed.stdout and f"| {m['test_psnr']:.2f} |" in printed.stdout
    assert f"{100 * m['test_accuracy_denoised']:.2f}%" in printed.stdout  # read by the classifier
    assert "the classifier reading what this denoiser outputs" in printed.stdout
    written = run_cli("models", "card", tiny_models.classifier_name, "-o", out, home=home, cwd=tmp_path, bundled=tiny_models.folder)
    assert written.returncode == 0 and written.stdout.strip() == f"wrote {out}"
    clf = tiny_models.store.find(tiny_models.classifier_name).meta["metrics"]["test_accuracy"]
    assert f"test accuracy {100 * clf:.2f}%" in out.read_text()
    one_error_line(run_cli("models", "card", tiny_models.classifier_name, "-o", out, home=home, cwd=tmp_path,
                           bundled=tiny_models.folder), "exists", "--overwrite")
    assert run_cli("models", "card", tiny_models.classifier_name, "-o", out, "--overwrite", home=home, cwd=tmp_path,
                   bundled=tiny_models.folder).returncode == 0
    one_error_line(run_cli("models", "card", "no-such", home=home, cwd=tmp_path, bundled=tiny_models.folder), "no-such")
    listed = run_cli("models", "--paths", home=home, cwd=tmp_path, bundled=tiny_models.folder)  # as before
    assert listed.returncode == 0 and str(tiny_models.folder / f"{tiny_models.conv_name}.keras") in listed.stdout


# ----------------------------------------------------------------------------------------------
# exports


def _digits(mnist, n=8) -> np.ndarray:
    from desktop_denoiser.core.noise import NoiseSpec

    x = mnist.x_test[:n].astype(np.float32) / 255.0
    return NoiseSpec.parse("uniform:0.5").apply(x, seed=1).astype(np.float32)[..., None]


@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_exports_round_trip(fmt, tiny_models, tmp_path, mnist):
    import tensorflow as tf

    from desktop_denoiser.core import export

    loaded = tiny_models.store.load(tiny_models.denoiser_name, "denoiser")
    target = tmp_path / f"unet.{fmt}"
    done = export.export(loaded.model, loaded.entry, fmt, target)
    assert done.path == target and done.digits == 8 and done.max_difference <= export.TOLERANCE
    x = _digits(mnist)
    expected = loaded.model.predict(x, verbose=0)
    if fmt == "savedmodel":
        reloaded = tf.saved_model.load(str(target))  # (held: its variables live as long as it does)
        got = reloaded.serve(tf.constant(x)).numpy()
    else:
        interpreter = tf.lite.Interpreter(model_path=str(target))
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert got.shape == expected.shape == (8, 28, 28, 1)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary folder left
    from desktop_denoiser.core.errors import ConfigError

    with pytest.raises(ConfigError, match="exists"):
        export.export(loaded.model, loaded.entry, fmt, target)


def test_onnx_export_round_trips(tiny_models, tmp_path, mnist):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    from desktop_denoiser.core import export

    loaded = tiny_models.store.load(tiny_models.classifier_name, "classifier")
    target = tmp_path / "classifier.onnx"
    export.export(loaded.model, loaded.entry, "onnx", target)
    x = _digits(mnist)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, loaded.model.predict(x, verbose=0), atol=1e-4, rtol=0)


def test_models_export_command(tiny_models, home, tmp_path):
    target = tmp_path / "c.tflite"
    proc = run_cli("models", "export", tiny_models.classifier_name, "--format", "tflite", "-o", target, home=home,
                   cwd=tmp_path, bundled=tiny_models.folder)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(rf"wrote {re.escape(str(target))} \(tflite\); checked on 8 test digits: outputs within "
                        r"\d\.\de[+-]\d\d of the Keras model's\n", proc.stdout), proc.stdout
    assert stderr_lines(proc) == [] and target.stat().st_size > 1000
    one_error_line(run_cli("models", "export", tiny_models.classifier_name, "--format", "tflite", "-o", target, home=home,
                           cwd=tmp_path, bundled=tiny_models.folder), "exists", "--overwrite")
