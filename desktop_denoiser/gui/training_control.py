"""Training from the window: one at a time, shown in the training panel, the new model measured.

:class:`TrainingControl` starts a :class:`~.workers.TrainingThread` (which relays the child
process), wires its events to the :class:`~.training_panel.TrainingPanel`, and, when it ends,
shows the :class:`~desktop_denoiser.core.training_end.TrainingEnd` in the panel and emits
``ended(end)``. The window then loads a new model and calls :meth:`TrainingControl.measure`,
which measures it in the inference thread, after that load, and emits ``measured``.

A thread that has delivered its end may still wait for its process to exit: it is kept in
:attr:`TrainingControl.ending` and deleted once finished (the GUI thread never waits for it,
except when the window closes: :meth:`TrainingControl.shutdown`).
"""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal

from ..core.figures import ModelFigures
from ..core.training_end import TrainingEnd
from .workers import InferenceWorker, SweepThread, TrainingThread, with_entry

MEASURE_LIMIT = 2000  # test digits a model trained in the window is measured on
CLOSE_WAIT_MS = 120_000  # how long closing the window waits for a cancelled training to stop


class TrainingControl(QObject):
    ended = Signal(object)  # TrainingEnd, once per training, after the panel shows it
    sweep_ended = Signal(object)  # sweep_process.SweepEnd, once per sweep, after the panel shows it
    sweep_run_ended = Signal(object)  # sweep_record.SweepRecord, when the baseline is in and after each run of a sweep
    measured = Signal(object, object)  # ModelFigures, the updated ModelEntry of the new model

    def __init__(self, store, panel, inference: InferenceWorker, run_job: Callable, parent=None):
        """``run_job(fn, done)`` runs ``fn(pipeline)`` in the inference thread and then ``done(result)``
        in the GUI thread (the window's job queue)."""
        super().__init__(parent)
        self.store = store
        self.panel = panel
        self.inference = inference
        self.run_job = run_job
        self.thread: Optional[TrainingThread | SweepThread] = None  # the running training or sweep
        self.ending: set = set()  # threads that delivered their end and wait for their process to exit

    def is_training(self) -> bool:
        """True from start until the end has been shown."""
        return self.thread is not None

    def start(self, config, name: Optional[str] = None) -> TrainingThread:
        """Start a training (a bad config or name raises ConfigError before anything starts)."""
        assert self.thread is None, "one training at a time"
        thread = TrainingThread(config, self.store, name, parent=self)
        thread.progress.connect(self.panel.show_progress)
        thread.epoch.connect(self.panel.show_epoch)
        thread.status.connect(self.panel.show_status)
        thread.device.connect(self.panel.set_device)
        thread.ended.connect(self._ended)
        self.thread = thread
        self.panel.training_started(config)
        thread.start()
        return thread

    def start_sweep(self, sweep) -> SweepThread:
        """Start a sweep: its runs train one after the other in one child process, the run in
        flight shown in the panel like a training (the caller connects the thread's ``record``
        signal to its chart)."""
        assert self.thread is None, "one training at a time"
        thread = SweepThread(sweep, self.store, parent=self)
        thread.run_start.connect(lambda r: self.panel.run_started(f"Sweep run {r.index + 1}/{r.total}: {r.name} ({r.description})"))
        thread.progress.connect(lambda rp: self.panel.show_progress(rp.progress))
        thread.status.connect(self.panel.show_status)
        thread.device.connect(self.panel.set_device)
        thread.record.connect(self.sweep_run_ended)
        thread.ended.connect(self._sweep_ended)
        self.thread = thread
        self.panel.training_started()
        thread.start()
        return thread

    def _sweep_ended(self, end) -> None:
        self._release()
        self.panel.job_finished(end.describe())
        self.sweep_ended.emit(end)

    def cancel(self) -> None:
        if self.thread is not None:
            self.thread.cancel()

    def _ended(self, end: TrainingEnd) -> None:
        self._release()
        self.panel.training_finished(end)
        self.ended.emit(end)

    def measure(self, entry) -> None:
        """Measure a new model on MEASURE_LIMIT test digits and record its figures, in the
        inference thread; call it after asking that thread to load the model (the job waits
        behind the load, and measures only if the model is then held)."""
        self.panel.show_measuring(MEASURE_LIMIT)
        worker = self.inference

        def job(pipeline):
            from ..core import workflows

            info = worker.info
            if info is None or entry.name not in {e.name for e in (info.denoiser, info.classifier) if e}:
                return ModelFigures.of_entry(entry), entry  # the load failed and has said so
            figures, updated = workflows.measure_entry(self.store, entry, pipeline, info.classifier, MEASURE_LIMIT)
            worker.info = with_entry(info, updated)
            return figures, updated

        def done(result) -> None:
            figures, updated = result
            self.panel.show_figures(figures)
            self.measured.emit(figures, updated)

        self.run_job(job, done)

    # threads -----------------------------------------------------------------------------------

    def _release(self) -> None:
        """The end is in; the thread may still wait for its process to exit (never block on that here)."""
        thread, self.thread = self.thread, None
        if thread is not None:
            self.ending.add(thread)
            thread.finished.connect(self._reap)  # a method of this GUI-thread object: runs on the GUI thread
            self._reap()

    def _reap(self) -> None:
        for thread in [t for t in self.ending if t.isFinished()]:
            self.ending.discard(thread)
            thread.deleteLater()

    def shutdown(self) -> None:
        """Stop a running training (it keeps its best epoch) and wait for every thread to end."""
        thread = self.thread
        if thread is not None:
            thread.cancel()
            if not thread.wait(CLOSE_WAIT_MS):
                thread.process.kill()
                thread.wait()
        for t in list(self.ending):
            t.wait()
