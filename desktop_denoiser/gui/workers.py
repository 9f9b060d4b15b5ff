"""Threads that run core jobs for the window.

* :class:`InferenceWorker` is a QThread that owns every TensorFlow call the window makes
  (loading models, denoising, classifying, sweeps, measuring a new model). The GUI thread
  never touches TF, so a training in another thread cannot deadlock it. Frame requests are
  coalesced: while one frame is computed, newer requests replace each other and only the
  latest is computed next.
* :class:`TrainingThread` runs :func:`workflows.train_and_save` (train and store; the window
  then measures the new model in the inference thread) and reports progress.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import queue
import sys
import threading
import time
import traceback
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QThread, Signal

from ..core import preprocess
from ..core.errors import DenoiserError
from ..core.noise import NoiseSpec


BACKGROUND_NICE = 5


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> None:
    """Run the calling thread (and the threads it starts, such as TensorFlow's pools) at a
    lower OS priority, so the GUI thread gets the CPU first and the window stays responsive.
    Linux only (nice values are per thread there); raising nice needs no privileges."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except (AttributeError, OSError):
        pass


@dataclasses.dataclass
class FrameRequest:
    token: int
    noise: NoiseSpec
    seed: int
    raw: Any = None  # a PIL image or a (H, W) uint8 array to normalise, or
    ready28: Optional[np.ndarray] = None  # an image already in MNIST form (test digits)


@dataclasses.dataclass
class FrameResult:
    token: int
    clean: np.ndarray
    noisy: np.ndarray
    reconstruction: Optional[np.ndarray]
    probs_noisy: Optional[np.ndarray]
    probs_reconstruction: Optional[np.ndarray]
    seconds: float  # inference time (denoise + classify)
    empty: bool
    analysis: Any = None


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


class InferenceWorker(QThread):
    """Owns the Pipeline and runs every TensorFlow call the window makes, in one thread.

    Call its public methods from the GUI thread; they queue a task, and :meth:`run` (the thread)
    takes tasks one by one. The thread runs one long Python call for its whole life, so it keeps
    a single Python thread state. (A QObject moved to a QThread instead enters Python afresh for
    every queued slot, and TensorFlow's pybind11 code then crashed now and then while tracing a
    graph, with a stale thread state: see ``tests/test_gui.py::test_models_reload_many_times``.)
    """

    models_ready = Signal(object)  # ModelsInfo
    frame_ready = Signal(object)  # FrameResult
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
        self._tasks: "queue.SimpleQueue[tuple]" = queue.SimpleQueue()

    # called from the GUI thread --------------------------------------------------------------

    def submit(self, request: FrameRequest) -> None:
        """Compute a frame; a newer request replaces one that has not started yet."""
        with self._lock:
            self._pending = request
        self._tasks.put(("frame",))

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
        # Importing TensorFlow and building graphs allocate millions of objects: with the
        # collector on, its full passes stall every thread (the GUI's too) for up to 0.25 s.
        # Off while loading, then the survivors are frozen out of later collections.
        gc.disable()
        try:
            self._load(denoiser, classifier)
        finally:
            gc.enable()
            gc.freeze()
        self._process()

    def _load(self, denoiser, classifier) -> None:
        try:
            self.status.emit("Loading TensorFlow…")
            from ..core import device
            from ..core.inference import Pipeline

            self.device = device.describe()
            self.status.emit("Loading models…")
            d_entry = self.store.find(denoiser) if denoiser else self.store.default("denoiser")
            c_entry = self.store.find(classifier) if classifier else self.store.default("classifier")
            d_model = self.store.load(str(d_entry.path), "denoiser") if d_entry else None
            c_model = self.store.load(str(c_entry.path), "classifier") if c_entry else None
            self.pipeline = Pipeline(d_model.model if d_model else None, c_model.model if c_model else None)
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

    def _compute(self, request: FrameRequest) -> FrameResult:
        analysis = None
        if request.ready28 is not None:
            clean = np.asarray(request.ready28, np.float32)
            empty = not clean.any()
        else:
            analysis = preprocess.analyse(request.raw)
            clean, empty = analysis.image, analysis.empty
        noisy = request.noise.apply(clean, request.seed)
        if empty or self.pipeline is None:
            return FrameResult(request.token, clean, noisy, None, None, None, 0.0, empty, analysis)
        t0 = time.perf_counter()
        p = self.pipeline.run(noisy)
        return FrameResult(request.token, clean, noisy, p.reconstruction, p.probs_noisy, p.probs_reconstruction,
                           time.perf_counter() - t0, False, analysis)

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


class TrainingThread(QThread):
    """Runs one training (train, measure, store) in its own thread."""

    progress = Signal(object)  # training.Progress
    epoch = Signal(object)  # training.EpochResult
    status = Signal(str)
    succeeded = Signal(object, object)  # summary dict, ModelEntry or None
    failed = Signal(str)

    def __init__(self, config, store, name: Optional[str] = None, parent=None):
        super().__init__(parent)
        from ..core.training import Trainer

        self.setObjectName("training")
        self.store = store
        self.name = name
        self.trainer = Trainer(config, on_progress=self.progress.emit, on_epoch=self.epoch.emit, on_status=self.status.emit)

    def cancel(self) -> None:
        self.trainer.cancel()

    def run(self) -> None:
        from ..core import workflows

        lower_thread_priority()
        try:
            result, entry = workflows.train_and_save(self.trainer, self.store, self.name, self.status.emit,
                                                     measure_it=False)
            summary = {
                "stop_reason": result.stop_reason, "best_epoch": result.best_epoch, "epochs": len(result.history),
                "seconds": result.seconds, "device": result.device, "cancelled": result.cancelled,
            }
            del result
            self.succeeded.emit(summary, entry)
        except DenoiserError as exc:
            self.failed.emit(str(exc))
        except MemoryError:
            self.failed.emit("Training ran out of memory. Try a smaller batch size or training subset.")
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message; the app keeps running
            name = type(exc).__name__
            if "ResourceExhausted" in name:
                self.failed.emit("Training ran out of memory. Try a smaller batch size or training subset.")
            else:
                traceback.print_exc()
                self.failed.emit(f"Training failed: {name}: {str(exc).splitlines()[0] if str(exc) else ''}")
