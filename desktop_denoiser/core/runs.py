"""The record of every training: one :class:`Run` per training, from the window and from ``train``.

A run lives in the user's data folder, ``runs/<run_id>/``:

* ``run.json``: the record (:meth:`Run.to_dict`): the configuration and seed, the device, the
  versions, the epochs, how it ended, the figures and the model it produced;
* ``losses.npy``: every batch's training loss, a float32 array of rows ``(step, loss)``.

The ``run_id`` is the one the model's metadata carries (the reservation's), so a model and its
run name each other. Both files are written atomically as the training goes (at its start, after
each epoch, every :data:`~.run_recorder.FLUSH_SECONDS` within a long epoch, at its end: see
:mod:`run_recorder`). A run still marked ``running`` whose process has gone (or whose process id
now belongs to another process) is shown as ``killed``, with what it had recorded so far.

This module reads, finds and deletes runs, and adds figures to them (:func:`record_figures`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

from . import atomic, paths
from .errors import ConfigError, SaveError
from .figures import ModelFigures
from .model_files import now_iso
from .training_end import Outcome, TrainingEnd

FORMAT = "desktop-denoiser-run/1"
RUN_FILE = "run.json"
LOSSES_FILE = "losses.npy"
RUNNING, ENDED = "running", "ended"  # the stored status
KILLED = "killed"  # the state of a running run whose process has gone
SHORT_ID = 8  # characters of a run id shown in lists

#: what a person reads for each state
STATE_LABELS = {
    RUNNING: "running", KILLED: "killed", Outcome.FINISHED.value: "finished", Outcome.EARLY_STOPPED.value: "early-stopped",
    Outcome.TIME_BUDGET.value: "time budget", Outcome.CANCELLED.value: "cancelled",
    Outcome.CANCELLED_BEFORE_FIRST_BATCH.value: "cancelled early", Outcome.FAILED.value: "failed",
}


def runs_dir() -> Path:
    """Where runs are recorded: ``runs/`` in the user's data folder (``DESKTOP_DENOISER_HOME``)."""
    return paths.user_data_dir() / "runs"


# ------------------------------------------------------------------------------------------
# the record


@dataclasses.dataclass
class Run:
    """One training as recorded. ``config`` is :meth:`TrainConfig.to_dict`, ``epochs`` the
    :class:`EpochResult` fields per epoch, ``end`` :meth:`TrainingEnd.to_dict` (None while it
    runs), ``figures`` the model's test figures (:meth:`ModelFigures.to_metrics`) and
    ``measurements`` every measurement made, one per noise it was measured on."""

    run_id: str
    status: str = RUNNING
    started: str = ""
    updated: str = ""
    seconds: float = 0.0  # wall seconds from the start to the last write
    pid: Optional[int] = None
    process_start: Optional[str] = None  # tells a reused process id from the run's own process
    host: str = ""
    origin: str = ""  # "command line", "window", ...
    config: dict = dataclasses.field(default_factory=dict)
    device: str = ""
    versions: dict = dataclasses.field(default_factory=dict)
    epochs: list = dataclasses.field(default_factory=list)
    steps: int = 0  # batches trained (rows of losses.npy)
    end: Optional[dict] = None
    figures: dict = dataclasses.field(default_factory=dict)
    measurements: list = dataclasses.field(default_factory=list)
    model: dict = dataclasses.field(default_factory=dict)  # name, path, saved
    data: dict = dataclasses.field(default_factory=dict)  # what it trained on (the model's metadata "data")
    folder: Optional[Path] = dataclasses.field(default=None, compare=False)
    error: Optional[str] = dataclasses.field(default=None, compare=False)  # why run.json could not be read

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("folder", "error")}
        return {"format": FORMAT, **out}

    @classmethod
    def from_dict(cls, data: dict, folder: Optional[Path] = None) -> "Run":
        """The run of :meth:`to_dict`; unknown keys are ignored and fields of the wrong type
        take their defaults (a run written by another version still lists)."""
        defaults = cls(run_id="")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in ("folder", "error") or f.name not in data:
                continue
            value, default = data[f.name], getattr(defaults, f.name)
            if f.name in ("pid", "end", "process_start"):
                good = value is None or isinstance(value, {"pid": int, "end": dict, "process_start": str}[f.name])
            elif f.name == "seconds":
                good = isinstance(value, (int, float)) and not isinstance(value, bool)
            else:
                good = isinstance(value, type(default)) and not isinstance(value, bool)
            if good:
                values[f.name] = value
        return cls(**{"run_id": str(data.get("run_id", "")), **values, "folder": folder})

    # reading it --------------------------------------------------------------------------------

    @property
    def short_id(self) -> str:
        return self.run_id[:SHORT_ID]

    @property
    def state(self) -> str:
        """``running``, ``killed`` or the outcome's value (``finished``, ``failed``, ...)."""
        if self.error:
            return "unreadable"
        if self.status == ENDED and self.end:
            return str(self.end.get("outcome", Outcome.FAILED.value))
        return RUNNING if self.alive else KILLED

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def alive(self) -> bool:
        """True while the run's own process is still there (a run from another computer, which
        cannot be checked, counts as alive)."""
        if self.status != RUNNING:
            return False
        if self.host and self.host != socket.gethostname():
            return True
        return self.pid is not None and process_alive(self.pid, self.process_start)

    def training_end(self) -> Optional[TrainingEnd]:
        """How it ended (None while running or killed)."""
        if self.status != ENDED or not self.end:
            return None
        try:
            return TrainingEnd.from_dict({**self.end, "config": self.end.get("config") or self.config})
        except (ValueError, KeyError, TypeError):
            return None

    def model_figures(self) -> ModelFigures:
        kind = "classifier" if self.config.get("arch") == "classifier" else "denoiser"
        return ModelFigures.from_metrics(kind, self.figures)

    def losses(self) -> np.ndarray:
        """Every batch's loss as rows ``(step, loss)`` (float32, shape (N, 2); empty when none)."""
        path = self.folder / LOSSES_FILE if self.folder else None
        if path is None or not path.is_file():
            return np.zeros((0, 2), np.float32)
        try:
            losses = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return np.zeros((0, 2), np.float32)
        return losses if losses.ndim == 2 and losses.shape[1] == 2 else np.zeros((0, 2), np.float32)


# ------------------------------------------------------------------------------------------
# is its process still there


def process_start(pid: int) -> Optional[str]:
    """Something that names the process ``pid`` and changes when the id is reused: its start
    time since boot and the boot's id (Linux); None where it is not known."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            boot = fh.read().strip()
    except (OSError, IndexError):
        return None
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None  # field 22 of stat: starttime


def process_alive(pid: int, start: Optional[str] = None) -> bool:
    """True when the process ``pid`` runs (not a zombie) and, when ``start`` is known, is the
    process that had it then (see :func:`process_start`)."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":  # pragma: no cover - no /proc, no signal 0
        return _windows_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process has it
    except OSError:
        return False
    state = _linux_state(pid)
    if state == "Z":  # ended, not yet reaped by its parent
        return False
    now = process_start(pid)
    return start is None or now is None or now == start


def _linux_state(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _windows_alive(pid: int) -> bool:  # pragma: no cover - Windows
    import ctypes

    kernel = ctypes.windll.kernel32
    handle = kernel.OpenProcess(0x1000 | 0x100000, False, pid)  # QUERY_LIMITED_INFORMATION | SYNCHRONIZE
    if not handle:
        return False
    try:
        return kernel.WaitForSingleObject(handle, 0) == 0x102  # WAIT_TIMEOUT: still running
    finally:
        kernel.CloseHandle(handle)


# ------------------------------------------------------------------------------------------
# files


def write(run: Run, losses: Optional[np.ndarray] = None, durable: bool = True) -> None:
    """Write the run (and its losses first, when given) atomically into its folder.

    ``durable=False`` (the writes while a training runs): each file is still complete or not
    there (written beside, then renamed: a killed process never leaves half a file), but not
    flushed to the disk, which can take tens of milliseconds on a busy one; a power cut may then
    lose the last epochs of a run that was running. The end of a run is always durable."""
    folder = run.folder
    if losses is not None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(losses, np.float32).reshape(-1, 2), allow_pickle=False)
        _write_bytes(folder / LOSSES_FILE, buffer.getvalue(), durable)
    _write_bytes(folder / RUN_FILE, (json.dumps(run.to_dict(), indent=1, default=_plain) + "\n").encode("utf-8"), durable)


def _write_bytes(target: Path, data: bytes, durable: bool) -> None:
    if durable:
        atomic.write_bytes(target, data)
        return
    tmp = atomic.temporary_beside(target)
    try:
        tmp.write_bytes(data)
        atomic.move_into_place(tmp, target)
    except OSError as exc:
        raise SaveError(f"Could not save {target}: {exc.strerror or exc}") from None
    finally:
        atomic.remove_quietly(tmp)


def _plain(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


def read(folder: Path) -> Run:
    """The run in ``folder``; one whose ``run.json`` cannot be read carries the reason in ``error``."""
    folder = Path(folder)
    try:
        data = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a Desktop Denoiser run")
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        why = "no run.json" if isinstance(exc, FileNotFoundError) else f"run.json is unreadable ({exc.__class__.__name__})"
        return Run(run_id=folder.name, folder=folder, error=why)
    return Run.from_dict({**data, "run_id": folder.name}, folder)


def all_runs(folder: Optional[Path] = None) -> list[Run]:
    """Every run, the oldest first."""
    folder = Path(folder) if folder else runs_dir()
    if not folder.is_dir():
        return []
    found = [read(p) for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(found, key=lambda r: (r.started, r.run_id))


def find(prefix: str, folder: Optional[Path] = None) -> Run:
    """The run whose id is ``prefix`` or starts with it (a ConfigError when none or several do)."""
    prefix = prefix.strip().lower()
    folder = Path(folder) if folder else runs_dir()
    if not prefix:
        raise ConfigError("Give a run id (see 'desktop-denoiser runs').")
    names = [p.name for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
    if prefix in names:
        return read(folder / prefix)
    matches = sorted(n for n in names if n.startswith(prefix))
    if not matches:
        raise ConfigError(f"No run with an id starting with '{prefix}' (see 'desktop-denoiser runs').")
    if len(matches) > 1:
        shown = ", ".join(m[: max(SHORT_ID, len(prefix) + 2)] for m in matches[:5]) + (", ..." if len(matches) > 5 else "")
        raise ConfigError(f"'{prefix}' names {len(matches)} runs ({shown}); give more of the id.")
    return read(folder / matches[0])


def of_model(run_id: Optional[str], folder: Optional[Path] = None) -> Optional[Run]:
    """The run a model's metadata names (its ``run_id``), if it was recorded here."""
    if not isinstance(run_id, str) or not run_id or "/" in run_id or run_id.startswith("."):
        return None
    path = (Path(folder) if folder else runs_dir()) / run_id
    run = read(path) if path.is_dir() else None
    return run if run is not None and not run.error else None


def delete(run: Run) -> None:
    """Remove a run's record (its model is left alone); a running run is refused."""
    if run.state == RUNNING:
        raise ConfigError(f"Run {run.short_id} is still running (process {run.pid}); stop it before deleting it.")
    try:
        shutil.rmtree(run.folder)
    except OSError as exc:
        raise SaveError(f"Could not delete the run {run.short_id} ({run.folder}): {exc.strerror or exc}") from None


# ------------------------------------------------------------------------------------------
# later additions: figures measured after the training, an end the run could not write itself


def end_record(end: TrainingEnd) -> dict:
    """The stored form of a run's end: :meth:`TrainingEnd.to_dict` without its config (the run's own)."""
    out = end.to_dict()
    out.pop("config", None)
    return out


def record_figures(run_id: Optional[str], figures: ModelFigures, folder: Optional[Path] = None) -> bool:
    """Add a measurement of a run's model (``workflows.measure_entry`` calls this wherever a
    model's figures are stored): it becomes the run's ``figures`` (as in the model's metadata)
    and replaces an earlier measurement on the same noise. False when the run is not recorded
    here or cannot be written (never raises: the figures are in the model's metadata anyway)."""
    run = of_model(run_id, folder)
    if run is None:
        return False
    metrics = figures.to_metrics()
    measurement = {"noise": figures.noise or "", "measured": now_iso(), "metrics": metrics}
    run.figures = metrics
    run.measurements = [m for m in run.measurements if not (isinstance(m, dict) and m.get("noise") == measurement["noise"])]
    run.measurements.append(measurement)
    with contextlib.suppress(SaveError, OSError, TypeError, ValueError):
        write(run)
        return True
    return False


def close_lost(pid: Optional[int], end: TrainingEnd, folder: Optional[Path] = None) -> list[Run]:
    """Give ``end`` to the runs of process ``pid`` that were still running when it ended
    without writing its own end (the window's training process, stopped or killed): a run is
    then shown with what stopped it rather than as ``killed``."""
    closed = []
    if pid is None:
        return closed
    for run in all_runs(folder):
        if run.error or run.status != RUNNING or run.pid != pid or (run.host and run.host != socket.gethostname()):
            continue
        if run.alive:
            continue
        known = {"epochs": len(run.epochs), "steps": run.steps, "seconds": run.seconds, "device": run.device}
        run.end = end_record(dataclasses.replace(end, **known))
        run.status = ENDED
        with contextlib.suppress(SaveError, OSError, TypeError, ValueError):
            write(run)
            closed.append(run)
    return closed
