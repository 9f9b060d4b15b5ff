"""The Qt binding must not steal references to None, True or False.

PySide6 6.12.0 on Python 3.11 drops one reference to ``True`` on every ``Signal.emit()`` and
references to ``None`` on the window's paths; after a few minutes of drawing the count reaches
zero and CPython aborts ("none_dealloc: deallocating None"). Python 3.12+ makes these objects
immortal (their count is pinned), which hides the bug: there the test cannot see it and says so.

Each of the app's own signals is emitted thousands of times, from another thread, to receivers
in the GUI thread (queued, as in the window), and the three counts are compared before and after.
"""

from __future__ import annotations

import ctypes
import gc
import queue
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QObject, Qt, Slot  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

EMITS = 3000  # per signal
ROUND = 200  # emits between two checks
# Ordinary Python code moves these counts by a few while it runs (a frame holding None, a
# cached bool); a binding that steals one reference per emit moves them by thousands.
TOLERANCE = 60

IMMORTAL = sys.version_info >= (3, 12)


def counts() -> dict:
    gc.collect()
    return {"None": sys.getrefcount(None), "True": sys.getrefcount(True), "False": sys.getrefcount(False)}


def drift(before: dict, after: dict) -> dict:
    return {k: after[k] - before[k] for k in before}


def give_back(d: dict) -> None:
    """Return the references a broken binding stole, so the rest of the run cannot abort."""
    objects = {"None": None, "True": True, "False": False}
    for key, value in d.items():
        for _ in range(max(0, -value)):
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(objects[key]))


class Sink(QObject):
    """Lives in the GUI thread; counts what arrives (queued across threads)."""

    def __init__(self):
        super().__init__()
        self.received = 0

    @Slot()
    def take(self, *args):
        self.received += 1


def _app_signals(qtbot, tmp_path):
    """(name, signal instance, arguments) for every signal the window's objects emit."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QWidget

    from desktop_denoiser.core.figures import ModelFigures
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.training_end import Outcome, TrainingEnd
    from desktop_denoiser.gui.image_files import ImageFiles
    from desktop_denoiser.gui.main_window import MainWindow
    from desktop_denoiser.gui.model_files import ModelFiles
    from desktop_denoiser.gui.model_picker import ModelPicker
    from desktop_denoiser.gui.training_control import TrainingControl
    from desktop_denoiser.core.training import EpochResult, Progress, TrainConfig
    from desktop_denoiser.gui.canvas import DrawingCanvas
    from desktop_denoiser.gui.input_panel import InputPanel
    from desktop_denoiser.gui.models_dialog import ModelsDialog
    from desktop_denoiser.gui.noise_panel import NoisePanel
    from desktop_denoiser.gui.training_panel import TrainingPanel
    from desktop_denoiser.core.frame import Frame
    from desktop_denoiser.gui.workers import InferenceWorker, ModelsInfo

    from desktop_denoiser.core.store import ModelStore
    from desktop_denoiser.gui.lab.map_view import MapView
    from desktop_denoiser.gui.lab.session import LabSession

    store = ModelStore()
    canvas, inputs, noise, panel = DrawingCanvas(), InputPanel(), NoisePanel(), TrainingPanel()
    dialog = ModelsDialog(store)
    worker = InferenceWorker(store)  # not started: only its signals are used
    from desktop_denoiser.gui.workers import TrainingThread

    training = TrainingThread(TrainConfig(arch="dense", noise=NoiseSpec("uniform")), store)  # not started: no process
    z = np.zeros((28, 28), np.float32)
    frame = Frame(z, z, True)
    info = ModelsInfo("CPU", [], [], None, None)
    progress = Progress(epoch=1, epochs=2, batch=3, batches=4, step=3, loss=0.5, images_per_s=100.0, elapsed=1.0,
                        eta=None, fraction=0.3)
    epoch = EpochResult(epoch=1, loss=0.5, val_loss=0.4, val_metric=12.0, seconds=1.0, step=4, val_metric_name="psnr")
    config = TrainConfig(arch="dense", noise=NoiseSpec("uniform"))
    end = TrainingEnd(Outcome.CANCELLED, stop_reason="cancelled", best_epoch=None, epochs=0, config=config.to_dict())
    # the window's own parts, each on its own (their signals reach nothing that would load models)
    host = QWidget()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    control = TrainingControl(store, panel, worker, lambda fn, done: None)
    picker, files, model_files = ModelPicker(), ImageFiles(host, inputs, settings), ModelFiles(host, store, lambda fn, done: None)
    window = MainWindow(store=store, settings=settings, load_models=False)  # its frame_shown reaches no slot
    lab_session = LabSession(None)  # the autoencoder lab's state and its map tab, on their own
    lab_map = MapView(lab_session)
    for widget in (canvas, inputs, noise, panel, dialog, host, window, lab_map):
        qtbot.addWidget(widget)
    qtbot.waitUntil(lambda: window.frames_shown >= 1, timeout=60_000)  # its start-up work is done before any count
    qtbot.wait(200)
    keep = [canvas, inputs, noise, panel, dialog, worker, training, host, control, picker, files, model_files, window,
            lab_session, lab_map]
    signals = [
        ("canvas.changed", canvas.changed, ()), ("canvas.stroke_finished", canvas.stroke_finished, ()),
        ("canvas.history_changed", canvas.history_changed, (True, False)),
        ("inputs.changed", inputs.changed, ()), ("noise.changed", noise.changed, ()),
        ("panel.start_requested", panel.start_requested, (config, "")),
        ("panel.cancel_requested", panel.cancel_requested, ()), ("dialog.changed", dialog.changed, ()),
        ("worker.frame_ready", worker.frame_ready, (frame,)), ("worker.models_ready", worker.models_ready, (info,)),
        ("worker.job_done", worker.job_done, (1, None)), ("worker.failed", worker.failed, ("x",)),
        ("worker.status", worker.status, ("Ready",)),
        ("training.progress", training.progress, (progress,)), ("training.epoch", training.epoch, (epoch,)),
        ("training.status", training.status, ("s",)), ("training.device", training.device, ("CPU: x",)),
        ("training.ended", training.ended, (end,)),
        ("control.ended", control.ended, (end,)), ("control.measured", control.measured, (ModelFigures(), None)),
        ("picker.denoiser_chosen", picker.denoiser_chosen, ("unet-mixed",)),
        ("files.opened", files.opened, (True, "x.png")), ("model_files.added", model_files.added, (None,)),
        ("model_files.changed", model_files.changed, ()),
        ("window.frame_shown", window.frame_shown, (frame,)), ("window.image_opened", window.image_opened, (False, "x")),
        ("lab.lab_changed", lab_session.lab_changed, (None,)), ("lab.map_changed", lab_session.map_changed, (None,)),
        ("lab.status", lab_session.status, ("Preparing…",)), ("lab.progress", lab_session.progress, (-1.0, "")),
        ("lab._tsne_step", lab_session._tsne_step, (0, 0.5, "t-SNE iteration 10 of 1000")),
        ("lab_map.digit_chosen", lab_map.digit_chosen, (z, "decoded")),
        ("lab_map.plot.hovered", lab_map.plot.hovered, (-1,)),
        ("lab_map.plot.clicked", lab_map.plot.clicked, (0.5, -0.5, -1)),
    ]
    return signals, keep


class Emitter:
    """One long-lived thread that emits what it is asked to (a thread per round would move the
    counts by itself: every new thread's state holds references to None)."""

    def __init__(self):
        self.jobs: "queue.SimpleQueue" = queue.SimpleQueue()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while (job := self.jobs.get()) is not None:
            signal, args, n = job
            for _ in range(n):
                signal.emit(*args)
            self.done.set()

    def emit(self, signal, args, n):
        self.done.clear()
        self.jobs.put((signal, args, n))
        app = QApplication.instance()
        while not self.done.wait(0.005):
            app.processEvents()

    def stop(self):
        self.jobs.put(None)
        self.thread.join()


def _wait_for(sink, n: int, timeout: float = 60.0) -> None:
    """Process events until ``sink`` has ``n`` deliveries (qtbot.waitUntil keeps frames and
    exceptions alive between polls, which moves the None count by itself)."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout
    while sink.received < n and time.monotonic() < deadline:
        app.processEvents()
    assert sink.received == n, f"{sink.received} of {n} queued emits arrived"


def _queued_drift(emitter, signal, args, sink) -> dict:
    """Emit ``signal`` EMITS times from the emitter thread, in rounds; the counts' drift so far.

    Checked after every round, so a binding that steals references is caught long before a
    count can reach zero (which would abort the whole test run instead of failing one test).
    """
    app = QApplication.instance()
    emitter.emit(signal, args, 1)  # warm up: the first delivery creates the connection's objects
    _wait_for(sink, 1)
    app.processEvents()
    before = counts()
    d = drift(before, before)
    for _ in range(EMITS // ROUND):
        expected = sink.received + ROUND
        emitter.emit(signal, args, ROUND)
        _wait_for(sink, expected)
        app.processEvents()
        d = drift(before, counts())
        if any(abs(v) > TOLERANCE for v in d.values()):
            break
    return d


def test_signal_emits_keep_none_true_false_counts(qtbot, tmp_path):
    if IMMORTAL:
        pytest.skip(f"Python {sys.version_info.major}.{sys.version_info.minor}: None/True/False are immortal, "
                    "so a binding that drops their references cannot be seen (nor can it crash)")
    signals, keep = _app_signals(qtbot, tmp_path)
    emitter = Emitter()
    bad = {}
    for name, signal, args in signals:
        sink = Sink()
        signal.connect(sink.take, Qt.ConnectionType.QueuedConnection)
        d = _queued_drift(emitter, signal, args, sink)
        signal.disconnect(sink.take)
        if any(abs(v) > TOLERANCE for v in d.values()):
            bad[name] = d
            give_back(d)
    emitter.stop()
    assert not bad, (f"reference counts moved over up to {EMITS} queued emits each: {bad}; "
                     "the Qt binding drops references it never took (see setup.cfg)")
    del keep


def test_direct_emits_keep_counts(qtbot, tmp_path):
    """The same in one thread, with lambdas (the window's direct connections)."""
    if IMMORTAL:
        pytest.skip("None/True/False are immortal on this Python")
    signals, keep = _app_signals(qtbot, tmp_path)
    bad = {}
    for name, signal, args in signals:
        hits = []
        slot = lambda *a, hits=hits: hits.append(1)  # noqa: E731
        signal.connect(slot)
        before = counts()
        for _ in range(EMITS // ROUND):
            for _ in range(ROUND):
                signal.emit(*args)
            d = drift(before, counts())
            if any(abs(v) > TOLERANCE for v in d.values()):
                bad[name] = d
                give_back(d)
                break
        signal.disconnect(slot)
        assert hits and len(hits) % ROUND == 0
    assert not bad, f"reference counts moved: {bad}"
    del keep
