"""The ``desktop-denoiser sweep`` command: run a sweep (a line per finished run, the chart at
the end, Ctrl+C stopping it after the current batch), ``sweep --list`` and ``sweep show ID``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

from .core.errors import ConfigError
from .core.durations import clock
from .terminal import ProgressBar

# the trainer's routine phases, which a sweep does not print for every run
_ROUTINE = ("Loading MNIST", "Building ", "Training ", "Saving", "Measuring on the MNIST test set")


def sweep(args, make_store) -> int:
    if args.list:
        return _list()
    if args.show:
        return _show(args.show, args.figure, args.overwrite)
    return _run(args, make_store)


# ------------------------------------------------------------------------------------------
# describing runs


def _pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _db(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.2f} dB"


def run_line(record, run) -> str:
    """One line per run: its settings, PSNR and accuracy (beside the noisy input's), model."""
    from .core.sweeps import AXES, value_text

    settings = ", ".join(f"{AXES[k].label if k in AXES else k} {value_text(v)}" for k, v in run.settings.items())
    head = f"[{run.index + 1}/{len(record.runs)}] {settings}: "
    if run.status != "finished":
        return head + run.status + (f" ({run.error})" if run.error else "")
    f = run.figures
    base = record.baseline_for(record.run_noise(run))
    text = f"PSNR {_db(f.psnr if f else None)}, accuracy {_pct(f.accuracy_denoised if f else None)}"
    if base is not None:
        text += f" (noisy input {_db(base.psnr_noisy)}, {_pct(base.accuracy_noisy)})"
    seconds = f", {clock(run.seconds)}" if run.seconds is not None else ""
    return f"{head}{text}  {run.model}{seconds}"


def _write_figure(record, path: str, overwrite: bool) -> Optional[Path]:
    from .core import sweep_chart

    written = sweep_chart.write_figure(record, path, overwrite)
    if written is None:
        print("desktop-denoiser: no run finished; no chart was drawn", file=sys.stderr)
    return written


def _check_figure(path: Optional[str], overwrite: bool) -> None:
    """Refuse a figure that could not be written, before any work."""
    if path is None:
        return
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ConfigError(f"The figure must be a .png file, not {path}.")
    if target.exists() and not overwrite:
        raise ConfigError(f"{path} exists; use --overwrite to replace it.")
    if not target.parent.is_dir():
        raise ConfigError(f"The folder of the figure does not exist: {target.parent}")


# ------------------------------------------------------------------------------------------
# sweep --list, sweep show


def _list() -> int:
    from .core import sweep_record

    records, problems = sweep_record.list_records()
    for problem in problems:
        print(f"desktop-denoiser: {problem}", file=sys.stderr)
    print(f"sweeps in {sweep_record.sweeps_dir()}")
    if not records:
        print("no sweeps")
    for r in records:
        print(r.summary())
    return 0


def _show(sweep_id: str, figure: Optional[str], overwrite: bool) -> int:
    from .core import sweep_record

    _check_figure(figure, overwrite)
    record = sweep_record.load(sweep_id)
    print(f"sweep {record.id}: {record.shown_status}, {record.backend} backend, started {record.created}")
    print(f"  {record.axes_text()}; models in {record.store}")
    print(f"  record: {record.path}")
    for run in record.runs:
        print(run_line(record, run))
    if figure and _write_figure(record, figure, overwrite):
        print(f"wrote {figure}")
    return 0


# ------------------------------------------------------------------------------------------
# running one


def _make_sweep(args):
    from .core.noise import NoiseSpec
    from .core.sweeps import Sweep
    from .core.training import TrainConfig

    noises = args.noise or [NoiseSpec("uniform")]
    base = TrainConfig(arch=args.arch[0], noise=noises[0], epochs=args.epochs[0], batch_size=args.batch_size,
                       patience=args.patience or None, seed=args.seed, mnist=args.mnist)
    settings = {"arch": args.arch, "noise": [n.kind for n in noises] if len(noises) > 1 else [],
                "bottleneck": args.bottleneck or [], "epochs": args.epochs, "learning_rate": args.lr or [],
                "subset": args.subset or [], "noise_level": args.noise_level or []}
    return Sweep.from_settings(base, settings, prefix=args.name, eval_limit=args.eval_limit)


class _Printer:
    """The command's callbacks: a progress bar for the run in flight, a line per run."""

    def __init__(self, runner):
        self.runner = runner
        self.bar = ProgressBar(sys.stderr)

    def start(self, index: int, total: int, point) -> None:
        self.bar.status(f"[{index + 1}/{total}] {point.describe()} ({point.name})…")

    def progress(self, index: int, total: int, p) -> None:
        self.bar.update(p)

    def end(self, index: int, total: int, run) -> None:
        self.bar.close()
        print(run_line(self.runner.record, run), flush=True)

    def status(self, text: str) -> None:
        if not text.startswith(_ROUTINE):
            self.bar.status(text)


def _run(args, make_store) -> int:
    from .core.store import check_name
    from .core.sweep_run import Callbacks, make_runner

    check_name(args.name)
    _check_figure(args.figure, args.overwrite)
    sweep_ = _make_sweep(args)  # every combination checked before any work
    if args.ray_address and args.backend != "ray":
        raise ConfigError("--ray-address is for --backend ray.")
    store = make_store(args.out)
    # each run is measured through a new Pipeline, so TensorFlow counts its retracings across
    # runs and warns of them, a warning about nothing wrong here
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    runner = make_runner(sweep_, store, args.backend, ray_address=args.ray_address)
    out = _Printer(runner)
    runner.callbacks = Callbacks(out.start, out.progress, out.end, out.status)
    print(f"sweep {runner.record.id}: {sweep_.describe()}; models go to {store.write_dir}", flush=True)
    start = time.monotonic()
    with _cancel_on_sigint(runner, out.bar):
        record = runner.run()
    out.bar.close()
    counts = record.counts()
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    print(f"sweep {record.id} {record.status} in {clock(time.monotonic() - start)}: {summary}; record: {record.path}")
    if args.figure and _write_figure(record, args.figure, args.overwrite):
        print(f"wrote {args.figure}")
    return 130 if record.status == "cancelled" else 0


class _cancel_on_sigint:
    """The first Ctrl+C cancels the sweep after the current batch; the second one aborts."""

    def __init__(self, runner, bar):
        self.runner, self.bar = runner, bar
        self.previous = None

    def _handler(self, signum, frame):
        if self.runner.cancelled:
            raise KeyboardInterrupt
        self.bar.status("Stopping the sweep after this batch; the finished runs are kept (Ctrl+C again to abort)…")
        self.runner.cancel()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        return False
