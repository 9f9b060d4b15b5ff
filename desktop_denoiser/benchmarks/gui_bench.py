"""Table ``gui``: time to a usable window and the event loop's worst stall during a training.

The window runs in a child process (``desktop_denoiser.benchmarks.gui_probe``) so start-up is
measured from a cold interpreter. Its model store is a temporary folder of links to the bundled
models: the model the GUI trains is saved there, never next to the bundled ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import Table, fmt, load_note, log, size

ROOT = Path(__file__).resolve().parents[2]  # the folder holding the desktop_denoiser package


def _not_available(reason: str) -> list[Table]:
    t = Table("gui", "the GUI's start-up and event loop during a training", ["measurement", "value"], align="lr")
    t.add("GUI", "not available")
    t.note(reason)
    return [t]


def _link_bundled(target: Path, source: Path) -> int:
    count = 0
    if source.is_dir():
        for f in sorted(source.iterdir()):
            if f.suffix in (".keras", ".json") and not f.name.startswith("."):
                (target / f.name).symlink_to(f.resolve())
                count += f.suffix == ".keras"
    return count


class _Unavailable(Exception):
    """The GUI table cannot be measured; the message says why."""


def _run_probe(ctx, seconds) -> tuple:
    """Run gui_probe in a child process: its exit, its last GUI_PROBE result, the launch time and
    how many bundled models its store links to. Raises _Unavailable when there is no result."""
    with tempfile.TemporaryDirectory(prefix="dd-bench-gui-") as tmp:
        store_dir, home = Path(tmp) / "models", Path(tmp) / "home"
        store_dir.mkdir()
        home.mkdir()
        linked = _link_bundled(store_dir, ctx.models.store.bundled_dir)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        cmd = [sys.executable, "-X", "faulthandler", "-m", "desktop_denoiser.benchmarks.gui_probe",
               "--seconds", str(seconds), "--store", str(store_dir), "--home", str(home)]
        log(f"gui: opening the window in a child process, then {seconds} CPU-s of training through it")
        t_launch = time.time()
        try:
            proc = subprocess.run(cmd, cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=seconds * 5 + 420)
        except subprocess.TimeoutExpired:
            raise _Unavailable("the GUI probe timed out") from None
        line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("GUI_PROBE ")), None)
        if line is None:
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise _Unavailable(f"the GUI probe exited with {proc.returncode}: {tail[:200]}")
        r = json.loads(line[len("GUI_PROBE "):])
    if "error" in r and not r.get("phases"):
        raise _Unavailable(r["error"])
    return proc, r, t_launch, linked


def _crash_note(proc, r) -> str | None:
    """When the probe died after some phases: how, in which phase, and (from faulthandler's dump)
    the innermost frame of this package."""
    if proc.returncode == 0 or not r.get("partial"):
        return None
    how = {-11: "SIGSEGV", -6: "SIGABRT", -9: "SIGKILL"}.get(proc.returncode, f"exit code {proc.returncode}")
    crash = f"the GUI process crashed ({how}) during the phase '{r.get('last_phase')}'; the phases before it are complete"
    lines = proc.stderr.splitlines()
    start_at = next((i for i, ln in enumerate(lines) if ln.startswith("Current thread")), None)
    if start_at is not None:  # faulthandler's dump of the crashing thread, most recent call first
        frames = [ln.strip() for ln in lines[start_at + 1:] if ln.strip().startswith("File ")]
        ours = [f for f in frames if "desktop_denoiser" in f]
        if ours:
            crash += " — in " + ours[0].replace(str(ROOT) + os.sep, "").replace('"', "")
    return crash


def _start_table(r, seconds, t_launch, linked) -> Table:
    start = Table("gui", f"the GUI: start-up, and the event loop while it trains a U-Net ({seconds} CPU-s, platform {r.get('platform')})",
                  ["measurement", "seconds"], align="lr")
    if r.get("t_usable"):
        start.add("launch → window shown and event loop running", fmt(r["t_usable"] - t_launch))
    if r.get("t_imports"):
        start.add("of which: Python start + imports (PySide6, the GUI)", fmt(r["t_imports"] - t_launch))
    if r.get("t_models"):
        start.add("launch → models loaded (TensorFlow, denoiser, classifier)", fmt(r["t_models"] - t_launch))
    if r.get("train_started") and r.get("train_finished"):
        start.add("training + save, through the GUI", fmt(r["train_finished"] - r["train_started"]))
    if not linked:
        start.note("no bundled models were found: the window started without a denoiser")
    start.note("a child process: cold interpreter; its store is a temporary folder linking to the bundled models")
    return start


def _loop_table(r, crash) -> Table:
    loop = Table("gui event loop", "gaps between the ticks of a 10 ms QTimer, per phase",
                 ["phase", "seconds", "ticks", "max gap ms", "p99 gap ms", "gaps > 50 ms", "gaps > 100 ms",
                  "GC passes", "longest GC ms"])
    for ph in r.get("phases", []):
        loop.add(ph["phase"], fmt(ph["seconds"], 1), ph["ticks"], fmt(ph["max_gap_ms"], 1), fmt(ph["p99_gap_ms"], 1),
                 ph["over_50ms"], ph["over_100ms"], ph.get("gc_collections", "–"), fmt(ph.get("gc_max_ms"), 1))
    worst = max((ph["max_gap_ms"] or 0 for ph in r.get("phases", []) if ph["phase"].startswith("training")), default=None)
    if worst is not None:
        loop.note(f"worst stall during the training: {worst:.0f} ms")
    if crash:
        loop.note(crash)
    for key in ("error", "training_failed", "training_message", "note"):
        if r.get(key):
            loop.note(f"{key.replace('_', ' ')}: {r[key]}")
    busy = load_note()
    if busy:
        loop.note(busy)
    return loop


def gui(ctx) -> list[Table]:
    try:
        import PySide6  # noqa: F401
    except ImportError as exc:
        return _not_available(f"PySide6 is not installed ({exc})")
    seconds = size("gui_seconds", ctx.full)
    try:
        proc, r, t_launch, linked = _run_probe(ctx, seconds)
    except _Unavailable as why:
        return _not_available(str(why))
    return [_start_table(r, seconds, t_launch, linked), _loop_table(r, _crash_note(proc, r))]
