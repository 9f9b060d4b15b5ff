"""One training in a child process, reported to the parent as a stream of events.

Why a process and not a thread: while Keras builds the training graph, TensorFlow computes
the symbolic gradient of the model in C++ (``TFE_Py_TapeGradient``) and holds the Python
interpreter for 100-200 ms at a time. Every other thread of the process waits, a window's
event loop too. A child process has its own interpreter, so nothing the training does can
stall the parent. It also confines the failures that would take a program down: an
out-of-memory kill ends the child only, and everything it allocated returns to the system
when it exits.

:class:`TrainingProcess` starts the child (``spawn``, the one start method that is safe with
threads and the same on every OS), relays its events and cancels it:

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

import ctypes
import multiprocessing
import os
import sys
import threading
import time
import traceback
from typing import Iterator, Optional

from .errors import DenoiserError
from .priority import lower_process_priority
from .store import ModelStore, check_name
from .training import TrainConfig
from .training_end import TrainingEnd

POLL_SECONDS = 0.1
CANCEL, TRAINED = 0, 1  # the shared flags
END = "end"  # the kind of the last event
OUT_OF_MEMORY = "Training ran out of memory. Try a smaller batch size or training subset."


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "ResourceExhausted" in type(exc).__name__


def failure_message(exc: BaseException) -> str:
    """What a person is told when a training raised ``exc`` (the window titles it "Training
    failed"): our own errors as they are, running out of memory with advice, anything else as
    its type and first line."""
    if isinstance(exc, DenoiserError):
        return str(exc)
    if _out_of_memory(exc):
        return OUT_OF_MEMORY
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def exit_message(exitcode: Optional[int]) -> str:
    """What a person is told when the child ended without a result."""
    if exitcode is not None and exitcode < 0:
        import signal

        try:
            sig = signal.Signals(-exitcode).name
        except ValueError:
            sig = f"signal {-exitcode}"
        hint = " The system may have run out of memory; try a smaller batch size or subset." if sig == "SIGKILL" else ""
        return f"The training process was stopped by {sig}.{hint}"
    return f"The training process ended unexpectedly (exit code {exitcode})."


class TrainingProcess:
    """Runs :func:`workflows.train_and_save` for ``config`` in a child process.

    The config and the model name are validated here, so a bad one is refused
    (``ConfigError``) before any process starts. :meth:`events` starts the child and yields its events until the last one; call
    :meth:`cancel` from any thread.

    Parent and child share two lock-free flags in shared memory (``cancel``, set by the
    parent; ``trained``, set by the child after its first batch). A lock, such as the one in
    ``multiprocessing.Event``, could be left held or waited on by a child that was killed, and
    then hang the parent.
    """

    def __init__(self, config: TrainConfig, store: ModelStore, name: Optional[str] = None):
        self.config = config.validate()
        if name is not None:
            check_name(name)
        self.store = store
        self.name = name
        self._ctx = multiprocessing.get_context("spawn")
        self._flags = self._ctx.RawArray(ctypes.c_bool, 2)  # [CANCEL, TRAINED], lock-free
        self._process: Optional[multiprocessing.process.BaseProcess] = None
        self._pid: Optional[int] = None
        self._stopped_early = False
        self.exitcode: Optional[int] = None

    def cancel(self) -> None:
        """Ask the training to stop after the batch in flight; it keeps its best epoch.

        Before the first batch has finished there is nothing to keep, and the child may still
        be importing TensorFlow (seconds): it is stopped at once instead."""
        self._flags[CANCEL] = True
        if not self._flags[TRAINED] and self._process is not None:
            self._stopped_early = True
            self._signal("terminate")

    @property
    def cancelled(self) -> bool:
        return bool(self._flags[CANCEL])

    def kill(self) -> None:
        """Stop the child at once (it saves nothing); :meth:`events` then reports it and returns."""
        self._signal("kill")

    def _signal(self, how: str) -> None:
        process = self._process
        try:
            getattr(process, how)()
        except (ValueError, AttributeError):
            pass  # not started yet (it sees the cancel flag at once) or already closed

    @property
    def pid(self) -> Optional[int]:
        """The child's process id once it has started (kept after it ended)."""
        return self._pid

    def events(self) -> Iterator[tuple]:
        """Start the child and yield its events; the last one is ``("end", TrainingEnd)``. On
        return (or if the caller stops iterating) the child has ended."""
        run = _Run(self.config)
        receive, send = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(
            target=_child_main, args=(send, self._flags, self.config, self.store, self.name),
            name="desktop-denoiser-training", daemon=True,
        )
        self._process = process
        try:
            process.start()
            self._pid = process.pid
        except Exception as exc:  # noqa: BLE001 - e.g. no resources for a process, or a pickling bug
            receive.close()
            yield (END, run.failed(f"Could not start the training process: {exc}"))
            return
        finally:
            send.close()  # the child holds its own end: EOF here once it exits
        finished = False
        try:
            while True:
                try:
                    event = receive.recv()
                except (EOFError, OSError):  # the child ended (OSError: in the middle of a message)
                    process.join(5)
                    self.exitcode = process.exitcode
                    finished = True
                    end = run.cancelled_early() if self._stopped_early else run.failed(exit_message(process.exitcode))
                    _close_lost_run(self._pid, end)
                    yield (END, end)
                    return
                run.note(*event)
                finished = event[0] == END
                yield event
                if finished:
                    return
        finally:
            receive.close()
            if not finished:  # the caller stopped listening: nobody wants this training
                self._flags[CANCEL] = True
                self._signal("terminate")
            self._end(process)

    def _end(self, process, timeout: float = 30.0) -> None:
        """The child has sent its last event (or was stopped): let it exit, else stop it."""
        process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
        self.exitcode = process.exitcode
        process.close()


# ------------------------------------------------------------------------------------------
# in the child


def _child_main(conn, flags, config: TrainConfig, store: ModelStore, name: Optional[str]) -> None:
    lower_process_priority()  # before TensorFlow starts its pools: they inherit it
    run = _Run(config)
    send = _Sender(conn, run)
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
        threading.Thread(target=_watch, args=(flags, trainer), name="cancel-watch", daemon=True).start()
        result, entry = workflows.train_and_save(trainer, store, name, status, measure_it=False, origin="window")
        send(END, TrainingEnd.of_result(result, entry, run.config))
    except BaseException as exc:  # noqa: BLE001 - every failure becomes a message for the parent
        if not isinstance(exc, DenoiserError) and not _out_of_memory(exc):
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


def _watch(flags, trainer) -> None:
    """Cancel the trainer when the parent asks, or when the parent has gone (it then keeps
    its best epoch, as after a Cancel)."""
    parent = multiprocessing.parent_process()
    while not flags[CANCEL]:
        if parent is not None and not parent.is_alive():
            break
        time.sleep(POLL_SECONDS)
    trainer.cancel()


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


class _Sender:
    """Sends events to the parent (noting them in ``run``); once the parent has gone, sending is a no-op."""

    def __init__(self, conn, run: _Run):
        self.conn = conn
        self.run = run
        self.open = True

    def __call__(self, *event) -> None:
        self.run.note(*event)
        if not self.open:
            return
        try:
            self.conn.send(event)
        except (BrokenPipeError, EOFError, OSError):
            self.open = False
