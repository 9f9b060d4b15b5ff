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
    assert kinds[-1] == "done" and "failed" not in kinds
    assert kinds.index("status") < kinds.index("progress") < kinds.index("epoch")
    progress = [e[1] for e in events if e[0] == "progress"]
    epochs = [e[1] for e in events if e[0] == "epoch"]
    assert all(isinstance(p, Progress) for p in progress) and progress[-1].fraction == pytest.approx(1.0)
    assert [e.epoch for e in epochs] == [1, 2] and all(isinstance(e, EpochResult) for e in epochs)
    assert epochs[1].val_loss < epochs[0].val_loss + 0.05
    _, summary, entry = events[-1]
    assert summary["stop_reason"] == "completed" and summary["epochs"] == 2 and not summary["cancelled"]
    assert entry.name == "child-run" and entry.path.is_file() and entry.path.parent == store.user_dir
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
    _, summary, entry = events[-1]
    assert events[-1][0] == "done" and summary["cancelled"] and summary["best_epoch"] == 1
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
    assert events[-1] == ("done", training_process.CANCELLED_EARLY, None)
    assert not store.user_dir.exists() or not any(store.user_dir.iterdir())


def test_cancel_before_start_reports_a_cancel(store):
    process = TrainingProcess(_config(), store)
    process.cancel()
    assert list(process.events()) == [("done", training_process.CANCELLED_EARLY, None)]


def test_a_failure_in_the_child_is_one_message(tmp_path, store):
    missing = tmp_path / "nowhere" / "mnist.npz"
    events = list(TrainingProcess(_config(mnist=str(missing)), store).events())
    assert events[-1][0] == "failed" and f"MNIST file not found: {missing}" in events[-1][1]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_child_is_reported(mnist, store):
    process = TrainingProcess(_config(epochs=50, subset=3000), store, "killed")
    events = []
    for event in process.events():
        if event[0] == "progress" and not any(e[0] == "progress" for e in events):
            os.kill(process.pid, signal.SIGKILL)  # at the first progress report
        events.append(event)
    assert events[-1][0] == "failed" and "stopped by SIGKILL" in events[-1][1]
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
