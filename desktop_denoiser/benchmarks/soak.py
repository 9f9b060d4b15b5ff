"""Soak: draw many digits into the real window, one after another, with a training in the middle.

    python -m desktop_denoiser.benchmarks.soak --digits 1000 --interval 0.3 [--xdotool] [--json OUT]

The window is the real ``MainWindow`` on the bundled models (its data folder a temporary one,
so the training's model lands there). A driver thread draws each digit as a person would: a
mouse press, moves with the button held, a release, stroke after stroke, waits for the
prediction, then clears the canvas and pauses ``--interval`` seconds. At the middle digit a
small training starts from the window and runs while the drawing goes on.

* default: synthesised Qt mouse events, sent to the canvas in the GUI thread (any platform,
  offscreen too);
* ``--xdotool``: real X events from ``xdotool`` (under Xvfb or a desktop, the xcb platform):
  pointer moves and button presses go through the X server, Delete clears the canvas.

Every ``--every`` digits it records a row: resident memory, the reference counts of None, True
and False (a Qt binding that drops references to them aborts CPython once one reaches zero), the
worst gap of a 10 ms timer in the GUI thread (the event loop's worst stall), frames shown and
how many digits were read as the digit drawn. It prints the table at the end, and exits 1 when
the counts drift or a digit got no prediction.

In the code: :class:`Soak` is the session (the driver thread's steps), :class:`EventLoopWatch`
the timer's ticks and the collector's pauses, :class:`QtMouse` and :class:`XMouse` the two ways
of drawing, :func:`report` the table and the verdict.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from desktop_denoiser.core.noise import NoiseSpec
from desktop_denoiser.core.store import DEFAULT_DENOISER
from desktop_denoiser.core.training import TrainConfig

ROOT = Path(__file__).resolve().parents[2]  # the folder holding the desktop_denoiser package
# What the counts may do between the first row after start-up and the last. Falling is what
# kills: a binding that drops references (PySide6 6.12.0 on Python 3.11) takes about 900 from
# None per drawn digit until CPython aborts; a fall of more than FALL_LIMIT fails the soak.
# Rising cannot crash and costs no memory (None is one object), so it is reported, not judged:
# numpy 2.4's ``np.issubdtype(tuple, np.floating)`` leaks one reference to None per call, and
# pyqtgraph's colour functions call it each time the probability bars are painted (about 25 to
# 50 per drawn digit); a model load adds the references its new objects hold.
FALL_LIMIT = 200
RSS_GROWTH_MB = 150  # resident memory from the first row after start-up to the last

# Each digit as strokes of (x, y) points on the 280 px canvas, as a person might draw them.
_ARC = [(140 + 70 * math.sin(t), 140 - 95 * math.cos(t)) for t in np.linspace(0, 2 * math.pi, 25)]
DIGITS = {
    0: [_ARC],
    1: [[(120, 70), (145, 45), (145, 140), (145, 240)]],
    2: [[(80, 90), (110, 50), (160, 45), (195, 80), (185, 125), (140, 170), (85, 230), (200, 230)]],
    3: [[(85, 60), (150, 45), (190, 80), (150, 130), (115, 135)], [(150, 130), (195, 170), (180, 220), (120, 238), (80, 215)]],
    4: [[(165, 45), (80, 170), (210, 170)], [(165, 45), (165, 240)]],
    5: [[(195, 50), (100, 50), (92, 130), (150, 118), (195, 155), (190, 210), (140, 238), (85, 220)]],
    6: [[(180, 50), (120, 90), (90, 160), (100, 220), (150, 238), (190, 200), (175, 150), (120, 145), (95, 180)]],
    7: [[(75, 55), (205, 55), (160, 140), (125, 240)]],
    8: [[(185, 75), (140, 45), (95, 75), (140, 135), (190, 185), (140, 238), (90, 185), (140, 135), (185, 75)]],
    9: [[(185, 80), (140, 45), (95, 80), (120, 130), (180, 115), (185, 80), (175, 170), (160, 240)]],
}


def strokes_for(digit: int, rng) -> list[list[tuple[float, float]]]:
    """The digit's strokes, shifted, scaled and wobbled a little (no two drawings alike)."""
    scale = rng.uniform(0.85, 1.05)
    dx, dy = rng.uniform(-15, 15, 2)
    out = []
    for stroke in DIGITS[digit]:
        pts = []
        for a, b in zip(stroke, stroke[1:]):
            for t in np.linspace(0, 1, 5, endpoint=False):  # mouse-move density: every ~10 px
                x, y = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
                pts.append((x, y))
        pts.append(stroke[-1])
        out.append([(float(np.clip(140 + scale * (x - 140) + dx + rng.normal(0, 1.2), 5, 275)),
                     float(np.clip(140 + scale * (y - 140) + dy + rng.normal(0, 1.2), 5, 275))) for x, y in pts])
    return out


def rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except ImportError:
        return float("nan")


def refcounts() -> dict:
    return {"None": sys.getrefcount(None), "True": sys.getrefcount(True), "False": sys.getrefcount(False)}


def _census() -> dict:
    import collections
    import gc

    return dict(collections.Counter(type(o).__name__ for o in gc.get_objects()))


def _parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--digits", type=int, default=1000)
    p.add_argument("--interval", type=float, default=0.3, help="pause between two digits (seconds)")
    p.add_argument("--every", type=int, default=100, help="digits per row of the table")
    p.add_argument("--train-at", type=int, default=None, help="digit at which a training starts (default: the middle)")
    p.add_argument("--no-training", action="store_true")
    p.add_argument("--xdotool", action="store_true", help="draw with real X events (needs an X display and xdotool)")
    p.add_argument("--models", default=None, help="the models folder (default: the bundled)")
    p.add_argument("--json", default=None, help="also write the rows as JSON here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mnist", default=None, help="mnist.npz for the training (default: $DESKTOP_DENOISER_MNIST, "
                   "else ../shared/data/mnist.npz beside the checkout, else Keras's download)")
    p.add_argument("--census", action="store_true", help="with each row, the object types whose count grew most")
    p.add_argument("--stall-stacks", type=float, default=None, metavar="MS",
                   help="print what the GUI thread is doing whenever it has not ticked for this long")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _parse_args(argv)
    if args.models is None:
        from desktop_denoiser.core import paths

        args.models = str(paths.bundled_models_dir())
    shared = ROOT.parent / "shared" / "data" / "mnist.npz"
    if args.mnist or (not os.environ.get("DESKTOP_DENOISER_MNIST") and shared.is_file()):
        os.environ["DESKTOP_DENOISER_MNIST"] = str(Path(args.mnist or shared).resolve())
    if args.xdotool and shutil.which("xdotool") is None:
        print("soak: --xdotool needs xdotool (apt-get install xdotool)", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="soak-home-"))
    os.environ["DESKTOP_DENOISER_HOME"] = str(home)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not args.xdotool and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        return _run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(args, home: Path) -> int:
    app, window = open_window(Path(args.models), home)
    soak = Soak(args, app, window)
    soak.run()
    return report(args, soak.state)


# the window ------------------------------------------------------------------------------------

def _link_models(source: Path, bundled: Path) -> Path:
    """The models of ``source``, linked (else copied) into the new folder ``bundled``: the model
    trained here lands there, never in trained_models/ (the store writes to a writable bundled folder)."""
    bundled.mkdir()
    for f in source.iterdir():
        if f.suffix in (".keras", ".json"):
            try:
                (bundled / f.name).symlink_to(f.resolve())
            except OSError:
                shutil.copy2(f, bundled / f.name)
    return bundled


def open_window(models: Path, home: Path):
    """The QApplication and the real MainWindow on the models of ``models``, shown at the top left
    (its settings, models and trained models in ``home``)."""
    if os.environ.get("QT_QPA_PLATFORM", "xcb").startswith("xcb"):
        from desktop_denoiser.gui.display import check

        check()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from desktop_denoiser.core.store import ModelStore
    from desktop_denoiser.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0], "-platform", os.environ.get("QT_QPA_PLATFORM", "xcb")])
    store = ModelStore(bundled_dir=_link_models(models, home / "bundled"), user_dir=home / "models")
    window = MainWindow(store=store, settings=QSettings(str(home / "settings.ini"), QSettings.Format.IniFormat))
    window.move(0, 0)
    window.show()
    window.raise_()
    window.activateWindow()
    return app, window


def gui_bridge():
    """A QObject of the GUI thread that runs what the driver thread sends it (queued):
    ``bridge.call.emit(fn)`` without waiting, ``bridge.run(fn)`` waiting for the result."""
    from PySide6.QtCore import QObject, Signal

    class Bridge(QObject):
        call = Signal(object)

        def __init__(self):
            super().__init__()
            self.call.connect(lambda fn: fn())

        def run(self, fn, timeout=30.0):
            """Run ``fn`` in the GUI thread and return its result."""
            box, done = [], threading.Event()
            self.call.emit(lambda: (box.append(fn()), done.set()))
            if not done.wait(timeout):
                raise TimeoutError("the GUI thread did not answer in 30 s")
            return box[0]

    return Bridge()


def wait_for(cond, timeout=60.0, what="condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.005)
    raise TimeoutError(f"timed out waiting for {what}")


# the mouse -------------------------------------------------------------------------------------

class QtMouse:
    """Synthesised Qt mouse events sent to the canvas in the GUI thread; clear() clears the canvas."""

    def __init__(self, bridge, canvas):
        from PySide6.QtCore import QPoint, Qt
        from PySide6.QtTest import QTest

        self.bridge, self.canvas = bridge, canvas
        self.QPoint, self.QTest = QPoint, QTest
        self.left, self.none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier

    def stroke(self, points) -> None:
        # One event per trip to the GUI thread, as a mouse delivers them (the stall figures then
        # measure the app, not a whole stroke delivered at once). QTest, not sendEvent/postEvent:
        # from Python those two leak a reference to None on every call (PySide6 6.11 and 6.12).
        in_gui, canvas, QPoint, QTest = self.bridge.run, self.canvas, self.QPoint, self.QTest
        in_gui(lambda: QTest.mousePress(canvas, self.left, self.none, QPoint(*map(round, points[0]))))
        for pt in points[1:]:
            in_gui(lambda pt=pt: QTest.mouseMove(canvas, QPoint(*map(round, pt))))
            time.sleep(0.004)
        in_gui(lambda: QTest.mouseRelease(canvas, self.left, self.none, QPoint(*map(round, points[-1]))))

    def clear(self) -> None:
        self.bridge.run(self.canvas.clear)


def xdo(*words) -> None:
    subprocess.run(["xdotool", *map(str, words)], check=True, timeout=30)


class XMouse:
    """Real X events from xdotool, through the X server; clear() presses Delete."""

    def __init__(self, origin):
        self.origin = origin  # the canvas's top left on the screen

    def stroke(self, points) -> None:
        ox, oy = self.origin
        cmd = ["mousemove", "--sync", int(ox + points[0][0]), int(oy + points[0][1]), "mousedown", 1]
        for x, y in points[1:]:
            cmd += ["mousemove", int(ox + x), int(oy + y), "sleep", 0.004]
        cmd += ["mouseup", 1]
        xdo(*cmd)

    def clear(self) -> None:
        xdo("key", "Delete")

    @classmethod
    def on(cls, bridge, canvas) -> "XMouse":
        """Once the window has mapped: the canvas's place on the screen, and the window focused."""
        time.sleep(1.0)  # let the window map
        origin = bridge.run(lambda: (canvas.mapToGlobal(canvas.rect().topLeft()).x(),
                                     canvas.mapToGlobal(canvas.rect().topLeft()).y()))
        wid = subprocess.run(["xdotool", "search", "--name", "Desktop Denoiser"], capture_output=True,
                             text=True).stdout.split()
        if wid:
            subprocess.run(["xdotool", "windowfocus", "--sync", wid[0]], timeout=30)
        return cls(origin)


# the measurements ------------------------------------------------------------------------------

class EventLoopWatch:
    """The ticks of a 10 ms timer in the GUI thread, and the pause of every garbage collection
    (any thread). Create it in the GUI thread."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.ticks: list[float] = []
        self.gc_pauses: list[tuple[float, float]] = []  # (start, seconds) of every collection, any thread
        self._gc_start = 0.0
        gc.callbacks.append(self._on_gc)
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        self.ticks.append(time.perf_counter())

    def _on_gc(self, event, info) -> None:
        if event == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_pauses.append((self._gc_start, time.perf_counter() - self._gc_start))

    def block(self, start: float, now: float) -> dict:
        """Since ``start``: the worst gap between two ticks, the longest collection, and the
        collections within the worst gap (ms); the pauses recorded so far are then forgotten."""
        t = np.asarray([x for x in self.ticks if x >= start])
        gaps = np.diff(t) * 1000 if len(t) > 1 else np.zeros(1)
        worst_at = float(t[1:][int(np.argmax(gaps))]) if len(t) > 1 else now
        pauses = [d for begun, d in self.gc_pauses if begun >= start]
        gc_in_worst = [d for begun, d in self.gc_pauses if worst_at - gaps.max() / 1000 <= begun <= worst_at]
        del self.gc_pauses[:]
        return {"worst_stall_ms": round(float(gaps.max()), 1),
                "gc_max_ms": round(1000 * max(pauses), 1) if pauses else 0.0,
                "gc_in_worst_ms": round(1000 * sum(gc_in_worst), 1)}

    def trim(self) -> None:
        """Forget the ticks but the last two."""
        del self.ticks[: max(0, len(self.ticks) - 2)]

    def stop(self) -> None:
        self.timer.stop()

    def report_stalls(self, ms: float) -> None:
        """Print what the GUI thread is doing whenever it has not ticked for ``ms`` (call it in the GUI thread)."""
        threading.Thread(target=self._stall_watch, args=(threading.get_ident(), ms), name="stall-watch", daemon=True).start()

    def _stall_watch(self, gui_ident: int, ms: float) -> None:
        import traceback

        reported = None
        while True:
            time.sleep(0.01)
            last = self.ticks[-1] if self.ticks else None
            if last is None or last == reported:
                continue
            if (time.perf_counter() - last) * 1000 > ms:
                frame = sys._current_frames().get(gui_ident)
                where = "".join(traceback.format_stack(frame)[-4:]) if frame else "(no Python frame)"
                del frame  # holding it would keep the GUI thread's locals (a QPainter) alive
                print(f"GUI thread silent for {ms:.0f} ms; it is in:\n{where}", flush=True)
                reported = last


# the session -----------------------------------------------------------------------------------

class Soak:
    """The session: a driver thread draws each digit, reads its prediction and clears the canvas,
    starts the training at ``train_at`` and records a row every ``--every`` digits in ``state``."""

    def __init__(self, args, app, window):
        self.args, self.app, self.window = args, app, window
        self.canvas = window.inputs.canvas
        self.watch = EventLoopWatch()
        self.bridge = gui_bridge()
        self.mouse = None  # QtMouse or XMouse, once the models are loaded
        self.state = {"error": None, "rows": [], "training": None, "trained": None}
        self.rng = np.random.default_rng(args.seed)
        self.train_at = None if args.no_training else (args.train_at if args.train_at is not None else args.digits // 2)
        self.t0 = 0.0

    def run(self) -> None:
        """In the GUI thread: start the driver, run the event loop until it quits, close the window."""
        self.t0 = time.perf_counter()
        threading.Thread(target=self.drive, name="soak-driver", daemon=True).start()
        if self.args.stall_stacks:
            self.watch.report_stalls(self.args.stall_stacks)
        self.app.exec()
        self.watch.stop()
        self.window.close()

    def drive(self) -> None:
        """The driver thread: the whole session, then quit the event loop."""
        try:
            self.prepare()
            self.draw_digits()
            if self.state["training"] is not None:
                wait_for(lambda: self.state["trained"] is not None, 600, "the training to finish")
        except Exception as exc:  # noqa: BLE001 - reported in the table
            self.state["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            self.bridge.call.emit(self.app.quit)

    def prepare(self) -> None:
        """Wait for the models, show the drawing tab without noise, and pick the mouse."""
        window, in_gui = self.window, self.bridge.run
        wait_for(lambda: window._models is not None and window._models.classifier is not None, 180, "the models")
        in_gui(lambda: window.inputs.setCurrentIndex(0))
        in_gui(lambda: window.noise.set_spec(NoiseSpec("none")))
        self.mouse = XMouse.on(self.bridge, self.canvas) if self.args.xdotool else QtMouse(self.bridge, self.canvas)

    def draw_digits(self) -> None:
        block = self.new_block()
        self.record_row(0, block)
        for i in range(1, self.args.digits + 1):
            if self.train_at is not None and i == self.train_at:
                self.state["training"] = time.perf_counter()
                self.bridge.run(self.start_training)
            self.draw_and_read(i, block)
            if i % self.args.every == 0 or i == self.args.digits:
                self.record_row(i, block)
                block = self.new_block()
            time.sleep(self.args.interval)

    @staticmethod
    def new_block() -> dict:
        """The tally of the digits drawn since the last row."""
        return {"right": 0, "drawn": 0, "start": time.perf_counter()}

    def draw_and_read(self, i: int, block: dict) -> None:
        """Draw the i-th digit (0, 1, …, 9, 0, …), read the window's prediction, clear the canvas."""
        digit = (i - 1) % 10
        for stroke in strokes_for(digit, self.rng):
            self.mouse.stroke(stroke)
        predicted = self.read_prediction(i)
        block["drawn"] += 1
        block["right"] += int(predicted == digit)
        self.mouse.clear()
        wait_for(lambda: self.canvas.is_empty(), 30, "the canvas to clear")

    def read_prediction(self, i: int):
        """The prediction for the finished drawing: once the window has sent its last frame, ask
        for one more and wait for it (it is computed from the final canvas)."""
        window, in_gui = self.window, self.bridge.run
        wait_for(lambda: in_gui(lambda: not window._timer.isActive()) and window.inference._pending is None,
                 60, "the last frame request")
        mark = window.frames_shown
        in_gui(window.schedule_update)
        wait_for(lambda: window.frames_shown > mark and window._last is not None
                 and window._last.probs_reconstruction is not None, 60, f"the prediction of digit {i}")
        return in_gui(lambda: window.prediction.current)

    def start_training(self) -> bool:
        """In the GUI thread: a small, quick training from the window."""
        cfg = TrainConfig(arch="conv", noise=NoiseSpec.parse("uniform:0.5"), epochs=2, subset=3000, batch_size=64,
                          val_limit=300, patience=None, seed=0)
        assert self.window.start_training(cfg, "soak"), "the window did not start the training"
        self.window._training.ended.connect(self.training_ended)
        return True

    def training_ended(self, end) -> None:
        from PySide6.QtCore import QTimer

        if end.failed:
            self.state["training_error"] = end.message
        # The window selects the model it has just trained (a quick, weak one here); switch
        # back to the default, as a person comparing models would.
        self.state["trained"] = time.perf_counter()
        QTimer.singleShot(500, lambda: self.window.select_denoiser(DEFAULT_DENOISER))

    def record_row(self, i: int, block: dict) -> None:
        """A row after ``i`` digits: memory, reference counts (after a collection), the block's
        event-loop figures, frames shown, digits read right, the training's state."""
        now = time.perf_counter()
        loop = self.watch.block(block["start"], now)
        self.bridge.run(gc.collect)
        counts = self.bridge.run(refcounts)
        if self.args.census:
            self.print_census()
        self.state["rows"].append({
            "digits": i, "seconds": round(now - self.t0, 1), "rss_mb": round(rss_mb(), 1), **counts, **loop,
            "frames": self.window.frames_shown,
            "read_right": f"{block['right']}/{block['drawn']}" if block["drawn"] else "-",
            "training": self.training_state(),
        })
        self.watch.trim()
        print(json.dumps(self.state["rows"][-1]), flush=True)

    def training_state(self) -> str:
        state = self.state
        return "running" if state["training"] and not state["trained"] else "done" if state["trained"] else "-"

    def print_census(self) -> None:
        """The object types whose count grew most since the last row."""
        census = self.bridge.run(_census)
        grown = {k: v - self.state.get("census", {}).get(k, 0) for k, v in census.items()}
        self.state["census"] = census
        print("census:", sorted(grown.items(), key=lambda kv: -kv[1])[:8], flush=True)


def report(args, state) -> int:
    rows = state["rows"]
    cols = ["digits", "seconds", "rss_mb", "None", "True", "False", "worst_stall_ms", "gc_in_worst_ms", "gc_max_ms",
            "frames", "read_right", "training"]
    mode = "X events (xdotool)" if args.xdotool else "Qt mouse events"
    print(f"\nsoak: {args.digits} digits drawn with {mode}, {args.interval:.2f} s apart, "
          f"Python {sys.version.split()[0]}, PySide6 {_pyside_version()}")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    status = 0
    if state.get("training_error"):
        print(f"training failed: {state['training_error']}")
        status = 1
    if state["error"]:
        print(f"error: {state['error']}")
        status = 1
    if len(rows) >= 2:
        # from the first row after start-up (TF and the models are loaded by then) to the last
        first, last = rows[1] if len(rows) > 2 else rows[0], rows[-1]
        digits = max(1, last["digits"] - first["digits"])
        drift = {k: last[k] - first[k] for k in ("None", "True", "False")}
        per_digit = {k: round(v / digits, 1) for k, v in drift.items()}
        print(f"reference counts from digit {first['digits']} to {last['digits']}: {drift}, per digit {per_digit} "
              f"(a fall of more than {FALL_LIMIT} fails; rises are reported only)")
        growth = last["rss_mb"] - first["rss_mb"]
        print(f"memory from digit {first['digits']} to {last['digits']}: {first['rss_mb']} -> {last['rss_mb']} MB "
              f"(allowed growth {RSS_GROWTH_MB} MB)")
        stalls = [r["worst_stall_ms"] for r in rows[1:]]
        print(f"worst event-loop stall: first block {stalls[0]} ms, last block {stalls[-1]} ms, "
              f"worst of all {max(stalls)} ms")
        if any(v < -FALL_LIMIT for v in drift.values()) or growth > RSS_GROWTH_MB:
            status = 1
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "error": state["error"], "status": status}, indent=1))
    return status


def _pyside_version() -> str:
    try:
        import PySide6

        return PySide6.__version__
    except ImportError:
        return "?"


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # TF + Qt teardown is slow and not always clean; the table is out
