"""The lab's state for the window's active denoiser: its LabModel, its latent map and the live
markers hook, with every TensorFlow call run in the window's inference thread.

:class:`LabSession` follows ``models_ready``: a new denoiser makes a new LabModel (a job),
then its PCA map (a second job, so frames can be computed between the two). Only while the
lab is active (its dock visible): a hidden lab keeps nothing installed and is rebuilt when it
is shown again. The t-SNE map runs in a plain Python thread (it is numpy and scikit-learn once
the codes exist), with progress and cancel.

The frame hook (``InferenceWorker.set_frame_extra("lab", ...)``) places the frame's clean,
noisy and reconstructed images on the map in the inference thread, right after the frame,
so the markers arrive with the very frame they belong to (``frame.extras["lab"]``, a
:class:`Live`).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, Signal

from ...core.errors import DenoiserError
from ..background import Background
from ..workers import no_gc_pauses

MAP_DIGITS = 5000  # test digits on the map
HOOK = "lab"  # the key of the lab's values in frame.extras


@dataclasses.dataclass
class Live:
    """``frame.extras["lab"]``: the frame's markers on the map of ``model`` (``method``) and the
    time the hook took."""

    model: str
    method: str
    markers: Any  # core.lab.Markers
    seconds: float


def markers_hook(lab, latent_map) -> Callable:
    """The frame hook: ``fn(pipeline, frame)`` → :class:`Live`, or None when there is nothing to
    place (an empty input, no reconstruction, or frames of another model than the lab's)."""

    def live(pipeline, frame):
        if frame.empty or frame.reconstruction is None or pipeline is None or pipeline.denoiser is not lab.model:
            return None
        t0 = time.perf_counter()
        m = latent_map.markers(lab, noisy=frame.noisy, clean=frame.clean, reconstruction=frame.reconstruction)
        return Live(lab.name, latent_map.method, m, time.perf_counter() - t0)

    return live


@dataclasses.dataclass
class _Outcome:
    value: Any
    error: Optional[str]


class LabSession(QObject):
    """``host`` is the window: ``inference`` (the InferenceWorker), ``run_job(fn, done)``,
    ``schedule_update()`` and ``store``."""

    lab_changed = Signal(object)  # the LabModel, or None while there is none (loading, no denoiser)
    map_changed = Signal(object)  # the LatentMap shown, or None (none yet, no code, no MNIST)
    status = Signal(str)  # what the lab is doing or why there is nothing to show ("" when fine)
    progress = Signal(float, str)  # the t-SNE map: fraction (-1: not running), text
    _tsne_step = Signal(int, float, str)  # from the t-SNE thread: generation, fraction, text

    def __init__(self, host, parent=None):
        super().__init__(parent)
        self.host = host
        self.lab = None  # core.lab.LabModel of the active denoiser
        self.map = None  # the LatentMap shown (PCA, the 2-D code, or t-SNE)
        self.exact_map = None  # the PCA / code map (the manifold and clicks anywhere need its inverse)
        self.digits = None  # (images, labels) of the map, loaded once
        self.digits_error: Optional[str] = None
        self.frame = None  # the last frame shown while active
        self.active = False
        self.generation = 0  # bumped per model: results of older jobs are dropped
        self.denoiser: Optional[str] = None  # the active denoiser's name (from models_ready)
        self.text = "Loading models…"  # the last status
        self.timings: dict = {}  # seconds: "lab" (LabModel), "map" (its PCA map), "tsne"
        self._stale = True
        self._seen_models = False  # models_ready has come once (before that the window is loading)
        self._tsne_cancel: Optional[threading.Event] = None
        self._background = Background(self)
        self._tsne_step.connect(self._tsne_progress)

    # jobs --------------------------------------------------------------------------------------

    def run(self, fn: Callable, done: Callable, failed: Optional[Callable] = None,
            always: Optional[Callable] = None) -> None:
        """``fn(pipeline)`` in the inference thread, then in the GUI thread ``done(result)``, or
        ``failed(message)`` (default: the status) when it raised; both skipped when the model
        changed meanwhile. ``always()`` runs in every case (a LiveJob's bookkeeping)."""
        generation = self.generation

        def work(pipeline):
            try:
                return _Outcome(fn(pipeline), None)
            except DenoiserError as exc:
                return _Outcome(None, str(exc))
            except Exception as exc:  # noqa: BLE001 - shown in the view, the lab keeps working
                traceback.print_exc()
                return _Outcome(None, f"{type(exc).__name__}: {exc}")

        def deliver(outcome: _Outcome) -> None:
            try:
                if generation != self.generation:
                    return
                if outcome.error is None:
                    done(outcome.value)
                else:
                    (failed or self._say)(outcome.error)
            finally:
                if always is not None:
                    always()

        self.host.run_job(work, deliver)

    def _say(self, text: str) -> None:
        self.text = text
        self.status.emit(text)

    # following the window ----------------------------------------------------------------------

    def models_loaded(self, info) -> None:
        """A (re)load in the inference thread: the lab is rebuilt for its denoiser, now if active."""
        self.denoiser = info.denoiser.name if info is not None and info.denoiser is not None else None
        self._seen_models = True
        self.generation += 1
        self.cancel_tsne()
        self._set(None, None, None)
        self._stale = True
        if self.active:
            self._build()
        else:
            self._say("")

    def set_active(self, active: bool) -> None:
        """The dock was shown (build what is missing, install the hook) or hidden (remove it)."""
        if active == self.active:
            return
        self.active = active
        if not active:
            self.cancel_tsne()
            self._install_hook()
            return
        if self._stale:
            self._build()
        else:
            self._install_hook()

    def _set(self, lab, latent_map, exact_map) -> None:
        changed_lab = lab is not self.lab
        self.lab, self.map, self.exact_map = lab, latent_map, exact_map
        self._install_hook()
        if changed_lab:
            self.lab_changed.emit(lab)
        self.map_changed.emit(latent_map)

    def _install_hook(self) -> None:
        inference = self.host.inference
        if self.active and self.lab is not None and self.map is not None:
            inference.set_frame_extra(HOOK, markers_hook(self.lab, self.map))
            self.host.schedule_update()  # the current input gets its markers now, not at the next stroke
        else:
            inference.set_frame_extra(HOOK, None)

    def _build(self) -> None:
        if not self._seen_models:
            self._say("Loading models…")
            return
        self._stale = False
        if self.denoiser is None:
            self._say("No denoiser is loaded: train one or add one (Model menu), then the lab follows it.")
            return
        self._say(f"Preparing {self.denoiser} for the lab…")
        worker = self.host.inference
        started = time.perf_counter()

        def job(pipeline):
            from ...core.lab import LabModel

            if pipeline is None or pipeline.denoiser is None:
                raise DenoiserError("No denoiser is loaded.")
            info = worker.info
            with no_gc_pauses():  # tracing the lab's graphs allocates many objects
                return LabModel(pipeline.denoiser, pipeline.classifier, entry=info.denoiser if info else None)

        def done(lab) -> None:
            self.timings["lab"] = time.perf_counter() - started
            self._set(lab, None, None)
            if lab.has_code:
                self._build_map(started)
            else:
                self._say("")

        self.run(job, done)

    def _build_map(self, started: float) -> None:
        from ...core.lab import latent_map as lm

        lab, digits = self.lab, self.digits
        self._say(f"Encoding {MAP_DIGITS:,} test digits for the map of {lab.name}…")

        def job(pipeline):
            images, labels = digits if digits is not None else lm.mnist_digits(MAP_DIGITS)
            built = lm.build_map(lab, images, labels, "auto")
            blank = images[0]
            built.markers(lab, noisy=blank, clean=blank, reconstruction=blank)  # the frame hook's first call is slow
            return (images, labels), built

        def done(result) -> None:
            self.digits, built = result
            self.timings["map"] = time.perf_counter() - started
            self._set(lab, built, built)
            self._say("")

        def failed(message: str) -> None:
            self.digits_error = message
            self._say(message)
            self.map_changed.emit(None)

        self.run(job, done, failed)

    # the t-SNE map -----------------------------------------------------------------------------

    @property
    def tsne_running(self) -> bool:
        return self._tsne_cancel is not None

    def use_exact_map(self) -> None:
        """Back to the PCA (or 2-D code) map."""
        self.cancel_tsne()
        if self.exact_map is not None and self.map is not self.exact_map:
            self._set(self.lab, self.exact_map, self.exact_map)

    def start_tsne(self) -> None:
        """Embed the map's codes with t-SNE in a background thread (minutes); the PCA map stays
        shown until it is ready."""
        from ...core.lab import LatentMap
        from ...core.lab.projection import TSNE

        base = self.exact_map
        if base is None or self.tsne_running:
            return
        generation, cancel = self.generation, threading.Event()
        self._tsne_cancel = cancel
        step = self._tsne_step
        started = time.perf_counter()

        def work():
            fit = TSNE.fit(base.codes, seed=0, on_progress=lambda f, text: step.emit(generation, f, text),
                           cancel=cancel.is_set)
            return LatentMap(base.codes, base.labels, fit.points, fit, base.model_name)

        def done(result, error) -> None:
            if self._tsne_cancel is cancel:
                self._tsne_cancel = None
            if generation != self.generation:
                return
            self.progress.emit(-1.0, "cancelled" if cancel.is_set() else "")
            if error is not None:
                if not cancel.is_set():
                    self._say(f"The t-SNE map failed: {error}")
                return
            self.timings["tsne"] = time.perf_counter() - started
            self._set(self.lab, result, self.exact_map)

        self.progress.emit(0.0, "t-SNE: starting…")
        self._background.run(work, done, name="lab-tsne")

    def cancel_tsne(self) -> None:
        if self._tsne_cancel is not None:
            self._tsne_cancel.set()
            self._tsne_cancel = None
            self.progress.emit(-1.0, "cancelled")

    def _tsne_progress(self, generation: int, fraction: float, text: str) -> None:
        if generation == self.generation and self.tsne_running:
            self.progress.emit(fraction, text)
