"""Threads that run core jobs for the window.

* :class:`InferenceWorker` is a QThread that owns every TensorFlow call the window makes
  (loading models, denoising, classifying, sweeps, measuring a new model). The GUI thread
  never touches TF (and trainings run in their own process), so nothing can deadlock it.
  Frame requests are coalesced: while one frame is computed, newer requests replace each
  other and only the latest is computed next. :meth:`InferenceWorker.set_frame_extra` adds a
  per-frame hook (the lab's live markers), run in the same task right after the frame.
* :class:`TrainingThread` relays a training that runs in a child process (train and store;
  the window then measures the new model in the inference thread); :class:`SweepThread` a
  sweep of trainings in one child process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import queue
import threading
import traceback
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QThread, Signal

from ..core import frame as frame_mod
from ..core import workflows
from ..core.errors import DenoiserError
from ..core.noise import NoiseSpec
from ..core.priority import lower_thread_priority
from ..core.training_end import TrainingEnd
from ..core.training_process import END, TrainingProcess, failure_message


@dataclasses.dataclass
class FrameRequest:
    token: int
    noise: NoiseSpec
    seed: int
    raw: Any = None  # a PIL image or a (H, W) uint8 array to normalise, or
    ready28: Optional[np.ndarray] = None  # an image already in MNIST form (test digits)


@dataclasses.dataclass
class ModelsInfo:
    device: str
    denoisers: list
    classifiers: list
    denoiser: Any  # the active ModelEntry or None
    classifier: Any


def with_entry(info: ModelsInfo, entry) -> ModelsInfo:
    """``info`` with every model of ``entry``'s name replaced by ``entry`` (after its metadata changed)."""
    swap = lambda e: entry if e is not None and e.name == entry.name else e  # noqa: E731
    return dataclasses.replace(info, denoisers=[swap(e) for e in info.denoisers],
                               classifiers=[swap(e) for e in info.classifiers],
                               denoiser=swap(info.denoiser), classifier=swap(info.classifier))


@contextlib.contextmanager
def no_gc_pauses():
    """Importing TensorFlow, loading models and tracing graphs allocate millions of objects: with
    the collector on, its full passes stall every thread (the GUI's too) for up to 0.25 s. Off
    while the block runs, then the survivors are frozen out of later collections."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.freeze()


class InferenceWorker(QThread):
    """Owns the Pipeline and runs every TensorFlow call the window makes, in one thread.

    Call its public methods from the GUI thread; they queue a task, and :meth:`run` (the thread)
    takes tasks one by one. The thread runs one long Python call for its whole life, so it keeps
    a single Python thread state. (A QObject moved to a QThread instead enters Python afresh for
    every queued slot, and TensorFlow's pybind11 code then crashed now and then while tracing a
    graph, with a stale thread state: see ``tests/test_gui.py::test_models_reload_many_times``.)
    """

    models_ready = Signal(object)  # ModelsInfo
    frame_ready = Signal(object)  # core.frame.Frame
    job_done = Signal(int, object)  # job id, result
    failed = Signal(str)
    status = Signal(str)

    def __init__(self, store, parent=None):
        super().__init__(parent)
        self.setObjectName("inference")
        self.store = store
        self.pipeline = None
        self.info: Optional[ModelsInfo] = None  # what the pipeline holds
        self.device = "…"
        self._lock = threading.Lock()
        self._pending: Optional[FrameRequest] = None
        self._extras: dict = {}  # key -> fn(pipeline, frame): replaced whole, never changed in place
        self._failed_extras: set = set()  # hooks whose failure was reported once
        self._tasks: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()

    # called from the GUI thread --------------------------------------------------------------

    def submit(self, request: FrameRequest) -> None:
        """Compute a frame; a newer request replaces one that has not started yet."""
        with self._lock:
            self._pending = request
        self._tasks.put(("frame",))

    def set_frame_extra(self, key: str, fn: Optional[Callable[[Any, frame_mod.Frame], Any]]) -> None:
        """Run ``fn(pipeline, frame)`` in this thread after every frame, in the same task, and
        store what it returns in ``frame.extras[key]`` before the frame is emitted; ``fn=None``
        removes the hook (then frames have no ``key``). A hook that raises leaves ``key`` out of
        that frame (its traceback is printed once)."""
        with self._lock:
            extras = dict(self._extras)
            if fn is None:
                extras.pop(key, None)
            else:
                extras[key] = fn
                self._failed_extras.discard(key)
            self._extras = extras

    def frame_extras(self) -> tuple:
        """The keys of the hooks installed now."""
        return tuple(self._extras)

    def load_models(self, denoiser: Optional[str] = None, classifier: Optional[str] = None) -> None:
        self._tasks.put(("load", denoiser, classifier))

    def run_job(self, job_id: int, fn: Callable[[Any], Any]) -> None:
        """Run ``fn(pipeline)`` in the worker thread; the result arrives as ``job_done(job_id, result)``."""
        self._tasks.put(("job", job_id, fn))

    def stop(self, timeout_ms: int = 10000) -> bool:
        """Finish the current task, skip the rest and end the thread."""
        self._tasks.put(("stop",))
        return self.wait(timeout_ms)

    # in the worker thread --------------------------------------------------------------------

    def run(self) -> None:
        lower_thread_priority()
        while True:
            task = self._tasks.get()
            if task[0] == "stop":
                return
            if task[0] == "frame":
                self._process()
            elif task[0] == "load":
                self._load_models(*task[1:])
            elif task[0] == "job":
                self._run_job(*task[1:])

    def _load_models(self, denoiser, classifier) -> None:
        with no_gc_pauses():  # see no_gc_pauses
            self._load(denoiser, classifier)
        self._process()

    def _load(self, denoiser, classifier) -> None:
        try:
            self.status.emit("Loading TensorFlow…")
            from ..core import device

            device.import_tensorflow_quietly()  # TF's C++ start-up chatter stays off the terminal
            # The window's TensorFlow work is one digit at a time (trainings run in their own
            # process): one thread is fastest there (see device.use_one_thread).
            device.use_one_thread()

            self.device = device.describe()
            self.status.emit("Loading models…")
            loaded = workflows.load_models(self.store, denoiser, classifier, fallback=True)
            if loaded.problems:  # said once; the window still comes up with what does work
                self.failed.emit("\n".join(loaded.problems))
            self.pipeline = loaded.pipeline()
            d_model, c_model = loaded.denoiser, loaded.classifier
            self.info = ModelsInfo(
                self.device, self.store.entries("denoiser"), self.store.entries("classifier"),
                d_model.entry if d_model else None, c_model.entry if c_model else None,
            )
            self.models_ready.emit(self.info)
            self.status.emit("Ready")
        except DenoiserError as exc:
            self.failed.emit(str(exc))
            self.models_ready.emit(ModelsInfo(self.device, self._safe_entries("denoiser"), self._safe_entries("classifier"),
                                              None, None))
        except Exception as exc:  # noqa: BLE001 - shown to the person, the app keeps running
            traceback.print_exc()
            self.failed.emit(f"Could not load the models: {exc}")

    def _safe_entries(self, kind):
        try:
            return self.store.entries(kind)
        except Exception:  # noqa: BLE001
            return []

    def _process(self) -> None:
        with self._lock:
            request, self._pending = self._pending, None
        if request is not None:
            self._guarded("Could not process the image", lambda: self.frame_ready.emit(self._compute(request)))

    def _compute(self, request: FrameRequest) -> frame_mod.Frame:
        frame = frame_mod.compute(self.pipeline, request.raw, request.ready28, request.noise, request.seed)
        for key, fn in self._extras.items():  # a snapshot: set_frame_extra replaces the dict
            try:
                frame.extras[key] = fn(self.pipeline, frame)
            except Exception:  # noqa: BLE001 - a view's hook never costs the frame itself
                if key not in self._failed_extras:
                    self._failed_extras.add(key)
                    traceback.print_exc()
        return frame

    def _run_job(self, job_id: int, fn) -> None:
        if not self._guarded("The operation failed", lambda: self.job_done.emit(job_id, fn(self.pipeline))):
            self.job_done.emit(job_id, None)

    def _guarded(self, what: str, work: Callable[[], None]) -> bool:
        """Run ``work``; a failure becomes a ``failed`` message (the app keeps running). True if it worked."""
        try:
            work()
            return True
        except DenoiserError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - shown to the person
            traceback.print_exc()
            self.failed.emit(f"{what}: {exc}")
        return False


class ProcessThread(QThread):
    """Relays a job that runs in a child process (:class:`~.core.child_process.ChildProcess`):
    each event ``(kind, payload)`` becomes the signal named in :attr:`relayed` (the END event
    becomes ``ended``, exactly once, last)."""

    ended = Signal(object)
    relayed: tuple = ()
    starting = "Starting the training process…"

    def cancel(self) -> None:
        self.process.cancel()

    @property
    def cancelled(self) -> bool:
        return self.process.cancelled

    def _failure(self, message: str):
        raise NotImplementedError

    def run(self) -> None:
        self.status.emit(self.starting)
        signals = {kind: getattr(self, kind) for kind in self.relayed}
        signals[END] = self.ended
        ended = False
        try:
            for kind, payload in self.process.events():
                ended = ended or kind == END
                signals[kind].emit(payload)
        except Exception as exc:  # noqa: BLE001 - the window must always hear how the job ended
            traceback.print_exc()
            if not ended:
                self.ended.emit(self._failure(failure_message(exc)))


class TrainingThread(ProcessThread):
    """Relays one training that runs in a child process (:class:`TrainingProcess`): its
    events become signals. The training has its own interpreter there, so Keras building the
    training graph cannot hold up the window's (see ``core/child_process.py``)."""

    progress = Signal(object)  # training.Progress
    epoch = Signal(object)  # training.EpochResult
    status = Signal(str)
    device = Signal(str)  # where it trains, once the child has found out
    ended = Signal(object)  # training_end.TrainingEnd, exactly once, last
    relayed = ("progress", "epoch", "status", "device")

    def __init__(self, config, store, name: Optional[str] = None, parent=None):
        super().__init__(parent)
        self.setObjectName("training")
        self.process = TrainingProcess(config, store, name)  # a bad config is refused here

    def _failure(self, message: str) -> TrainingEnd:
        return TrainingEnd.failure(message, self.process.config.to_dict())


class SweepThread(ProcessThread):
    """Relays a sweep whose runs train one after the other in a child process
    (:class:`~.core.sweep_process.SweepProcess`)."""

    record = Signal(object)  # sweep_record.SweepRecord, after the baseline and after each run
    run_start = Signal(object)  # sweep_process.RunStart
    progress = Signal(object)  # sweep_process.RunProgress
    status = Signal(str)
    device = Signal(str)
    ended = Signal(object)  # sweep_process.SweepEnd, exactly once, last
    relayed = ("record", "run_start", "progress", "status", "device")
    starting = "Starting the sweep's training process…"

    def __init__(self, sweep, store, parent=None):
        super().__init__(parent)
        self.setObjectName("sweep")
        from ..core.sweep_process import SweepProcess

        self.process = SweepProcess(sweep, store)

    def _failure(self, message: str):
        from ..core.sweep_process import SweepEnd

        return SweepEnd("failed", self.process.record, message)
