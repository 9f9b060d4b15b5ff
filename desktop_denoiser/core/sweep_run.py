"""Running a sweep: the local queue (the default), one run after the other in this process.

Each run is :func:`run_point`: the run's config trained and stored with
:func:`workflows.train_and_save`, so it is a model of the store like any other (named
``PREFIX-<values>``, ``-2`` when taken) and is measured on its own noise, which is the swept
noise where the noise is an axis, on the sweep's ``eval_limit`` test digits, with the store's
default classifier. :mod:`.sweep_ray` runs the same function as Ray tasks, so both backends
give the same records.

Before the runs, the noisy-input baseline: for each noise the runs train on, the noisy test
digits themselves measured by the same evaluation (:func:`workflows.measure` with a pipeline
that has no denoiser), so their PSNR and the classifier's accuracy on them.

:meth:`SweepRunner.cancel` (any thread) stops the run in flight after its batch (it keeps
nothing: a half-trained model is not comparable) and skips the rest; the runs that finished
are kept. The record is written when the sweep starts and after every run.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from . import workflows
from .errors import DenoiserError
from .store import ModelStore
from .sweep_record import CANCELLED, FAILED, FINISHED, PENDING, RUNNING, SKIPPED, BaselineRecord, RunRecord, SweepRecord
from .sweeps import Point, Sweep

LOCAL, RAY = "local", "ray"
BACKENDS = (LOCAL, RAY)
MNIST_ENV = "DESKTOP_DENOISER_MNIST"


def _nothing(*args) -> None:
    return None


@dataclasses.dataclass
class Callbacks:
    """What a sweep reports, all on the thread that runs it (any may be left out):

    * ``on_run_start(index, total, point)`` when a run starts (0-based index),
    * ``on_progress(index, total, progress)`` with the run's own :class:`~.training.Progress`
      (the local backend; Ray tasks report only their start and end),
    * ``on_run_end(index, total, run_record)`` when a run has finished, failed or been cancelled,
    * ``on_status(text)`` for phases (measuring the baseline, a run's saving and measuring).
    """

    on_run_start: Callable = _nothing
    on_progress: Callable = _nothing
    on_run_end: Callable = _nothing
    on_status: Callable = _nothing


# ------------------------------------------------------------------------------------------
# one run, the same for every backend


def store_spec(store: ModelStore) -> dict:
    """What rebuilds ``store`` in another process: its folders."""
    return {"bundled_dir": str(store.bundled_dir), "user_dir": str(store.user_dir),
            "write_to": str(store.write_to) if store.write_to is not None else None}


def store_of(spec: dict) -> ModelStore:
    return ModelStore(bundled_dir=Path(spec["bundled_dir"]), user_dir=Path(spec["user_dir"]),
                      write_to=Path(spec["write_to"]) if spec.get("write_to") else None)


def task_of(point: Point, store: ModelStore, eval_limit: Optional[int]) -> dict:
    """A run as plain data (what a Ray task receives)."""
    return {"index": point.index, "config": point.config.to_dict(), "name": point.name, "eval_limit": eval_limit,
            "store": store_spec(store), "mnist": os.environ.get(MNIST_ENV)}


def run_point(task: dict, store: Optional[ModelStore] = None, on_progress: Callable = _nothing,
              on_status: Callable = _nothing, on_trainer: Callable = _nothing) -> dict:
    """Train, store and measure one run of :func:`task_of`; returns its outcome as plain data:
    ``status`` (finished, cancelled or failed), ``model``, ``model_path``, ``run_id``,
    ``figures`` (metrics form), ``stop_reason``, ``seconds``, ``error``. ``on_trainer(trainer)``
    is called before it trains, so the caller can cancel it."""
    from .training import TrainConfig, Trainer

    if task.get("mnist") and not os.environ.get(MNIST_ENV):  # a worker of another process tree
        os.environ[MNIST_ENV] = task["mnist"]
    store = store or store_of(task["store"])
    start = time.perf_counter()
    try:
        trainer = Trainer(TrainConfig.from_dict(task["config"]), on_progress=on_progress, on_status=on_status)
        on_trainer(trainer)
        result, entry = workflows.train_and_save(trainer, store, task["name"], on_status, task["eval_limit"],
                                                 save_partial=False)
    except Exception as exc:  # noqa: BLE001 - a person's error or out of memory fails this run only
        if not isinstance(exc, (DenoiserError, MemoryError)) and "ResourceExhausted" not in type(exc).__name__:
            raise  # a bug: the sweep fails with its traceback
        message = str(exc) if isinstance(exc, DenoiserError) else f"out of memory ({type(exc).__name__})"
        return {"status": FAILED, "error": message, "seconds": round(time.perf_counter() - start, 1)}
    outcome = {"stop_reason": result.stop_reason, "seconds": round(time.perf_counter() - start, 1)}
    if entry is None:
        return {**outcome, "status": CANCELLED}
    figures = entry.figures
    outcome.update(status=FINISHED, model=entry.name, model_path=str(entry.path),
                   figures=figures.to_metrics() if figures.measured else None, **_run_link(entry))
    if not figures.measured:
        outcome["error"] = "saved, but not measured"
    return outcome


def _run_link(entry) -> dict:
    """The run id of a stored model: the ``run_id`` its metadata carries (the id of the training
    that saved it, taken when its name was reserved). ``run_source`` says where it came from, so
    a link to the runs record of every training (``core.runs``, under way) can be added as
    another source without changing the records written before it."""
    run_id = entry.meta.get("run_id")
    return {"run_id": run_id if isinstance(run_id, str) else None, "run_source": "model"}


def baseline(store: ModelStore, noises, eval_limit: Optional[int], mnist: Optional[str] = None) -> list[BaselineRecord]:
    """The noisy input measured as a denoiser's output would be (the one evaluation, with no
    denoiser in the pipeline): for each noise, PSNR of the noisy digits and the store's default
    classifier's accuracy on them."""
    from .inference import Pipeline

    clf_entry = store.default("classifier")
    clf = store.load(str(clf_entry.path), "classifier").model if clf_entry is not None else None
    pipeline = Pipeline(None, clf, warmup=False)
    out = []
    for noise in noises:
        figures = workflows.measure(pipeline, "denoiser", noise, eval_limit, mnist)
        out.append(BaselineRecord(noise.to_dict(), str(noise), figures.with_classifier(clf_entry.name) if clf_entry else figures))
    return out


# ------------------------------------------------------------------------------------------
# the sweep


class SweepRunner:
    """Run a :class:`Sweep` into a :class:`SweepRecord` (the local queue; :mod:`.sweep_ray`
    subclasses it). ``record_dir``: where the record goes (default: the user's sweeps folder)."""

    backend = LOCAL

    def __init__(self, sweep: Sweep, store: ModelStore, callbacks: Optional[Callbacks] = None,
                 record_dir: Optional[Path] = None, sweep_id: Optional[str] = None):
        self.sweep = sweep
        self.store = store
        self.callbacks = callbacks or Callbacks()
        self.points = sweep.points()
        self.record = SweepRecord.new(sweep, self.backend, store.write_dir, sweep_id)
        self.record_dir = record_dir
        self._cancel = threading.Event()
        self._trainer = None

    def cancel(self) -> None:
        """Stop the run in flight after its batch and skip the rest (thread-safe, idempotent)."""
        self._cancel.set()
        trainer = self._trainer
        if trainer is not None:
            trainer.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> SweepRecord:
        """Run every point (until cancelled); returns the final record, also written to disk."""
        record = self.record
        record.save(self.record_dir)
        try:
            if not self.cancelled:
                self.callbacks.on_status("Measuring the noisy-input baseline…")
                record.baseline = baseline(self.store, self.sweep.noises(), self.sweep.eval_limit, self.sweep.base.mnist)
                record.save()
            self._run_points()
        except BaseException as exc:
            self._close(CANCELLED if isinstance(exc, KeyboardInterrupt) else FAILED, str(exc) or type(exc).__name__)
            raise
        self._close(CANCELLED if self.cancelled else FINISHED)
        return record

    def _run_points(self) -> None:
        total = len(self.points)
        for point, run in zip(self.points, self.record.runs):
            if self.cancelled:
                break
            self._started(point, run)
            outcome = run_point(task_of(point, self.store, self.sweep.eval_limit), self.store,
                                on_progress=lambda p, i=point.index: self.callbacks.on_progress(i, total, p),
                                on_status=self.callbacks.on_status, on_trainer=self._use_trainer)
            self._trainer = None
            self._ended(run, outcome)

    def _use_trainer(self, trainer) -> None:
        self._trainer = trainer
        if self.cancelled:  # cancelled while it was being made
            trainer.cancel()

    def _started(self, point: Point, run: RunRecord) -> None:
        run.status = RUNNING
        self.record.save()
        self.callbacks.on_run_start(point.index, len(self.points), point)

    def _ended(self, run: RunRecord, outcome: dict) -> None:
        run.apply(outcome)
        if run.status == CANCELLED:
            self._cancel.set()  # a run stopped in the middle stops the sweep
        self.record.save()
        self.callbacks.on_run_end(run.index, len(self.points), run)

    def _close(self, status: str, error: Optional[str] = None) -> None:
        """The sweep's end: runs never started are skipped, one left running was cancelled."""
        for run in self.record.runs:
            if run.status == PENDING:
                run.status = SKIPPED
            elif run.status == RUNNING:
                run.status, run.error = (CANCELLED if status == CANCELLED else FAILED), error
        self.record.status = status
        self.record.save()

    def finished_runs(self) -> list[RunRecord]:
        return [r for r in self.record.runs if r.status == FINISHED]


def make_runner(sweep: Sweep, store: ModelStore, backend: str = LOCAL, callbacks: Optional[Callbacks] = None,
                record_dir: Optional[Path] = None, ray_address: Optional[str] = None) -> SweepRunner:
    """The runner of ``backend`` ("local" or "ray"); for Ray, a ConfigError now when Ray is not
    installed."""
    if backend == LOCAL:
        return SweepRunner(sweep, store, callbacks, record_dir)
    if backend == RAY:
        from .sweep_ray import RaySweepRunner

        return RaySweepRunner(sweep, store, callbacks, record_dir, address=ray_address)
    from .errors import ConfigError

    raise ConfigError(f"Unknown sweep backend '{backend}'; choose one of: {', '.join(BACKENDS)}.")
