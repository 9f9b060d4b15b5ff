#!/usr/bin/env python
"""Measure the window while a sweep trains (issue 14): is the GUI thread ever stalled?

    QT_QPA_PLATFORM=offscreen python scripts/bench_sweep_gui.py [--values 0.3,0.6,0.9] [--subset 2000]

Opens the real window (offscreen) on the bundled models, sets a small dense training in the
panel, starts a sweep over the uniform noise level from Model › Training sweep…, and while its
runs train in the training process, shows a new test digit every 100 ms (a frame each: noisy
input, reconstruction, prediction) as a person clicking through digits would. Prints the gaps
of a 10 ms QTimer in the GUI thread (worst, 99th percentile, how many over 50 and 100 ms), the
frames shown and how long the sweep took. Budget: no gap over 100 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DESKTOP_DENOISER_HOME", tempfile.mkdtemp(prefix="bench-sweep-home-"))

from desktop_denoiser.benchmarks.gui_timing import Stalls, open_window, wait  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--values", default="0.3,0.6,0.9", help="the uniform noise levels swept")
    ap.add_argument("--subset", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--explain", action="store_true", help="name what came just before the worst gaps")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of clicking without a sweep first")
    args = ap.parse_args(argv)
    from PySide6.QtCore import QTimer

    app, w = open_window()
    panel = w.training
    panel.arch.setCurrentIndex(panel.arch.findData("dense"))
    panel.epochs.setValue(args.epochs)
    panel.subset.setValue(args.subset)
    sweeps = w.open_training_sweep()
    combo, edit = sweeps.axes[0]
    combo.setCurrentIndex(combo.findData("noise_level"))
    edit.setText(args.values)
    sweeps.eval_limit.setValue(1000)
    frames = []
    w.frame_shown.connect(lambda *a: frames.append(time.perf_counter()))
    clicker = QTimer()
    clicker.setInterval(100)
    clicker.timeout.connect(w.inputs.random_test_digit)
    ended = []
    w.training_control.sweep_ended.connect(ended.append)
    stalls = Stalls()
    # first the same clicking without a sweep, in the same run: what the sweep adds
    stalls.start()
    clicker.start()
    t0 = time.perf_counter()
    wait(app, lambda: False, timeout=args.idle)
    idle, idle_frames = stalls.summary(), len(frames)
    t0 = time.perf_counter()
    stalls.start()
    log = []  # (time, what) of what the window was told, to name the worst gaps
    if not sweeps.start():
        print("the sweep did not start:", sweeps.summary.text())
        return 1
    thread = sweeps.thread
    for name in ("record", "run_start", "status", "device"):
        getattr(thread, name).connect(lambda *a, name=name: log.append((time.perf_counter(), name)))
    w.frame_shown.connect(lambda *a: log.append((time.perf_counter(), "frame")))
    wait(app, lambda: bool(ended), timeout=3600)
    clicker.stop()
    s = stalls.summary()
    stalls.timer.stop()
    seconds = time.perf_counter() - t0
    end = ended[0] if ended else None
    w.close()
    print(f"{'sweep':>22} {'status':>9} {'s':>6} {'frames':>6} {'ticks':>6} {'worst ms':>8} {'p99 ms':>6} {'>50 ms':>6} {'>100 ms':>7}")
    print(f"{'no sweep (same clicks)':>22} {'':>9} {args.idle:>6.0f} {idle_frames:>6} {idle['ticks']:>6} {idle['worst_ms']:>8.0f} "
          f"{idle['p99_ms']:>6.1f} {idle['over_50']:>6} {idle['over_100']:>7}")
    print(f"{sweeps.summary.text()[:22]:>22} {end.status if end else 'timeout':>9} {seconds:>6.0f} {len(frames):>6} "
          f"{s['ticks']:>6} {s['worst_ms']:>8.0f} {s['p99_ms']:>6.1f} {s['over_50']:>6} {s['over_100']:>7}")
    print(f"dense, {args.epochs} epoch(s), {args.subset:,} training digits per run, measured on 1,000 test digits; "
          f"a new test digit every 100 ms meanwhile")
    print(f"load average: {os.getloadavg()[0]:.1f} (2 cores; more means other work shares them)")
    if args.explain:
        for gap, at in sorted(stalls.gaps, reverse=True)[:6]:
            near = [f"{what}@{1000 * (t - at):+.0f}ms" for t, what in log if at - 0.05 <= t <= at + gap + 0.05]
            print(f"gap {1000 * gap:.0f} ms at {at - t0:.1f} s: {', '.join(near) or '-'}")
    return 0 if end is not None and end.status == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
