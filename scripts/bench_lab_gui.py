#!/usr/bin/env python
"""Measure the autoencoder lab in the real window (offscreen) on the bundled models.

    QT_QPA_PLATFORM=offscreen python scripts/bench_lab_gui.py [--models conv-blur+uniform,dense-uniform,dense-2d]

For each model: the time from choosing it in the window until its PCA map is shown, the worst
gap of a 10 ms QTimer in the GUI thread meanwhile (event-loop stall; split into the window's own
model load and the lab's work after it), then frames computed back
to back with the lab visible: the inference thread's whole task per frame (prepare, denoise,
classify, encode the three images, project) as a median, and whether each frame's markers came
with the frame itself (the lag in frames). Budgets (issue 13): map ≤ 3 s, stall ≤ 100 ms,
frame ≤ 5 ms median, lag ≤ 1 frame.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("DESKTOP_DENOISER_HOME", tempfile.mkdtemp(prefix="bench-lab-home-"))

from desktop_denoiser.benchmarks.gui_timing import Stalls, open_window, wait  # noqa: E402


def frames_back_to_back(app, w, count: int) -> dict:
    """``count`` frames, each requested as soon as the last is shown; worker-side seconds per task."""
    worker = w.inference
    task_times, lags = [], 0
    original = worker._compute

    def timed(request):
        t0 = time.perf_counter()
        frame = original(request)
        task_times.append(time.perf_counter() - t0)
        return frame

    worker._compute = timed
    seen, gui_times, arrived = [], [], {}

    def ready(f):
        arrived[id(f)] = time.perf_counter()

    def shown(f):  # connected after the lab's slot: the lab's work is inside
        seen.append(f)
        gui_times.append(time.perf_counter() - arrived.pop(id(f), time.perf_counter()))

    original_show = w._show_frame

    def show(f):  # the window's slot, timed from its start
        ready(f)
        original_show(f)

    w.inference.frame_ready.disconnect(w._show_frame)
    w.inference.frame_ready.connect(show)
    w.frame_shown.connect(shown)
    try:
        for i in range(count):
            n = len(seen)
            w.noise.seed.setValue(1000 + i)
            w._send_frame()  # at once, not after the 16 ms merge timer: back to back
            wait(app, lambda n=n: len(seen) > n, 30)
    finally:
        worker._compute = original
        w.frame_shown.disconnect(shown)
        w.inference.frame_ready.disconnect(show)
        w.inference.frame_ready.connect(w._show_frame)
    for f in seen:  # a frame whose markers are not its own would show another frame's images
        live = f.extras.get("lab")
        if live is None:
            lags += 1
    hook = [f.extras["lab"].seconds for f in seen if f.extras.get("lab") is not None]
    models = [f.seconds for f in seen]
    return {"task_ms": 1000 * statistics.median(task_times[2:]), "gui_ms": 1000 * statistics.median(gui_times),
            "models_ms": 1000 * statistics.median(models),
            "hook_ms": 1000 * statistics.median(hook) if hook else float("nan"), "frames_without_markers": lags,
            "frames": len(seen)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="conv-blur+uniform,dense-uniform,dense-2d")
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args(argv)
    app, w = open_window("uniform:0.5")
    dock, session = w.lab_dock, w.lab_dock.session
    dock.show()
    wait(app, lambda: session.lab is not None)
    stalls = Stalls()
    loaded = []
    w.inference.models_ready.connect(lambda info: loaded.append(time.perf_counter()))
    rows = []
    for name in args.models.split(","):
        stalls.start()
        t0 = time.perf_counter()
        w.select_denoiser(name)
        ok = wait(app, lambda name=name: session.map is not None and session.map.model_name == name)
        ready = time.perf_counter() - t0
        app.processEvents()
        load_stall, lab_stall = stalls.stop(loaded[-1] if loaded else t0)
        row = {"model": name, "map_s": ready if ok else float("nan"), "load_ms": 1000 * load_stall,
               "stall_ms": 1000 * lab_stall, "lab_s": session.timings.get("lab", float("nan"))}
        row.update(frames_back_to_back(app, w, args.frames))
        dock.hide()  # the same frames without the lab: what the lab adds, on this machine now
        hidden = frames_back_to_back(app, w, args.frames)
        row["hidden_ms"], row["gui_hidden_ms"] = hidden["task_ms"], hidden["gui_ms"]
        dock.show()
        rows.append(row)
    w.close()
    print(f"{'model':>20} {'map ready s':>11} {'stall: load ms':>14} {'stall: lab ms':>13} {'frame task ms':>13} "
          f"{'lab hidden ms':>13} {'GUI ms':>6} {'GUI hidden':>10} {'models ms':>9} {'markers ms':>10} {'frames w/o markers':>18}")
    for r in rows:
        print(f"{r['model']:>20} {r['map_s']:>11.2f} {r['load_ms']:>14.0f} {r['stall_ms']:>13.0f} {r['task_ms']:>13.2f} "
              f"{r['hidden_ms']:>13.2f} {r['gui_ms']:>6.2f} {r['gui_hidden_ms']:>10.2f} {r['models_ms']:>9.2f} "
              f"{r['hook_ms']:>10.2f} {r['frames_without_markers']:>12}/{r['frames']}")
    print("frame task: the inference thread's whole task per frame (prepare, denoise, classify, the lab's hook);"
          " lab hidden: the same with the dock closed (no hook)")
    print("GUI: the GUI thread's time in the window's frame slot (tiles, prediction, then the lab's views)")
    print("stall: load = while the window loads the model (before models_ready), lab = from then until the map is shown")
    print(f"load average: {os.getloadavg()[0]:.1f} (2 cores; more means other work shares them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
