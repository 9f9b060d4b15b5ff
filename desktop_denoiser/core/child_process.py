"""A long job in a child process, reported to the parent as a stream of ``(kind, payload)`` events.

Why a process and not a thread: while Keras builds a training graph, TensorFlow computes the
symbolic gradient of the model in C++ and holds the Python interpreter for 100-200 ms at a
time. Every other thread of the process waits, a window's event loop too. A child process has
its own interpreter, so nothing it does can stall the parent, and an out-of-memory kill ends
the child only. Two jobs run this way: one training (:mod:`.training_process`) and a sweep of
trainings (:mod:`.sweep_process`).

:class:`ChildProcess` (the parent's side) starts the child (``spawn``, the one start method
that is safe with threads and the same on every OS), yields its events until the one of kind
:data:`END`, and cancels it. Parent and child share two lock-free flags in shared memory
(``CANCEL``, set by the parent; ``STARTED``, set by the child once it has something worth
keeping). A lock, such as the one in ``multiprocessing.Event``, could be left held by a child
that was killed, and then hang the parent.

In the child, :class:`Sender` sends events (a no-op once the parent has gone) and :func:`watch`
cancels the job when the parent asks or has gone away.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import time
from typing import Any, Callable, Iterator, Optional

from .errors import DenoiserError

POLL_SECONDS = 0.1
CANCEL, STARTED = 0, 1  # the shared flags
END = "end"  # the kind of the last event
OUT_OF_MEMORY = "Training ran out of memory. Try a smaller batch size or training subset."


def out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or "ResourceExhausted" in type(exc).__name__


def failure_message(exc: BaseException) -> str:
    """What a person is told when a training raised ``exc`` (the window titles it "Training
    failed"): our own errors as they are, running out of memory with advice, anything else as
    its type and first line."""
    if isinstance(exc, DenoiserError):
        return str(exc)
    if out_of_memory(exc):
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


class ChildProcess:
    """The parent's side of one child job. A subclass gives :meth:`_target` and :meth:`_args`
    (what the child runs: ``target(conn, flags, *args)``), :meth:`_lost` (the end event's
    payload when the child ended without sending one) and may watch events with :meth:`_note`."""

    name = "desktop-denoiser-job"

    def __init__(self):
        self._ctx = multiprocessing.get_context("spawn")
        self._flags = self._ctx.RawArray(ctypes.c_bool, 2)  # [CANCEL, STARTED], lock-free
        self._process: Optional[multiprocessing.process.BaseProcess] = None
        self._pid: Optional[int] = None
        self.exitcode: Optional[int] = None

    # what a job is -----------------------------------------------------------------------------

    def _target(self) -> Callable:
        raise NotImplementedError

    def _args(self) -> tuple:
        raise NotImplementedError

    def _lost(self, exitcode: Optional[int]) -> Any:
        """The payload of the END event when the child ended without one."""
        raise NotImplementedError

    def _could_not_start(self, message: str) -> Any:
        return self._lost(None)

    def _note(self, kind: str, payload: Any) -> None:
        """Called for every event the child sends, before it is yielded."""

    # control ----------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Ask the job to stop (the child decides what it keeps)."""
        self._flags[CANCEL] = True

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
        """Start the child and yield its events; the last one is ``(END, payload)``. On return
        (or if the caller stops iterating) the child has ended."""
        receive, send = self._ctx.Pipe(duplex=False)
        process = self._ctx.Process(target=self._target(), args=(send, self._flags, *self._args()), name=self.name, daemon=True)
        self._process = process
        try:
            process.start()
            self._pid = process.pid
        except Exception as exc:  # noqa: BLE001 - e.g. no resources for a process, or a pickling bug
            receive.close()
            yield (END, self._could_not_start(f"Could not start the training process: {exc}"))
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
                    yield (END, self._lost(process.exitcode))
                    return
                self._note(*event)
                finished = event[0] == END
                yield event
                if finished:
                    return
        finally:
            receive.close()
            if not finished:  # the caller stopped listening: nobody wants this job
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


def watch(flags, cancel: Callable[[], None]) -> None:
    """Call ``cancel()`` when the parent asks, or when the parent has gone (run it in a daemon
    thread of the child)."""
    parent = multiprocessing.parent_process()
    while not flags[CANCEL]:
        if parent is not None and not parent.is_alive():
            break
        time.sleep(POLL_SECONDS)
    cancel()


class Sender:
    """Sends events to the parent (telling ``note(kind, payload)`` first, when given); once the
    parent has gone, sending is a no-op."""

    def __init__(self, conn, note: Optional[Callable] = None):
        self.conn = conn
        self.note = note
        self.open = True

    def __call__(self, *event) -> None:
        if self.note is not None:
            self.note(*event)
        if not self.open:
            return
        try:
            self.conn.send(event)
        except (BrokenPipeError, EOFError, OSError):
            self.open = False
