"""Child process of the ``gui`` table: open the real main window, time its start, then train
through it while a 10 ms QTimer watches the event loop. Prints one JSON line at the end.

    python -m benchmarks.gui_probe --seconds 20 --store DIR --home DIR

Only the window's public pieces are used where they exist (``MainWindow(store=, settings=)``,
``start_training(config, name)``, ``inference.models_ready``, the training thread's
``succeeded``/``failed`` signals); anything missing is reported, not fatal.
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--store", required=True)
    p.add_argument("--home", required=True)
    p.add_argument("--idle", type=float, default=2.0)
    p.add_argument("--switch-interval", type=float, default=None, help="override sys.setswitchinterval (seconds)")
    args = p.parse_args(argv)
    os.environ["DESKTOP_DENOISER_HOME"] = args.home
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    result: dict = {"t_start": T_START, "platform": os.environ.get("QT_QPA_PLATFORM", "default")}
    try:
        from PySide6.QtCore import QObject, QSettings, QTimer, Slot
        from PySide6.QtWidgets import QApplication

        from desktop_denoiser.gui.main_window import MainWindow
    except Exception as exc:  # noqa: BLE001 - the GUI is optional for the benchmark
        result["error"] = f"cannot import the GUI: {type(exc).__name__}: {exc}"
        _emit(result)
        return 0
    from pathlib import Path

    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.store import ModelStore
    from desktop_denoiser.core.training import TrainConfig

    app = QApplication.instance() or QApplication([sys.argv[0]])
    result["t_imports"] = time.time()
    store = ModelStore(bundled_dir=Path(args.store), user_dir=Path(args.home) / "models")
    settings = QSettings(str(Path(args.home) / "settings.ini"), QSettings.Format.IniFormat)
    try:
        window = MainWindow(store=store, settings=settings)
        window.show()
    except Exception as exc:  # noqa: BLE001
        result["error"] = f"the main window failed to open: {type(exc).__name__}: {exc}"
        _emit(result)
        return 0
    result["t_shown"] = time.time()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    result["switch_interval"] = sys.getswitchinterval()

    ticks: list[float] = []
    phases: list[tuple[str, float]] = []  # (name, start time)
    state = {"models": None, "done": False, "train_started": None, "train_finished": None}

    def phase(name):
        phases.append((name, time.perf_counter()))
        if len(phases) > 1:  # a snapshot after every phase: a crash later keeps what was measured
            _emit(snapshot(partial=name != "end"))

    def snapshot(partial: bool) -> dict:
        """The result so far: gaps between ticks per finished phase."""
        import numpy as np

        t = np.asarray(ticks)
        out = []
        for (name, start), (_, end) in zip(phases, phases[1:]):
            sel = t[(t >= start) & (t <= end)]
            gaps = np.diff(sel) * 1000.0 if len(sel) > 1 else np.zeros(0)
            pauses = [d for t0, _, d in gc_pauses if start <= t0 <= end]
            out.append({
                "gc_collections": len(pauses), "gc_max_ms": 1000.0 * max(pauses) if pauses else None,
                "phase": name, "seconds": end - start, "ticks": int(len(sel)),
                "max_gap_ms": float(gaps.max()) if len(gaps) else None,
                "p99_gap_ms": float(np.percentile(gaps, 99)) if len(gaps) else None,
                "over_50ms": int((gaps > 50).sum()), "over_100ms": int((gaps > 100).sum()),
            })
        return {**result, "phases": out, "partial": partial, "last_phase": phases[-1][0] if phases else None,
                "train_started": state["train_started"], "train_finished": state["train_finished"]}

    def tick():
        ticks.append(time.perf_counter())

    import gc

    gc_pauses: list[tuple[float, int, float]] = []  # (start, generation, seconds)
    gc_start = [0.0]

    def on_gc(event, info):
        if event == "start":
            gc_start[0] = time.perf_counter()
        else:
            gc_pauses.append((gc_start[0], info["generation"], time.perf_counter() - gc_start[0]))

    gc.callbacks.append(on_gc)

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    phase("start-up (TensorFlow and the models load)")
    QTimer.singleShot(0, lambda: result.__setitem__("t_usable", time.time()))

    def finish(message=None):
        if state["done"]:
            return
        state["done"] = True
        if message:
            result["training_message"] = message
        phase("end")
        QTimer.singleShot(0, app.quit)

    class Receiver(QObject):
        """Slots on a main-thread object: signals from the worker threads arrive queued."""

        @Slot(object, object)
        def succeeded(self, *a):
            self.finished()

        @Slot(str)
        def failed(self, message):
            result["training_failed"] = message
            self.finished()

        def finished(self):
            if state["train_finished"] is None:
                state["train_finished"] = time.time()
                phase("after the training (model reload)")
                QTimer.singleShot(int(args.idle * 1000), finish)

        @Slot(object)
        def models_loaded(self, *a):
            if state["models"] is None:
                state["models"] = time.time()
                result["t_models"] = state["models"]
                phase("idle, models loaded")
                QTimer.singleShot(int(args.idle * 1000), start_training)

    receiver = Receiver()

    def start_training():
        phase("training through the GUI's worker")
        cfg = TrainConfig(arch="unet", noise=NoiseSpec("mixed"), epochs=1000, patience=None, time_budget=args.seconds,
                          subset=10000, val_limit=1000, seed=0)
        try:
            ok = window.start_training(cfg, "bench-gui")
        except Exception as exc:  # noqa: BLE001
            result["error"] = f"start_training failed: {type(exc).__name__}: {exc}"
            finish()
            return
        thread = getattr(window, "_training", None)
        if not ok or thread is None:
            result["error"] = "the window did not start a training"
            finish()
            return
        state["train_started"] = time.time()
        thread.succeeded.connect(receiver.succeeded)
        thread.failed.connect(receiver.failed)

    models_loaded = receiver.models_loaded

    worker = getattr(window, "inference", None)
    if worker is not None and hasattr(worker, "models_ready"):
        worker.models_ready.connect(models_loaded)
    else:
        result["note"] = "no models_ready signal: training starts after 10 s"
        QTimer.singleShot(10000, models_loaded)
    # a soft stop in the event loop, and a hard one from a watchdog thread, whatever happens
    limit = args.seconds * 4 + 240
    QTimer.singleShot(int(limit * 1000), lambda: finish("timed out"))

    def watchdog():
        time.sleep(limit + 60)
        _emit({**snapshot(partial=True), "error": "the event loop stopped answering (watchdog)"})
        os._exit(0)

    import threading

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        app.exec()
    except Exception:  # noqa: BLE001
        result["error"] = traceback.format_exc().splitlines()[-1]
    timer.stop()

    _emit(snapshot(partial=False))  # before the teardown: Qt + TensorFlow exits are not always clean
    try:
        window.close()
        app.processEvents()
    except Exception:  # noqa: BLE001
        pass
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
