"""Denoising many image files: where each output goes, decoding and preprocessing on every
core, the models in batches, and writes that never replace a file unless asked.

This is what ``desktop-denoiser denoise`` runs, for one file or a folder of thousands:

* :func:`plan` (in :mod:`file_plan`) maps the inputs to outputs before any model loads, mirroring
  the inputs' folders, and decides what is skipped.
* :func:`prepare` (in :mod:`file_work`) is the per-file preprocessing (decode,
  :func:`preprocess.to_mnist`, the optional noise), the same for one file as for a folder.
* :func:`run` decodes and preprocesses in worker processes (threads do not help: the work is
  many small numpy/Pillow calls under the GIL, and two threads ran at half the speed of one,
  see ``benchmarks/denoise_files.py``), feeds the denoiser (and the classifier, when asked)
  batches of :data:`CHUNK` digits, and has the workers encode and write the PNGs, atomically,
  with one flush to disk per batch, and without replacing anything that appeared meanwhile
  (:func:`atomic.create_files`).

The names of :mod:`file_plan` and :mod:`file_work` are importable from here.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import multiprocessing
import os
from typing import Callable, Optional

import numpy as np

from . import frame, imageio
from .errors import DenoiserError
from .file_plan import (  # noqa: F401 - importable from here
    FAILED, IMAGE_SUFFIXES, SKIPPED, WRITTEN, Job, Plan, expand_inputs, plan,
)
from .file_work import (  # noqa: F401 - importable from here
    encode_png, init_worker, output_pixels, prepare, prepare_chunk, prepare_file, write, write_chunk,
)
from .noise import NoiseSpec

#: Digits per model call and per task sent to a worker process.
CHUNK = 128
#: Below this many files everything runs in this process (starting workers costs ~1 core-second).
MIN_FILES_FOR_WORKERS = 200


@dataclasses.dataclass
class Outcome:
    job: Job
    status: str  # WRITTEN, SKIPPED or FAILED
    message: Optional[str] = None  # why it was skipped or failed
    digit: Optional[int] = None  # with classify, the digit read from the reconstruction
    confidence: Optional[float] = None
    empty: bool = False  # no digit was found in the image (then no digit is read from it)


@dataclasses.dataclass
class Summary:
    written: int = 0
    skipped: int = 0
    failed: int = 0

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


# ------------------------------------------------------------------------------------------
# the run


class _Inline(cf.Executor):
    """Runs each task at once in this process (few files: workers would cost more)."""

    def submit(self, fn, /, *args, **kwargs):
        f = cf.Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on the future
            f.set_exception(exc)
        return f


def worker_count(files: int) -> int:
    """Worker processes for ``files`` files: one per usable core, none for small jobs."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if files < MIN_FILES_FOR_WORKERS or cores < 2:
        return 0
    return min(cores, 8)


def process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """Worker processes for :func:`run` (spawned: a fresh interpreter never inherits TensorFlow's threads)."""
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker)


@dataclasses.dataclass
class _Batches:
    """One run's chunks of files in flight: being prepared in the workers, denoised here in one
    model call each, then being written by the workers; and what is handed on, in order."""

    chunks: list[list[Job]]
    pool: cf.Executor
    workers: int
    noise: Optional[NoiseSpec]
    seed: int
    size: int
    classify: bool
    overwrite: bool
    summary: Summary
    on_outcome: Callable[[Outcome], None]
    on_progress: Callable[[int, int], None]
    prepared: collections.deque = dataclasses.field(default_factory=collections.deque)
    writing: collections.deque = dataclasses.field(default_factory=collections.deque)
    fed: int = 0  # chunks submitted to be prepared
    done: int = 0  # files handed on

    def __post_init__(self) -> None:
        # chunks in flight: many to prepare (the workers work ahead while the models load; 2,000
        # digits are 6 MB), a few to write
        self.ahead, self.behind = max(2, 8 * self.workers), max(2, 2 * self.workers)
        self.total = sum(len(c) for c in self.chunks)

    def feed(self) -> None:
        while self.fed < len(self.chunks) and len(self.prepared) < self.ahead:
            sources = [str(j.source) for j in self.chunks[self.fed]]
            self.prepared.append(self.pool.submit(prepare_chunk, sources, self.noise, self.seed))
            self.fed += 1

    def denoise(self, chunk: list[Job], pipeline) -> None:
        """Denoise (and classify) the next prepared chunk, ``chunk``, and submit its writes."""
        prepared, errors = self.prepared.popleft().result()
        self.feed()
        ok = [k for k, p in enumerate(prepared) if p is not None]
        results = [(p is not None, err, p is not None and p.empty) for p, err in zip(prepared, errors)]
        digits: list = [None] * len(chunk)
        confs: list = [None] * len(chunk)
        if ok:
            frames = frame.finish_batch(pipeline, [prepared[k] for k in ok], classify=self.classify)
            for k, f in zip(ok, frames):  # a blank image has no digit to read (Frame.digit is None)
                digits[k], confs[k] = f.digit, f.confidence
            recon = np.stack([f.reconstruction for f in frames])
            images_out = imageio.to_uint8(recon) if self.size == 28 else recon  # (the whole batch at once)
            targets = [str(chunk[k].target) for k in ok]
            written = self.pool.submit(write_chunk, targets, images_out, self.size, self.overwrite)
        else:
            written = cf.Future()
            written.set_result([])
        self.writing.append((written, chunk, results, digits, confs))

    def report(self, keep: int) -> None:
        """Hand on the finished chunks in order, waiting while more than ``keep`` are pending."""
        while self.writing and (len(self.writing) > keep or self.writing[0][0].done()):
            statuses = iter(self.writing[0][0].result())  # (a Ctrl+C while waiting loses no batch)
            _, jobs, results, digits, confs = self.writing.popleft()
            for job, (image_ok, error, empty), digit, conf in zip(jobs, results, digits, confs):
                if not image_ok:
                    self.summary.add(FAILED)
                    self.on_outcome(Outcome(job, FAILED, error))
                    continue
                status, message = next(statuses)
                written = status == WRITTEN
                self.summary.add(status)
                self.on_outcome(Outcome(job, status, message, digit if written else None, conf if written else None,
                                        empty=empty))
            self.done += len(jobs)
            self.on_progress(self.done, self.total)

    def interrupted(self) -> None:
        """No new digit is started; the batches being written end within milliseconds: count them."""
        for f in self.prepared:
            f.cancel()
        if self.writing:
            try:
                self.report(keep=0)
            except (cf.BrokenExecutor, cf.CancelledError):
                pass


def _report_planned(plan_: Plan, summary: Summary, on_outcome: Callable[[Outcome], None]) -> None:
    """Count and hand on what was decided while planning: the unusable inputs, then the skips."""
    for path, message in plan_.problems:
        summary.add(FAILED)
        on_outcome(Outcome(Job(path, path, FAILED, message), FAILED, message))
    for job in plan_.jobs:
        if job.status is not None:
            summary.add(job.status)
            on_outcome(Outcome(job, job.status, job.message))


def run(plan_: Plan, load_pipeline: Callable[[], object], noise: Optional[NoiseSpec] = None, seed: int = 0,
        size: int = 28, classify: bool = False, overwrite: bool = False, workers: Optional[int] = None,
        on_outcome: Callable[[Outcome], None] = lambda o: None,
        on_progress: Callable[[int, int], None] = lambda done, total: None, summary: Optional[Summary] = None,
        pool: Optional[cf.Executor] = None, stop_requested: Callable[[], bool] = lambda: False) -> Summary:
    """Denoise the plan's files; ``load_pipeline()`` is called once the workers are starting,
    so that they start while the models load. Calls ``on_outcome`` for every file, in the
    plan's order (the skipped and failed ones decided while planning first), and
    ``on_progress(done, total)`` after each batch. ``workers``: worker processes (None: one
    per core when there are enough files; 0: all in this process). ``summary`` is counted into
    as the files are done (so it is up to date when the run is interrupted). ``pool``: an
    executor from :func:`process_pool` to use (and leave running) instead of starting one.
    ``stop_requested()`` is asked before each batch: True stops the run as a Ctrl+C does (the
    command's SIGINT handler sets it; see ``cli._denoise``)."""
    summary = Summary() if summary is None else summary
    _report_planned(plan_, summary, on_outcome)
    todo = plan_.todo
    if not todo:
        return summary
    chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
    own_pool = pool is None
    if pool is not None:
        n_workers = workers or 2  # (how far ahead to queue work)
    else:
        n_workers = worker_count(len(todo)) if workers is None else workers
        pool = process_pool(n_workers) if n_workers else _Inline()
    batches = _Batches(chunks, pool, n_workers, noise, seed, size, classify, overwrite, summary, on_outcome, on_progress)
    finished = False
    try:
        batches.feed()  # the workers start (and import) while the models load
        pipeline = load_pipeline()
        for chunk in chunks:
            if stop_requested():
                raise KeyboardInterrupt
            batches.denoise(chunk, pipeline)
            batches.report(keep=batches.behind)
        batches.report(keep=0)
        finished = True
    except KeyboardInterrupt:
        batches.interrupted()
        raise
    except cf.BrokenExecutor:
        raise DenoiserError("A worker process stopped unexpectedly (out of memory?); the files written so far are "
                            "complete.") from None
    finally:
        if own_pool and isinstance(pool, cf.ProcessPoolExecutor):
            # On an error or Ctrl+C the tasks not started are dropped and the running ones (a
            # fraction of a second) end. Always wait: shutdown(wait=False) of a process pool can
            # fail at interpreter exit ("Bad file descriptor" from its wake-up pipe; CPython gh-83279).
            pool.shutdown(wait=True, cancel_futures=not finished)
    return summary
