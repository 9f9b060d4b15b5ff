"""desktop_denoiser.core.training_process: real trainings in a real child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from desktop_denoiser.core import training_process
from desktop_denoiser.core.errors import ConfigError, DatasetError
from desktop_denoiser.core.noise import NoiseSpec
from desktop_denoiser.core.store import ModelStore
from desktop_denoiser.core.training import EpochResult, Progress, TrainConfig
from desktop_denoiser.core.training_end import Outcome, TrainingEnd
from desktop_denoiser.core.training_process import TrainingProcess


def _config(**overrides) -> TrainConfig:
    base = dict(arch="dense", noise=NoiseSpec.parse("uniform:0.5"), epochs=2, batch_size=32, subset=640,
                val_limit=200, patience=None)
    base.update(overrides)
    return TrainConfig(**base)


@pytest.fixture
def store(tmp_path) -> ModelStore:
    return ModelStore(tmp_path / "bundled-missing", tmp_path / "user")


def test_a_run_reports_in_order_and_stores_the_model(mnist, store):
    process = TrainingProcess(_config(), store, "child-run")
    events = list(process.events())
    kinds = [e[0] for e in events]
    assert kinds[-1] == "end" and kinds.count("end") == 1 and all(len(e) == 2 for e in events)
    assert kinds[0] == "device" and kinds.index("status") < kinds.index("progress") < kinds.index("epoch")  # said first
    progress = [e[1] for e in events if e[0] == "progress"]
    epochs = [e[1] for e in events if e[0] == "epoch"]
    (device,) = [e[1] for e in events if e[0] == "device"]
    assert device.startswith(("CPU: ", "GPU: "))
    assert all(isinstance(p, Progress) for p in progress) and progress[-1].fraction == pytest.approx(1.0)
    assert [e.epoch for e in epochs] == [1, 2] and all(isinstance(e, EpochResult) for e in epochs)
    assert [e.val_metric_name for e in epochs] == ["psnr", "psnr"]
    assert epochs[1].val_metric_text() == f"val PSNR {epochs[1].val_metric:.2f} dB"
    assert epochs[1].val_loss < epochs[0].val_loss + 0.05
    _, end = events[-1]
    assert isinstance(end, TrainingEnd) and end.outcome is Outcome.FINISHED and end.stop_reason == "completed"
    assert end.epochs == 2 and end.best_epoch in (1, 2) and end.steps == 2 * 640 // 32 and end.device == device
    assert end.seconds > 0 and end.config["arch"] == "dense" and end.config["epochs"] == 2 and not end.cancelled
    assert end.describe().startswith("Finished 2 epochs in ") and end.describe().endswith(", saved as child-run.")
    entry = end.entry
    assert end.model == entry.name == "child-run" and entry.path.is_file() and entry.path.parent == store.user_dir
    assert entry.meta["epochs_trained"] == 2 and entry.meta["history"][1]["val_loss"] == pytest.approx(epochs[1].val_loss)
    assert store.find("child-run").path == entry.path  # the parent sees what the child stored
    assert process.exitcode == 0
    # a Cancel that comes after the child has gone returns at once (no lock shared with the dead child)
    late = threading.Thread(target=process.cancel)
    late.start()
    late.join(5)
    assert not late.is_alive() and process.cancelled


def test_cancel_after_a_batch_keeps_the_model(mnist, store):
    process = TrainingProcess(_config(epochs=50, subset=3000), store, "kept")
    events = []
    for event in process.events():
        events.append(event)
        if event[0] == "epoch":
            process.cancel()
    kind, end = events[-1]
    assert kind == "end" and end.outcome is Outcome.CANCELLED and end.cancelled and end.best_epoch == 1
    assert end.stop_reason == "cancelled" and end.epochs in (1, 2) and end.model == "kept"
    assert end.describe() == f"Cancelled after {end.epochs} epoch{'s' if end.epochs > 1 else ''}; kept best epoch 1, saved as kept."
    entry = end.entry
    assert entry is not None and entry.meta["epochs_trained"] <= 2 and entry.path.is_file()


def test_cancel_while_the_child_starts_is_immediate_and_saves_nothing(mnist, store):
    process = TrainingProcess(_config(), store, "early")
    events = []

    def cancel_soon():
        time.sleep(0.5)  # the child is importing TensorFlow (seconds)
        process.cancel()

    threading.Thread(target=cancel_soon).start()
    for event in process.events():
        events.append(event)
    # stopped before its first batch (while importing TensorFlow), not after waiting for it
    kind, end = events[-1]
    assert kind == "end" and end.outcome is Outcome.CANCELLED_BEFORE_FIRST_BATCH and not end.saved and end.entry is None
    assert end.describe() == "Cancelled before the first batch finished; nothing was saved."
    assert end.config == _config().to_dict() and end.epochs == 0 and end.seconds < 30
    assert not store.user_dir.exists() or not any(store.user_dir.iterdir())


def test_cancel_before_start_reports_a_cancel(store):
    process = TrainingProcess(_config(), store)
    process.cancel()
    ((kind, end),) = list(process.events())
    assert kind == "end" and end.outcome is Outcome.CANCELLED_BEFORE_FIRST_BATCH and end.model is None


def test_a_failure_in_the_child_is_one_message(tmp_path, store):
    missing = tmp_path / "nowhere" / "mnist.npz"
    events = list(TrainingProcess(_config(mnist=str(missing)), store).events())
    kind, end = events[-1]
    assert kind == "end" and end.outcome is Outcome.FAILED and f"MNIST file not found: {missing}" in end.message
    assert end.describe() == f"Training failed: {end.message}" and not end.saved and end.device  # known before the data


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_child_is_reported(mnist, store):
    process = TrainingProcess(_config(epochs=50, subset=3000), store, "killed")
    events = []
    for event in process.events():
        if event[0] == "progress" and not any(e[0] == "progress" for e in events):
            os.kill(process.pid, signal.SIGKILL)  # at the first progress report
        events.append(event)
    kind, end = events[-1]
    assert kind == "end" and end.failed and "stopped by SIGKILL" in end.message
    assert end.device == next(e[1] for e in events if e[0] == "device") and end.epochs == 0 and end.seconds > 0
    assert process.exitcode == -signal.SIGKILL
    assert not (store.user_dir / "killed.keras").exists()


def test_a_bad_config_is_refused_before_any_process_starts(store):
    with pytest.raises(ConfigError):
        TrainingProcess(_config(epochs=0), store)


@pytest.mark.parametrize("exc, expected", [
    (DatasetError("MNIST file not found: x"), "MNIST file not found: x"),
    (MemoryError(), training_process.OUT_OF_MEMORY),
    (type("ResourceExhaustedError", (Exception,), {})("OOM when allocating"), training_process.OUT_OF_MEMORY),
    (RuntimeError("the GPU caught fire\nmore detail"), "RuntimeError: the GPU caught fire"),
    (KeyError(), "KeyError"),
])
def test_failure_messages(exc, expected):
    assert training_process.failure_message(exc) == expected


PARENT_SCRIPT = """
import os, sys
from desktop_denoiser.core.noise import NoiseSpec
from desktop_denoiser.core.store import ModelStore
from desktop_denoiser.core.training import TrainConfig
from desktop_denoiser.core.training_process import TrainingProcess

if __name__ == "__main__":
    config = TrainConfig(arch="dense", noise=NoiseSpec.parse("uniform:0.5"), epochs=1000, batch_size=32, subset=3000,
                         val_limit=100, patience=None)  # minutes, unless it stops
    process = TrainingProcess(config, ModelStore(sys.argv[1], sys.argv[2]), "orphan")
    for event in process.events():
        if event[0] == "progress":
            print(process.pid, flush=True)
            os._exit(0)  # the parent dies without a word, as a crash would
"""


def _ended(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return any(line.split()[1:2] == ["Z"] for line in fh if line.startswith("State:"))
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_the_child_stops_when_its_parent_dies(mnist, tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT_SCRIPT)
    bundled, user = tmp_path / "bundled", tmp_path / "user"
    parent = subprocess.Popen([sys.executable, str(script), str(bundled), str(user)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    child = int(parent.stdout.readline())  # (the child holds the pipe too: read one line, not to the end)
    assert parent.wait(60) == 0
    parent.stdout.close()
    deadline = time.monotonic() + 60
    while not _ended(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not _ended(child):
        os.kill(child, signal.SIGKILL)
        pytest.fail("the training process outlived its parent")
    # it stopped as after a Cancel: the run so far is kept
    assert (user / "orphan.keras").is_file() and (user / "orphan.json").is_file()


def test_exit_messages():
    assert "SIGKILL" in training_process.exit_message(-9) and "memory" in training_process.exit_message(-9)
    assert "SIGSEGV" in training_process.exit_message(-11) and "memory" not in training_process.exit_message(-11)
    assert "exit code 3" in training_process.exit_message(3)


# ---------------------------------------------------------------------------------------------
# TrainingEnd: the typed end state


def _result(stop_reason: str, steps: int = 90, history: int = 3, best: int | None = 2, cancelled: bool = False):
    """A stand-in for a TrainResult (the fields TrainingEnd reads)."""
    from types import SimpleNamespace

    return SimpleNamespace(stop_reason=stop_reason, best_epoch=best, history=[None] * history, steps=steps, seconds=75.4,
                           device="CPU: test (2 cores)", images_per_s=1234.5, cancelled=cancelled, config=_config())


def _entry(name: str):
    from types import SimpleNamespace

    return SimpleNamespace(name=name)


@pytest.mark.parametrize("stop_reason, outcome, text", [
    ("completed", Outcome.FINISHED, "Finished 3 epochs in 1 min 15 s; best epoch 2, saved as m."),
    ("early stopping", Outcome.EARLY_STOPPED,
     "Stopped early (no better validation loss) after 3 epochs in 1 min 15 s; best epoch 2, saved as m."),
    ("time budget", Outcome.TIME_BUDGET, "Time budget used after 3 epochs in 1 min 15 s; best epoch 2, saved as m."),
    ("cancelled", Outcome.CANCELLED, "Cancelled after 3 epochs; kept best epoch 2, saved as m."),
])
def test_a_saved_run_ends_by_its_stop_reason(stop_reason, outcome, text):
    end = TrainingEnd.of_result(_result(stop_reason, cancelled=stop_reason == "cancelled"), _entry("m"))
    assert end.outcome is outcome and end.describe() == text
    assert end.saved and end.model == "m" and end.entry.name == "m" and end.stop_reason == stop_reason
    assert (end.epochs, end.best_epoch, end.steps, end.seconds, end.device, end.images_per_s) == (
        3, 2, 90, 75.4, "CPU: test (2 cores)", 1234.5)
    assert end.config == _config().to_dict()
    assert end.cancelled is (outcome is Outcome.CANCELLED) and end.outcome.completed is not end.cancelled


def test_ends_without_a_model():
    early = TrainingEnd.of_result(_result("cancelled", steps=0, history=0, best=None, cancelled=True), None)
    assert early.outcome is Outcome.CANCELLED_BEFORE_FIRST_BATCH and not early.saved and early.cancelled
    odd = TrainingEnd.of_result(_result("completed", steps=0, history=0, best=None), None)  # nothing trained, not cancelled
    assert odd.outcome is Outcome.FAILED and "nothing was saved" in odd.message
    partial = TrainingEnd.of_result(_result("cancelled", history=0, best=None, cancelled=True), _entry("p"))
    assert partial.describe() == "Cancelled in the first epoch; kept its partial weights, saved as p."
    failed = TrainingEnd.failure("Disk full.", {"arch": "unet"}, device="GPU: x", seconds=3.0)
    assert failed.failed and failed.describe() == "Training failed: Disk full." and failed.device == "GPU: x"
    assert not failed.outcome.completed and not failed.cancelled
    one = TrainingEnd(Outcome.FINISHED, epochs=1, best_epoch=1, seconds=4000, model="x")
    assert one.describe() == "Finished 1 epoch in 1 h 06 min; best epoch 1, saved as x."


@pytest.mark.parametrize("outcome", list(Outcome))
def test_training_end_round_trips_through_json(outcome):
    import json

    end = TrainingEnd(outcome, message="m" if outcome is Outcome.FAILED else "", stop_reason="cancelled", best_epoch=4,
                      epochs=5, steps=120, seconds=12.5, device="CPU: x", images_per_s=99.0,
                      model=None if outcome in (Outcome.FAILED, Outcome.CANCELLED_BEFORE_FIRST_BATCH) else "net",
                      config=_config().to_dict(), entry=_entry("net"))
    data = json.loads(json.dumps(end.to_dict()))  # plain JSON: no enum, no entry
    assert data["outcome"] == outcome.value and "entry" not in data
    back = TrainingEnd.from_dict(data)
    assert back == end and back.entry is None and back.outcome is outcome
    assert back.to_dict() == end.to_dict() and back.describe() == end.describe()


def test_training_end_from_dict_is_lenient_but_not_blind():
    back = TrainingEnd.from_dict({"outcome": "finished", "model": "a", "epochs": 2, "future_field": 1})
    assert back == TrainingEnd(Outcome.FINISHED, model="a", epochs=2)
    with pytest.raises(ValueError):
        TrainingEnd.from_dict({"outcome": "exploded"})


def test_epoch_results_say_which_metric_they_carry():
    psnr = EpochResult(epoch=1, loss=0.1, val_loss=0.1, val_metric=21.304, seconds=1.0, step=10, val_metric_name="psnr")
    acc = EpochResult(epoch=1, loss=0.1, val_loss=0.1, val_metric=0.97104, seconds=1.0, step=10, val_metric_name="accuracy")
    low = EpochResult(epoch=1, loss=0.1, val_loss=0.1, val_metric=1.2, seconds=1.0, step=10, val_metric_name="psnr")
    assert psnr.val_metric_text() == "val PSNR 21.30 dB" and acc.val_metric_text() == "val accuracy 97.10%"
    assert low.val_metric_text() == "val PSNR 1.20 dB"  # no guessing from the value
