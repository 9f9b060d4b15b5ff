"""The Ray backend of a sweep: one Ray task per run (the optional extra,
``pip install 'desktop-denoiser[ray]'``).

Each task is :func:`train_remotely`: the run's config as a dict, trained, stored and measured
by the same :func:`sweep_run.run_point` as the local queue (so into the same store folders,
which must be reachable from the workers: on one machine they are), returning the outcome as
plain data; the driver writes the same record as the local backend. As many tasks run at once
as the cluster has CPUs (one CPU each; TensorFlow on one thread in each), and the record is
written as each one ends.

Without an address, :func:`connect` starts a local Ray instance (and the sweep shuts it down
again at the end); with one (``--ray-address``), it joins that cluster. A sweep run where Ray
is already initialised (a test's instance) uses that instance and leaves it running.

A cancel skips the runs not yet started and cancels the tasks in flight (Ray interrupts them;
they keep nothing, as a run cancelled in the local queue).

Ray is imported only here and only when this backend is asked for; without it the local
backend works as before and asking for this one is one clear ConfigError (:data:`MISSING`).
"""

from __future__ import annotations

import importlib.util
import logging
from typing import Optional

from .errors import ConfigError
from .sweep_record import CANCELLED, FAILED
from .sweep_run import RAY, SweepRunner, run_point, task_of

MISSING = "install the ray extra: pip install 'desktop-denoiser[ray]'"
POLL_SECONDS = 0.5


def available() -> bool:
    """Whether Ray can be imported here (without importing it)."""
    return importlib.util.find_spec("ray") is not None


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"The Ray backend needs Ray; {MISSING}") from None
    return ray


def connect(ray, address: Optional[str] = None) -> bool:
    """Initialise Ray unless it is: join ``address`` or start a local instance. Returns whether
    it was initialised here (and so should be shut down by the caller)."""
    if ray.is_initialized():
        return False
    options = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(include_dashboard=False, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise ConfigError(f"Could not start or reach {where}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    return True


def train_remotely(task: dict) -> dict:
    """A sweep's run in a Ray worker (the body of the Ray task)."""
    from . import device

    device.import_tensorflow_quietly()
    device.use_one_thread()  # one CPU per task: the others' cores are theirs
    return run_point(task)


def _failure(ray, exc: BaseException) -> dict:
    if isinstance(exc, ray.exceptions.TaskCancelledError):
        return {"status": CANCELLED}
    cause = getattr(exc, "cause", None) or exc
    first = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
    return {"status": FAILED, "error": f"the Ray task failed: {first}"}


class RaySweepRunner(SweepRunner):
    """:class:`SweepRunner` with each run a Ray task (see the module docstring)."""

    backend = RAY

    def __init__(self, sweep, store, callbacks=None, record_dir=None, sweep_id=None, address: Optional[str] = None,
                 parallel: Optional[int] = None):
        self.ray = import_ray()  # refused before any work, and before the record is made
        super().__init__(sweep, store, callbacks, record_dir, sweep_id)
        self.address = address
        self.parallel = parallel

    def cancel(self) -> None:
        self._cancel.set()  # the loop cancels the tasks in flight (Ray calls stay on its thread)

    def _run_points(self) -> None:
        ray = self.ray
        started_here = connect(ray, self.address)
        running: dict = {}
        try:
            remote = ray.remote(num_cpus=1, max_retries=0)(train_remotely)
            parallel = self.parallel or max(1, int(ray.cluster_resources().get("CPU", 1)))
            queue = list(zip(self.points, self.record.runs))
            while queue or running:
                while queue and len(running) < parallel and not self.cancelled:
                    point, run = queue.pop(0)
                    self._started(point, run)
                    running[remote.remote(task_of(point, self.store, self.sweep.eval_limit))] = run
                if not running:
                    break  # cancelled: the rest are skipped
                if self.cancelled:
                    for ref in running:
                        ray.cancel(ref)
                done, _ = ray.wait(list(running), num_returns=1, timeout=POLL_SECONDS)
                for ref in done:
                    self._ended(running.pop(ref), self._outcome(ray, ref))
        finally:
            for ref in running:  # interrupted (a second Ctrl+C, an error): stop what was sent
                ray.cancel(ref)
            if started_here:
                ray.shutdown()

    @staticmethod
    def _outcome(ray, ref) -> dict:
        try:
            return ray.get(ref)
        except ray.exceptions.RayError as exc:
            return _failure(ray, exc)
