"""Real sessions: hundreds of digits drawn one after another, a training in the middle.

The soak benchmark (``benchmarks/soak.py``) in a child process: the real window on the bundled
models draws digits through the canvas with mouse events, reads each prediction, clears the
canvas, and records memory, the reference counts of None/True/False and the worst event-loop
stall. ``python -m desktop_denoiser.benchmarks.soak --digits 1000`` is the long version.

The second test starts Xvfb and draws with real X events (xdotool) on the xcb platform, as a
person's mouse would: a missing system library or a crash there fails here, not on a desktop.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"


def _soak(tmp_path, *args, env=None, timeout=1500):
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, "-m", "desktop_denoiser.benchmarks.soak", "--json", str(out), *args], cwd=ROOT,
                          env=env or os.environ.copy(), capture_output=True, text=True, timeout=timeout)
    assert out.is_file(), f"the soak wrote no result (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(out.read_text())
    return proc, result


def _right(rows):
    pairs = [r["read_right"].split("/") for r in rows if r["read_right"] != "-"]
    return sum(int(a) for a, _ in pairs), sum(int(b) for _, b in pairs)


def test_three_hundred_digits_with_a_training_in_the_middle(tmp_path, mnist):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc, result = _soak(tmp_path, "--digits", "300", "--every", "50", "--interval", "0.02", "--train-at", "100",
                         env=env)
    rows = result["rows"]
    assert result["error"] is None, proc.stdout[-3000:]
    assert proc.returncode == 0 and result["status"] == 0, proc.stdout[-3000:]
    assert [r["digits"] for r in rows] == [0, 50, 100, 150, 200, 250, 300]
    right, drawn = _right(rows)
    assert drawn == 300 and right >= 0.8 * drawn, f"{right}/{drawn} drawn digits read right"
    assert "running" in [r["training"] for r in rows] and rows[-1]["training"] == "done"
    first, last = rows[1], rows[-1]
    for key in ("None", "True", "False"):  # a binding that drops references makes these fall
        assert last[key] - first[key] >= -200, f"{key}: {first[key]} -> {last[key]}"
    # and between two rows after the training, with no model load in between, True/False hold
    after = [r for r in rows if r["training"] == "done"]
    if len(after) >= 2:
        for key in ("True", "False"):
            assert abs(after[-1][key] - after[-2][key]) <= 200, f"{key}: {after[-2][key]} -> {after[-1][key]}"
    assert last["rss_mb"] - first["rss_mb"] < 150, f"memory grew {first['rss_mb']} -> {last['rss_mb']} MB"
    assert last["frames"] >= 2 * 300


def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11")
def test_the_real_window_under_xvfb_with_x_mouse_events(tmp_path, mnist):
    missing = [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]
    if missing:
        message = f"needs {' and '.join(missing)} (apt-get install xvfb xdotool)"
        if IN_CI:
            pytest.fail(message + ": CI must run the real window")
        pytest.skip(message)
    from desktop_denoiser.gui import display

    lacking = display.missing_xcb_libraries()
    assert not lacking, display.install_advice(lacking)
    n = _free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1400x950x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not Path(f"/tmp/.X11-unix/X{n}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
        env["DISPLAY"] = f":{n}"
        proc, result = _soak(tmp_path, "--xdotool", "--digits", "30", "--every", "10", "--interval", "0.1",
                             "--no-training", env=env, timeout=900)
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    assert result["error"] is None and proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    right, drawn = _right(result["rows"])
    assert drawn == 30 and right >= 24, f"{right}/{drawn} digits drawn with X events read right"
    assert "xcb" in proc.stdout or "X events" in proc.stdout
