"""Recording a training as it goes: :class:`RunRecorder`, around :func:`workflows.train_and_save`.

The recorder wraps a :class:`~.training.Trainer`'s callbacks for the length of one run:

* at the start it writes the run as ``running`` (the process id and its start time, the
  configuration, device and versions);
* every batch's loss goes into a list in memory (``Trainer.on_batch``: an append, no file);
* after each epoch, and every :data:`FLUSH_SECONDS` within a long one, the losses and the run
  are written (atomically but not flushed to the disk, see :func:`runs.write`; before the
  epoch is reported on: a run killed after an epoch line has that epoch on disk);
* at the end: how it ended (:class:`TrainingEnd`), the model, its figures.

Recording never stops a training: a run that cannot be written is said once through
``on_status`` and the training goes on unrecorded.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import socket
import time
from pathlib import Path
from typing import Optional

import numpy as np

from .. import __version__
from . import runs
from .errors import DenoiserError
from .figures import ModelFigures
from .model_files import now_iso
from .training_end import TrainingEnd

FLUSH_SECONDS = 30.0  # within an epoch, the losses are written at most this often


def versions() -> dict:
    """The versions a run was trained with."""
    import keras
    import tensorflow as tf

    return {"app": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform()}


class RunRecorder:
    """Records one training of ``trainer`` as run ``run_id`` (the model's reservation's) in
    ``folder`` (default: :func:`runs.runs_dir`). Use it as a context manager around the run:
    an exception records a failed run; a normal exit records the end of what it was told
    (:meth:`trained`, :meth:`saved`, :meth:`measured`) unless :meth:`finish` was called."""

    def __init__(self, trainer, run_id: str, model_name: Optional[str] = None, model_path: Optional[Path] = None,
                 origin: str = "", folder: Optional[Path] = None, on_status=None):
        self.trainer = trainer
        self.on_status = on_status or (lambda s: None)
        self.run = runs.Run(run_id=run_id, origin=origin, config=trainer.config.to_dict(),
                            model={"name": model_name, "path": str(model_path) if model_path else None, "saved": False},
                            folder=(Path(folder) if folder else runs.runs_dir()) / run_id)
        self._steps: list[int] = []
        self._losses: list[float] = []
        self._t0 = time.monotonic()
        self._last_flush = self._t0
        self._wrapped: Optional[tuple] = None
        self.broken = False  # a write failed: nothing more is written
        self.result = None
        self.entry = None
        self.finished = False

    # the run's life ----------------------------------------------------------------------------

    def __enter__(self) -> "RunRecorder":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if not self.finished:
                if exc is not None:
                    self.fail(exc)
                else:
                    self.finish(self._end())
        finally:
            self._unwrap()

    def start(self) -> None:
        from . import device

        run = self.run
        run.started = now_iso()
        run.pid = os.getpid()
        run.process_start = runs.process_start(run.pid)
        run.host = socket.gethostname()
        try:
            run.device = device.describe()
            run.versions = versions()
        except Exception as exc:  # noqa: BLE001 - a record without them is still a record
            run.device = run.device or f"unknown ({type(exc).__name__})"
        self._wrap()
        self._write(losses=False)

    def trained(self, result) -> None:
        """The trainer returned ``result`` (a TrainResult)."""
        self.result = result
        self.run.device = result.device or self.run.device
        self.run.data = dict(result.data or {})

    def saved(self, entry) -> None:
        """The model was stored as ``entry``."""
        self.entry = entry
        self.run.model = {"name": entry.name, "path": str(entry.path), "saved": True}
        self.run.figures = ModelFigures.of_entry(entry).to_metrics()

    def saw(self, data: dict) -> None:
        """What the model trained on, as its metadata now says (with its figures on a folder's held-out part)."""
        self.run.data = dict(data or {})

    def measured(self, figures: ModelFigures) -> None:
        """The model's figures, as written into its metadata."""
        metrics = figures.to_metrics()
        self.run.figures = metrics
        self.run.measurements = [{"noise": figures.noise or "", "measured": now_iso(), "metrics": metrics}]

    def finish(self, end: TrainingEnd) -> None:
        self.finished = True
        self._unwrap()
        self.run.status = runs.ENDED
        self.run.end = runs.end_record(end)
        self._write(losses=True, durable=True)

    def fail(self, exc: BaseException) -> None:
        """The run raised ``exc``: a failure, unless its model was already saved (an interrupt
        while measuring keeps the model)."""
        if self.result is not None and self.entry is not None:
            self.finish(self._end())
            return
        if isinstance(exc, KeyboardInterrupt):
            message = "Interrupted before the model was saved; nothing was saved."
        else:
            from .training_process import failure_message

            message = failure_message(exc)
        known = dict(epochs=len(self.run.epochs), steps=len(self._losses), seconds=time.monotonic() - self._t0,
                     device=self.run.device)
        self.finish(TrainingEnd.failure(message, self.run.config, **known))

    def _end(self) -> TrainingEnd:
        if self.result is None:
            return TrainingEnd.failure("The training ended without a result.", self.run.config, device=self.run.device)
        return TrainingEnd.of_result(self.result, self.entry, self.run.config)

    # the trainer's callbacks -------------------------------------------------------------------

    def _wrap(self) -> None:
        t = self.trainer
        self._wrapped = (t.on_epoch, t.on_batch)
        inner_epoch, inner_batch = t.on_epoch, t.on_batch
        steps, losses = self._steps, self._losses

        def on_batch(step: int, loss: float) -> None:
            steps.append(step)
            losses.append(loss)
            if inner_batch is not None:
                inner_batch(step, loss)
            if step % 64 == 0 and time.monotonic() - self._last_flush >= FLUSH_SECONDS:
                self._write(losses=True)

        def on_epoch(result) -> None:
            self.run.epochs.append(dataclasses.asdict(result))
            self._write(losses=True)  # before the epoch is reported: what was said is on disk
            inner_epoch(result)

        t.on_batch, t.on_epoch = on_batch, on_epoch

    def _unwrap(self) -> None:
        if self._wrapped is not None:
            self.trainer.on_epoch, self.trainer.on_batch = self._wrapped
            self._wrapped = None

    # writing -----------------------------------------------------------------------------------

    def losses(self) -> np.ndarray:
        """The losses so far as rows (step, loss)."""
        out = np.empty((len(self._losses), 2), np.float32)
        out[:, 0], out[:, 1] = self._steps[: len(out)], self._losses[: len(out)]
        return out

    def _write(self, losses: bool, durable: bool = False) -> None:
        self._last_flush = time.monotonic()
        if self.broken:
            return
        run = self.run
        run.updated = now_iso()
        run.seconds = round(time.monotonic() - self._t0, 2)
        run.steps = len(self._losses)
        try:
            run.folder.mkdir(parents=True, exist_ok=True)
            runs.write(run, self.losses() if losses else None, durable=durable)
        except (DenoiserError, OSError, TypeError, ValueError) as exc:
            self.broken = True
            self.on_status(f"This training is not recorded in {run.folder.parent} ({exc}); it goes on.")
