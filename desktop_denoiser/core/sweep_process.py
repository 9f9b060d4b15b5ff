"""A sweep from the window: its runs trained one after the other in one child process.

The same local queue as ``desktop-denoiser sweep`` (:class:`~.sweep_run.SweepRunner`), run in a
child (:mod:`.child_process`) so that the window never waits on TensorFlow. Its events:

* ``("status", text)``, ``("device", text)``;
* ``("record", SweepRecord)`` when the baseline is measured and after each run (the chart is
  drawn from it: :func:`.sweep_chart.chart_data`);
* ``("run_start", RunStart)``, ``("progress", RunProgress)`` while a run trains;
* then exactly one ``("end", SweepEnd)``.

Cancel stops the run in flight after its batch (it keeps nothing: a half-trained model is not
comparable) and skips the rest; the runs that finished are kept, and so is the record.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import traceback
from typing import Optional

from .child_process import CANCEL, END, ChildProcess, Sender, exit_message, failure_message, out_of_memory, watch
from .errors import DenoiserError
from .priority import lower_process_priority
from .store import ModelStore
from .sweep_record import CANCELLED, FAILED, FINISHED, SweepRecord
from .sweeps import Sweep, describe_config


@dataclasses.dataclass(frozen=True)
class RunStart:
    index: int  # 0-based
    total: int
    name: str
    description: str  # the run's settings in a few words


@dataclasses.dataclass(frozen=True)
class RunProgress:
    index: int
    total: int
    progress: object  # training.Progress of the run in flight

    @property
    def fraction(self) -> float:
        """Of the whole sweep, 0..1 (runs are counted as equal)."""
        return min(1.0, (self.index + float(self.progress.fraction)) / max(1, self.total))


@dataclasses.dataclass(frozen=True)
class SweepEnd:
    status: str  # FINISHED, CANCELLED or FAILED
    record: Optional[SweepRecord]
    message: str = ""

    def describe(self) -> str:
        if self.record is not None:
            counts = self.record.counts()
            done = f"{counts.get(FINISHED, 0)} of {len(self.record.runs)} runs finished"
        else:
            done = "no run finished"
        if self.status == FINISHED:
            return f"Sweep finished: {done}."
        if self.status == CANCELLED:
            return f"Sweep cancelled: {done}."
        return f"Sweep failed: {self.message} ({done})."


class SweepProcess(ChildProcess):
    """Runs ``sweep`` with the local queue in a child process; see the module docstring."""

    name = "desktop-denoiser-sweep"

    def __init__(self, sweep: Sweep, store: ModelStore):
        super().__init__()
        self.sweep = sweep
        self.store = store
        self.record: Optional[SweepRecord] = None  # the latest the child sent

    def _target(self):
        return _child_main

    def _args(self) -> tuple:
        return (self.sweep, self.store)

    def _note(self, kind, payload) -> None:
        if kind == "record":
            self.record = payload

    def _could_not_start(self, message: str) -> SweepEnd:
        return SweepEnd(FAILED, None, message)

    def _lost(self, exitcode) -> SweepEnd:
        return SweepEnd(FAILED, self.record, exit_message(exitcode))


def _child_main(conn, flags, sweep: Sweep, store: ModelStore) -> None:
    lower_process_priority()  # before TensorFlow starts its pools: they inherit it
    send = Sender(conn)
    runner = None
    try:
        from . import device
        from .sweep_run import Callbacks, SweepRunner

        device.import_tensorflow_quietly()
        send("device", device.describe())
        callbacks = Callbacks(
            on_run_start=lambda i, total, point: (send("record", runner.record),
                                                  send("run_start", RunStart(i, total, point.name, describe_config(point.config)))),
            on_progress=lambda i, total, p: send("progress", RunProgress(i, total, p)),
            on_run_end=lambda i, total, run: send("record", runner.record),
            on_status=lambda text: send("status", text),
        )
        runner = SweepRunner(sweep, store, callbacks)
        if flags[CANCEL]:
            runner.cancel()
        threading.Thread(target=watch, args=(flags, runner.cancel), name="cancel-watch", daemon=True).start()
        record = runner.run()
        send(END, SweepEnd(record.status, record))
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a message for the parent
        if not isinstance(exc, DenoiserError) and not out_of_memory(exc):
            traceback.print_exc()
        send(END, SweepEnd(FAILED, runner.record if runner is not None else None, failure_message(exc)))
    finally:
        conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # everything is saved and reported: skip TensorFlow's slow teardown
