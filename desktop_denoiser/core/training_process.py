"""One training in a child process, reported to the parent as a stream of events.

Why a process and not a thread, and how parent and child talk: :mod:`.child_process`.
:class:`TrainingProcess` starts the child, relays its events and cancels it:

* ``("status", text)``, ``("device", text)`` (once TensorFlow has found it),
  ``("progress", training.Progress)``, ``("epoch", training.EpochResult)`` while it runs;
* then exactly one ``("end", training_end.TrainingEnd)``: how it ended, with the stored
  :class:`~.store.ModelEntry` when a model was saved.

Every event is a pair ``(kind, payload)``.

The child trains with :func:`workflows.train_and_save` (without measuring: the caller does
that where a classifier is loaded) at a lower OS priority, and cancels itself when the parent
goes away.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from typing import Optional

from .child_process import (  # noqa: F401 - END, OUT_OF_MEMORY, POLL_SECONDS: this module's API too
    CANCEL, END, OUT_OF_MEMORY, POLL_SECONDS, ChildProcess, Sender, exit_message, failure_message, out_of_memory, watch,
)
from .child_process import STARTED as TRAINED
from .errors import DenoiserError
from .priority import lower_process_priority
from .store import ModelStore, check_name
from .training import TrainConfig
from .training_end import TrainingEnd


class TrainingProcess(ChildProcess):
    """Runs :func:`workflows.train_and_save` for ``config`` in a child process
    (:class:`~.child_process.ChildProcess`).

    The config and the model name are validated here, so a bad one is refused
    (``ConfigError``) before any process starts. :meth:`events` starts the child and yields its
    events until the last one; call :meth:`cancel` from any thread. The child sets the
    ``TRAINED`` flag after its first batch: from then on a cancel keeps the best epoch.
    """

    name = "desktop-denoiser-training"

    def __init__(self, config: TrainConfig, store: ModelStore, name: Optional[str] = None):
        super().__init__()
        self.config = config.validate()
        if name is not None:
            check_name(name)
        self.store = store
        self.model_name = name
        self._stopped_early = False
        self._run = _Run(self.config)

    def cancel(self) -> None:
        """Ask the training to stop after the batch in flight; it keeps its best epoch.

        Before the first batch has finished there is nothing to keep, and the child may still
        be importing TensorFlow (seconds): it is stopped at once instead."""
        super().cancel()
        if not self._flags[TRAINED] and self._process is not None:
            self._stopped_early = True
            self._signal("terminate")

    def _target(self):
        return _child_main

    def _args(self) -> tuple:
        self._run = _Run(self.config)
        return (self.config, self.store, self.model_name)

    def _note(self, kind, payload) -> None:
        self._run.note(kind, payload)

    def _could_not_start(self, message: str) -> TrainingEnd:
        return self._run.failed(message)

    def _lost(self, exitcode) -> TrainingEnd:
        end = self._run.cancelled_early() if self._stopped_early else self._run.failed(exit_message(exitcode))
        _close_lost_run(self._pid, end)
        return end


# ------------------------------------------------------------------------------------------
# in the child


def _child_main(conn, flags, config: TrainConfig, store: ModelStore, name: Optional[str]) -> None:
    lower_process_priority()  # before TensorFlow starts its pools: they inherit it
    run = _Run(config)
    send = Sender(conn, run.note)
    if flags[CANCEL]:  # cancelled before the child got here
        send(END, run.cancelled_early())
        conn.close()
        return
    try:
        from . import device, workflows
        from .training import Trainer

        device.import_tensorflow_quietly()
        send("device", device.describe())

        def progress(p) -> None:
            flags[TRAINED] = True  # before the report: from now on a cancel keeps the model
            send("progress", p)

        def status(text: str) -> None:
            send("status", text)

        trainer = Trainer(config, on_progress=progress, on_epoch=lambda e: send("epoch", e), on_status=status)
        threading.Thread(target=watch, args=(flags, trainer.cancel), name="cancel-watch", daemon=True).start()
        result, entry = workflows.train_and_save(trainer, store, name, status, measure_it=False, origin="window")
        send(END, TrainingEnd.of_result(result, entry, run.config))
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a message for the parent
        if not isinstance(exc, DenoiserError) and not out_of_memory(exc):
            traceback.print_exc()  # a bug: the details are for us
        send(END, run.failed(failure_message(exc)))
    finally:
        conn.close()
    # Everything is saved (atomically) and reported: skip the interpreter's teardown, which
    # spends a second or more taking TensorFlow apart.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _close_lost_run(pid: Optional[int], end: TrainingEnd) -> None:
    """The child ended without its end: its record of the run (still "running") gets this one."""
    try:
        from . import runs

        runs.close_lost(pid, end)
    except Exception:  # noqa: BLE001 - the record is a convenience: the window must hear the end
        traceback.print_exc()


class _Run:
    """What a run has reported so far (in the child or the parent), so that an end the trainer
    did not make itself (a failure, a cancel before the first batch) says what is known."""

    def __init__(self, config: TrainConfig):
        self.config = config.to_dict()
        self.started = time.monotonic()
        self.device = ""
        self.epochs = 0

    def note(self, kind: str, payload) -> None:
        if kind == "device":
            self.device = payload
        elif kind == "epoch":
            self.epochs += 1

    def _known(self) -> dict:
        return dict(seconds=time.monotonic() - self.started, device=self.device, epochs=self.epochs)

    def failed(self, message: str) -> TrainingEnd:
        return TrainingEnd.failure(message, self.config, **self._known())

    def cancelled_early(self) -> TrainingEnd:
        return TrainingEnd.cancelled_before_first_batch(self.config, **self._known())
