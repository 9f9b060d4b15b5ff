"""Child process of the ``gui`` table: open the real main window, time its start, then train
through it while a 10 ms QTimer watches the event loop. Prints one JSON line at the end.

    python -m desktop_denoiser.benchmarks.gui_probe --seconds 20 --store DIR --home DIR

Only the window's public pieces are used where they exist (``MainWindow(store=, settings=)``,
``start_training(config, name)``, ``inference.models_ready``, the training thread
``window._training`` and its ``ended`` signal with its ``TrainingEnd``); anything missing is
reported, not fatal. :class:`Probe` runs the phases and measures them.
"""

from __future__ import annotations

import time

T_START = time.time()  # noqa: E402 - as early as possible: the launch clock

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402


def _emit(result: dict) -> None:
    print("GUI_PROBE " + json.dumps(result), flush=True)


def _later(ms: int, fn) -> None:
    """Call ``fn`` from the event loop in ``ms`` milliseconds."""
    from PySide6.QtCore import QTimer

    QTimer.singleShot(ms, fn)


def _parse_args(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--store", required=True)
    p.add_argument("--home", required=True)
    p.add_argument("--idle", type=float, default=2.0)
    p.add_argument("--switch-interval", type=float, default=None, help="override sys.setswitchinterval (seconds)")
    return p.parse_args(argv)


def _set_environment(args) -> None:
    os.environ["DESKTOP_DENOISER_HOME"] = args.home
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _open_window(args, result: dict):
    """The QApplication and the shown MainWindow, timing the imports and the show in ``result``;
    None when the GUI cannot be imported or the window fails to open (``result["error"]`` says why)."""
    try:
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        from desktop_denoiser.gui.main_window import MainWindow
    except Exception as exc:  # noqa: BLE001 - the GUI is optional for the benchmark
        result["error"] = f"cannot import the GUI: {type(exc).__name__}: {exc}"
        return None
    from pathlib import Path

    from desktop_denoiser.core.store import ModelStore

    app = QApplication.instance() or QApplication([sys.argv[0]])
    result["t_imports"] = time.time()
    store = ModelStore(bundled_dir=Path(args.store), user_dir=Path(args.home) / "models")
    settings = QSettings(str(Path(args.home) / "settings.ini"), QSettings.Format.IniFormat)
    try:
        window = MainWindow(store=store, settings=settings)
        window.show()
    except Exception as exc:  # noqa: BLE001
        result["error"] = f"the main window failed to open: {type(exc).__name__}: {exc}"
        return None
    result["t_shown"] = time.time()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    result["switch_interval"] = sys.getswitchinterval()
    return app, window


def _receiver(probe: "Probe"):
    """A QObject of the main thread whose slots call ``probe``: signals from the worker threads
    arrive queued, in the GUI thread."""
    from PySide6.QtCore import QObject, Slot

    class Receiver(QObject):
        @Slot(object)
        def ended(self, end):
            probe.training_ended(end)

        @Slot(object)
        def models_loaded(self, *a):
            probe.models_loaded()

    return Receiver()


class Probe:
    """One run in the open window: idle until the models are loaded, train, idle again, end.

    A 10 ms QTimer's ticks and the garbage collector's pauses are recorded throughout; the run is
    cut into named phases, and :meth:`snapshot` gives the gaps between ticks per finished phase.
    """

    def __init__(self, app, window, args, result: dict):
        self.app, self.window, self.args, self.result = app, window, args, result
        self.ticks: list[float] = []
        self.phases: list[tuple[str, float]] = []  # (name, start time)
        self.gc_pauses: list[tuple[float, int, float]] = []  # (start, generation, seconds)
        self._gc_start = 0.0
        self.models_at = None  # when the models were loaded (time.time())
        self.done = False
        self.train_started = None
        self.train_finished = None
        self.limit = args.seconds * 4 + 240  # seconds until the run is stopped, whatever happens
        self.timer = None
        self.receiver = None

    # measuring ---------------------------------------------------------------------------------

    def watch_event_loop(self) -> None:
        """Record every garbage collection, and start the 10 ms timer whose ticks are counted."""
        import gc

        from PySide6.QtCore import QTimer

        gc.callbacks.append(self._on_gc)
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self):
        self.ticks.append(time.perf_counter())

    def _on_gc(self, event, info):
        if event == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_pauses.append((self._gc_start, info["generation"], time.perf_counter() - self._gc_start))

    def phase(self, name: str) -> None:
        self.phases.append((name, time.perf_counter()))
        if len(self.phases) > 1:  # a snapshot after every phase: a crash later keeps what was measured
            _emit(self.snapshot(partial=name != "end"))

    def snapshot(self, partial: bool) -> dict:
        """The result so far: gaps between ticks per finished phase."""
        import numpy as np

        t = np.asarray(self.ticks)
        out = []
        for (name, start), (_, end) in zip(self.phases, self.phases[1:]):
            sel = t[(t >= start) & (t <= end)]
            gaps = np.diff(sel) * 1000.0 if len(sel) > 1 else np.zeros(0)
            pauses = [d for t0, _, d in self.gc_pauses if start <= t0 <= end]
            out.append({
                "gc_collections": len(pauses), "gc_max_ms": 1000.0 * max(pauses) if pauses else None,
                "phase": name, "seconds": end - start, "ticks": int(len(sel)),
                "max_gap_ms": float(gaps.max()) if len(gaps) else None,
                "p99_gap_ms": float(np.percentile(gaps, 99)) if len(gaps) else None,
                "over_50ms": int((gaps > 50).sum()), "over_100ms": int((gaps > 100).sum()),
            })
        return {**self.result, "phases": out, "partial": partial, "last_phase": self.phases[-1][0] if self.phases else None,
                "train_started": self.train_started, "train_finished": self.train_finished}

    # the run's steps ---------------------------------------------------------------------------

    def wait_for_models(self) -> None:
        """Start the training once the window's inference worker has loaded the models."""
        worker = getattr(self.window, "inference", None)
        if worker is not None and hasattr(worker, "models_ready"):
            worker.models_ready.connect(self.receiver.models_loaded)
        else:
            self.result["note"] = "no models_ready signal: training starts after 10 s"
            _later(10000, self.receiver.models_loaded)

    def models_loaded(self) -> None:
        if self.models_at is None:
            self.models_at = time.time()
            self.result["t_models"] = self.models_at
            self.phase("idle, models loaded")
            _later(int(self.args.idle * 1000), self.start_training)

    def start_training(self) -> None:
        from desktop_denoiser.core.noise import NoiseSpec
        from desktop_denoiser.core.training import TrainConfig

        self.phase("training through the GUI's worker")
        cfg = TrainConfig(arch="unet", noise=NoiseSpec("mixed"), epochs=1000, patience=None, time_budget=self.args.seconds,
                          subset=10000, val_limit=1000, seed=0)
        try:
            ok = self.window.start_training(cfg, "bench-gui")
        except Exception as exc:  # noqa: BLE001
            self.result["error"] = f"start_training failed: {type(exc).__name__}: {exc}"
            self.finish()
            return
        thread = getattr(self.window, "_training", None)
        if not ok or thread is None:
            self.result["error"] = "the window did not start a training"
            self.finish()
            return
        self.train_started = time.time()
        thread.ended.connect(self.receiver.ended)

    def training_ended(self, end) -> None:
        if end.failed:
            self.result["training_failed"] = end.message
        if self.train_finished is None:
            self.train_finished = time.time()
            self.phase("after the training (model reload)")
            _later(int(self.args.idle * 1000), self.finish)

    def finish(self, message=None) -> None:
        if self.done:
            return
        self.done = True
        if message:
            self.result["training_message"] = message
        self.phase("end")
        _later(0, self.app.quit)

    def set_limits(self) -> None:
        """A soft stop in the event loop, and a hard one from a watchdog thread."""
        import threading

        _later(int(self.limit * 1000), lambda: self.finish("timed out"))
        threading.Thread(target=self._watchdog, daemon=True).start()

    def _watchdog(self) -> None:
        time.sleep(self.limit + 60)
        _emit({**self.snapshot(partial=True), "error": "the event loop stopped answering (watchdog)"})
        os._exit(0)

    def run(self) -> None:
        """The whole run, in the event loop; the final result is printed before the window closes."""
        self.watch_event_loop()
        self.phase("start-up (TensorFlow and the models load)")
        _later(0, lambda: self.result.__setitem__("t_usable", time.time()))
        self.receiver = _receiver(self)
        self.wait_for_models()
        self.set_limits()
        try:
            self.app.exec()
        except Exception:  # noqa: BLE001
            self.result["error"] = traceback.format_exc().splitlines()[-1]
        self.timer.stop()
        _emit(self.snapshot(partial=False))  # before the teardown: Qt + TensorFlow exits are not always clean
        try:
            self.window.close()
            self.app.processEvents()
        except Exception:  # noqa: BLE001
            pass


def main(argv=None) -> int:
    args = _parse_args(argv)
    _set_environment(args)
    result: dict = {"t_start": T_START, "platform": os.environ.get("QT_QPA_PLATFORM", "default")}
    opened = _open_window(args, result)
    if opened is None:
        _emit(result)
        return 0
    app, window = opened
    Probe(app, window, args, result).run()
    sys.stdout.flush()
    os._exit(0)  # Qt + TensorFlow teardown is slow and not always clean; the result is out


if __name__ == "__main__":
    sys.exit(main())
