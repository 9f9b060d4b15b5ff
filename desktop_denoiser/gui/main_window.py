"""The main window: inputs on the left, what the model sees and says on the right, training below."""

from __future__ import annotations

import collections
import itertools
import time
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QFileDialog, QGridLayout, QGroupBox, QHBoxLayout,
                               QLabel, QMainWindow, QMessageBox, QSplitter, QToolBar, QVBoxLayout, QWidget)

from .. import __version__
from ..core import atomic, imageio, metrics, paths
from ..core.errors import DenoiserError
from ..core.store import ModelStore
from .background import Background
from .input_panel import IMAGE, InputPanel
from .noise_panel import NoisePanel
from .prediction_view import PredictionView
from .tiles import ImageTile, save_widget_png, signed_to_qimage
from .training_panel import TrainingPanel
from .workers import FrameRequest, FrameResult, InferenceWorker, ModelsInfo, TrainingThread, with_entry

APP_TITLE = "Desktop Denoiser"
FRAME_MS = 16  # throttle live updates to about one per screen frame
FRAME_TIMES = 30  # the status bar shows the median inference time of the last frames
MEASURE_LIMIT = 2000  # test digits a model trained in the window is measured on


def settings_for_user() -> QSettings:
    path = paths.user_data_dir() / "settings.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


def describe_figures(entry) -> str:
    """The headline test figures of a model, in one line."""
    m = entry.meta.get("metrics", {})
    if entry.kind == "classifier":
        return f"test accuracy {100 * m['test_accuracy']:.2f}%" if "test_accuracy" in m else "not measured"
    if "test_psnr" not in m:
        return "not measured"
    text = f"test PSNR {m['test_psnr']:.2f} dB"
    if "test_accuracy_denoised" in m:
        text += f", accuracy on denoised {100 * m['test_accuracy_denoised']:.2f}%"
    return text


def describe_entry(entry) -> str:
    """Rich-text metadata of a model for tooltips and the side panel."""
    if entry is None:
        return "<i>none</i>"
    if entry.error:
        return f"<b>{entry.name}</b><br>unusable: {entry.error}"
    m = entry.meta
    figures = m.get("metrics", {})
    lines = [f"<b>{entry.name}</b> ({entry.source})", f"architecture: {m.get('architecture', '?')}"]
    if m.get("parameters"):
        lines[-1] += f", {m['parameters']:,} parameters"
    if entry.kind == "denoiser":
        lines.append(f"trained on noise: {m.get('noise_label', '?')}")
        if "test_psnr" in figures:
            lines.append(f"test PSNR {figures['test_psnr']:.2f} dB (noisy {figures.get('test_psnr_noisy', float('nan')):.2f}), "
                         f"SSIM {figures.get('test_ssim', float('nan')):.3f}")
        if "test_accuracy_denoised" in figures:
            lines.append(f"accuracy on denoised {100 * figures['test_accuracy_denoised']:.2f}% "
                         f"(noisy {100 * figures.get('test_accuracy_noisy', float('nan')):.2f}%)")
    elif "test_accuracy" in figures:
        lines.append(f"test accuracy {100 * figures['test_accuracy']:.2f}%")
    if m.get("epochs_trained"):
        lines.append(f"{m['epochs_trained']} epochs (best {m.get('best_epoch')}), {m.get('training_seconds', 0):.0f} s "
                     f"on {m.get('device', '?')}")
    if m.get("created"):
        lines.append(f"created {m['created'][:16].replace('T', ' ')}")
    if m.get("note"):
        lines.append(m["note"])
    return "<br>".join(lines)


class MainWindow(QMainWindow):
    image_opened = Signal(bool, str)  # read and shown (or refused), path

    def __init__(self, store: Optional[ModelStore] = None, settings: Optional[QSettings] = None, load_models: bool = True):
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.store = store or ModelStore()
        self.settings = settings or settings_for_user()
        self._tokens = itertools.count(1)
        self._jobs: dict[int, object] = {}
        self._last: Optional[FrameResult] = None
        self._frame_times: collections.deque = collections.deque(maxlen=FRAME_TIMES)  # seconds, for the status bar
        self._training: Optional[TrainingThread] = None
        self._ending_trainings: set = set()  # threads that delivered their result and are ending
        self._models: Optional[ModelsInfo] = None
        self._closing = False
        self.message_boxes: list[QMessageBox] = []
        self.frames_shown = 0
        self._background = Background(self)
        self._open_token = 0

        self.inference = InferenceWorker(self.store)
        self.inference.frame_ready.connect(self._show_frame)
        self.inference.models_ready.connect(self._models_loaded)
        self.inference.failed.connect(lambda msg: self.show_error("Desktop Denoiser", msg))
        self.inference.status.connect(self._worker_status)
        self.inference.job_done.connect(self._job_done)

        self._build_ui()
        self._build_menus()
        self._restore_settings()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self._send_frame)
        self.inputs.changed.connect(self.schedule_update)
        self.noise.changed.connect(self.schedule_update)
        self.inputs.open_requested.connect(self.open_image_dialog)
        self.schedule_update()
        self.inference.start()
        if load_models:
            QTimer.singleShot(0, lambda: self.inference.load_models(self._saved_denoiser or None))

    # layout ------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        bar = QToolBar("Models")
        bar.setObjectName("models_toolbar")
        bar.setMovable(False)
        bar.addWidget(QLabel(" Denoiser: "))
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(24)
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setToolTip("The denoising autoencoder in use")
        self.model_combo.activated.connect(self._model_chosen)
        bar.addWidget(self.model_combo)
        bar.addSeparator()
        self.classifier_label = QLabel(" Classifier: loading… ")
        bar.addWidget(self.classifier_label)
        self.addToolBar(bar)

        self.inputs = InputPanel()

        out = QWidget()
        grid = QGridLayout(out)
        grid.setContentsMargins(6, 6, 6, 6)
        self.tile_clean = ImageTile("Model input", "The digit as the model sees it: 28×28, light ink on dark, centred")
        self.tile_noisy = ImageTile("Noisy input", "The model input after the chosen noise")
        self.tile_recon = ImageTile("Reconstruction", "What the denoising autoencoder made of the noisy input")
        self.tile_diff = ImageTile("Difference", "Reconstruction minus clean input: red = ink lost, blue = ink added")
        tiles = QHBoxLayout()
        for t in (self.tile_clean, self.tile_noisy, self.tile_recon, self.tile_diff):
            tiles.addWidget(t, 1)
        grid.addLayout(tiles, 0, 0)

        side = QVBoxLayout()
        noise_box = QGroupBox("Noise")
        nb = QVBoxLayout(noise_box)
        self.noise = NoisePanel()
        nb.addWidget(self.noise)
        self.show_diff = QCheckBox("Show difference tile")
        self.show_diff.toggled.connect(self.tile_diff.setVisible)
        nb.addWidget(self.show_diff)
        side.addWidget(noise_box)
        model_box = QGroupBox("Models")
        mb = QVBoxLayout(model_box)
        self.model_info = QLabel("Loading models…")
        self.model_info.setWordWrap(True)
        self.model_info.setTextFormat(Qt.TextFormat.RichText)
        self.model_info.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.model_info.setMinimumWidth(240)
        mb.addWidget(self.model_info)
        side.addWidget(model_box, 1)
        grid.addLayout(side, 0, 1, 2, 1)

        self.prediction = PredictionView()
        grid.addWidget(self.prediction, 1, 0)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        grid.setColumnStretch(0, 1)
        self.output = out

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.inputs)
        self.splitter.addWidget(out)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

        self.training = TrainingPanel()
        self.training.start_requested.connect(self.start_training)
        self.training.cancel_requested.connect(self.cancel_training)
        self.training_dock = QDockWidget("Train a model", self)
        self.training_dock.setObjectName("training_dock")
        self.training_dock.setWidget(self.training)
        self.training_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                       | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                                       | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.training_dock)
        self.resizeDocks([self.training_dock], [290], Qt.Orientation.Vertical)

        sb = self.statusBar()
        self.status_device = QLabel("Device: loading TensorFlow…")
        self.status_models = QLabel(" ")
        self.status_time = QLabel(" ")
        for label in (self.status_device, self.status_models, self.status_time):
            sb.addPermanentWidget(label)
        sb.showMessage("Starting…")

    def _build_menus(self) -> None:
        def action(menu, text, slot, shortcut=None, tip=None, checkable=False):
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            if tip:
                a.setStatusTip(tip)
            a.setCheckable(checkable)
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        m = self.menuBar().addMenu("&File")
        action(m, "&Open image…", self.open_image_dialog, QKeySequence.StandardKey.Open, "Open a PNG, JPEG or BMP")
        action(m, "&Paste image", self.paste_image, QKeySequence.StandardKey.Paste, "Use the image on the clipboard")
        m.addSeparator()
        self.save_action = action(m, "&Save reconstruction as PNG…", self.save_reconstruction_dialog,
                                  QKeySequence.StandardKey.Save, "Save the 28×28 reconstruction")
        action(m, "&Export figure…", self.export_figure_dialog, "Ctrl+E", "Save the tiles and prediction as a PNG")
        m.addSeparator()
        action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        m = self.menuBar().addMenu("&Edit")
        action(m, "&Undo stroke", self.inputs.canvas.undo, QKeySequence.StandardKey.Undo)
        action(m, "&Redo stroke", self.inputs.canvas.redo, "Ctrl+Shift+Z")
        action(m, "&Clear canvas", self.inputs.canvas.clear, QKeySequence.StandardKey.Delete)

        m = self.menuBar().addMenu("&Model")
        action(m, "&Load model…", self.load_model_dialog, "Ctrl+L", "Add a .keras model to your models")
        action(m, "&Save model as…", self.save_model_dialog, None, "Copy the active denoiser to a file")
        action(m, "&Manage models…", self.manage_models, None, "List, inspect and delete models")

        m = self.menuBar().addMenu("&View")
        self.diff_action = action(m, "Show &difference", self.show_diff.setChecked, "Ctrl+D", checkable=True)
        self.show_diff.toggled.connect(self.diff_action.setChecked)
        action(m, "Noise &sweep…", self.open_sweep, "Ctrl+Shift+N",
               "One digit at growing blur and noise, noisy over denoised")
        m.addAction(self.training_dock.toggleViewAction())

        m = self.menuBar().addMenu("&Help")
        action(m, "&About Desktop Denoiser", self.show_about)

    # settings ----------------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 860)
        state = s.value("window/state")
        if state is not None:
            self.restoreState(state)
        sizes = s.value("window/splitter")
        if sizes:
            self.splitter.setSizes([int(x) for x in sizes])
        self.show_diff.setChecked(s.value("view/diff", False, type=bool))
        self.tile_diff.setVisible(self.show_diff.isChecked())
        from ..core.errors import ConfigError
        from ..core.noise import NoiseSpec

        try:
            self.noise.set_spec(NoiseSpec.parse(str(s.value("noise/spec", "uniform:level=0.5"))))
        except ConfigError:
            pass
        self.noise.seed.setValue(int(s.value("noise/seed", 0)))
        self.inputs.brush.setValue(int(s.value("canvas/brush", 18)))
        self._saved_denoiser = str(s.value("models/denoiser", "") or "")
        self.training.restore_settings(s)

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.sizes())
        s.setValue("view/diff", self.show_diff.isChecked())
        s.setValue("noise/spec", str(self.noise.spec()))
        s.setValue("noise/seed", self.noise.seed_value())
        s.setValue("canvas/brush", self.inputs.brush.value())
        if self._models and self._models.denoiser:
            s.setValue("models/denoiser", self._models.denoiser.name)
        self.training.save_settings(s)
        s.sync()

    # live frames -------------------------------------------------------------------------------

    def schedule_update(self) -> None:
        """Ask for a new frame; requests are merged to at most one per screen frame."""
        if not self._timer.isActive():
            self._timer.start()

    def _send_frame(self) -> None:
        payload = self.inputs.payload()
        if payload is None:
            self._show_nothing("Open an image (Ctrl+O), drop one here, or paste one (Ctrl+V)"
                               if self.inputs.currentIndex() == IMAGE else " ")
            return
        kind, value = payload
        request = FrameRequest(next(self._tokens), self.noise.spec(), self.noise.seed_value(),
                               raw=value if kind == "raw" else None, ready28=value if kind == "ready28" else None)
        self.inference.submit(request)

    def _show_nothing(self, message: str) -> None:
        self._last = None
        for tile in (self.tile_clean, self.tile_noisy, self.tile_recon, self.tile_diff):
            tile.set_array(None, " ", "")
        self.prediction.clear(message)

    def _show_frame(self, r: FrameResult) -> None:
        self._last = r
        self.frames_shown += 1
        self.tile_clean.set_array(r.clean, "28×28")
        if r.empty:
            for tile in (self.tile_noisy, self.tile_recon, self.tile_diff):
                tile.set_array(None, " ", "")
            self.prediction.clear("Draw a digit" if self.inputs.currentIndex() == 0 else "No digit found in this image")
            self.inputs.describe_analysis(r.analysis)
            return
        psnr_noisy = float(metrics.psnr(r.clean, r.noisy)[0])
        self.tile_noisy.set_array(r.noisy, f"PSNR {psnr_noisy:.1f} dB" if psnr_noisy < 99 else "no noise")
        self.inputs.describe_analysis(r.analysis)
        if r.reconstruction is None:
            waiting = "Loading models…" if self._models is None else "No denoiser loaded"
            self.tile_recon.set_array(None, " ", waiting)
            self.tile_diff.set_array(None, " ", "")
            self.prediction.clear(waiting)
            return
        psnr = float(metrics.psnr(r.clean, r.reconstruction)[0])
        self.tile_recon.set_array(r.reconstruction, f"PSNR {psnr:.1f} dB")
        self.tile_diff.set_qimage(signed_to_qimage(r.reconstruction - r.clean), f"mean |Δ| {np.abs(r.reconstruction - r.clean).mean():.3f}")
        if r.probs_reconstruction is not None:
            self.prediction.show_probabilities(r.probs_noisy, r.probs_reconstruction)
            truth = self.inputs.test_label_value() if self.inputs.currentIndex() == 2 else None
            if truth is not None:
                self.prediction.caption.setText(f"Prediction (true label {truth})")
            else:
                self.prediction.caption.setText("Prediction")
        else:
            self.prediction.clear("No classifier loaded")
        self._frame_times.append(r.seconds)
        median = 1000 * float(np.median(self._frame_times))
        self.status_time.setText(f"inference {median:.1f} ms")
        self.status_time.setToolTip(f"Denoise + classify, median of the last {len(self._frame_times)} frames "
                                    f"(this one: {1000 * r.seconds:.1f} ms)")

    # models ------------------------------------------------------------------------------------

    def _worker_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 0 if text != "Ready" else 3000)

    def _models_loaded(self, info: ModelsInfo) -> None:
        names = lambda i: (i.denoiser and i.denoiser.name, i.classifier and i.classifier.name)  # noqa: E731
        if self._models is None or names(self._models) != names(info):
            self._frame_times.clear()  # the status bar's median is per pair of models
        self._models = info
        self.status_device.setText(f"Device: {info.device}")
        self.training.set_device(info.device)
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for e in info.denoisers:
            label = e.name + ("" if e.source == "bundled" else "  (yours)") + ("  (unusable)" if e.error else "")
            self.model_combo.addItem(label, e.name)
            self.model_combo.setItemData(self.model_combo.count() - 1, describe_entry(e), Qt.ItemDataRole.ToolTipRole)
            if e.error:
                self.model_combo.model().item(self.model_combo.count() - 1).setEnabled(False)
        if info.denoiser is not None:
            self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(info.denoiser.name)))
        self.model_combo.blockSignals(False)
        self.classifier_label.setText(f" Classifier: {info.classifier.name if info.classifier else 'none'} ")
        self.classifier_label.setToolTip(describe_entry(info.classifier))
        self.model_info.setText(f"<u>Denoiser</u><br>{describe_entry(info.denoiser)}<br><br>"
                                f"<u>Classifier</u><br>{describe_entry(info.classifier)}")
        names = f"{info.denoiser.name if info.denoiser else 'no denoiser'} + {info.classifier.name if info.classifier else 'no classifier'}"
        self.status_models.setText(names)
        if info.denoiser is None:
            self.statusBar().showMessage("No denoiser available: train one in the panel below.")
        self.schedule_update()

    def _model_chosen(self, index: int) -> None:
        name = self.model_combo.itemData(index)
        if name and (self._models is None or self._models.denoiser is None or name != self._models.denoiser.name):
            self.inference.load_models(name, self._models.classifier.name if self._models and self._models.classifier else None)

    def select_denoiser(self, name: str) -> None:
        classifier = self._models.classifier.name if self._models and self._models.classifier else None
        self.inference.load_models(name, classifier)

    def _run_job(self, fn, done) -> None:
        job_id = next(self._tokens)
        self._jobs[job_id] = done
        self.inference.run_job(job_id, fn)

    def _job_done(self, job_id: int, result) -> None:
        done = self._jobs.pop(job_id, None)
        if done is not None and result is not None:
            done(result)

    def load_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a model", str(Path.home()), "Keras models (*.keras)")
        if path:
            self.import_model(path)

    def import_model(self, path: str) -> None:
        self._run_job(lambda _p: self.store.import_file(path), lambda entry: (
            self.statusBar().showMessage(f"Added {entry.name} to your models", 5000),
            self.select_denoiser(entry.name) if entry.kind == "denoiser" else self.inference.load_models(
                self._models.denoiser.name if self._models and self._models.denoiser else None, entry.name)))

    def save_model_dialog(self) -> None:
        if not self._models or not self._models.denoiser:
            self.show_error("Save model", "No denoiser is loaded.")
            return
        entry = self._models.denoiser
        path, _ = QFileDialog.getSaveFileName(self, "Save model as", str(Path.home() / f"{entry.name}.keras"),
                                              "Keras models (*.keras)")
        if not path:
            return
        if not path.endswith(".keras"):
            path += ".keras"
        try:
            atomic.write_bytes(path, entry.path.read_bytes())
            json_path = entry.path.with_suffix(".json")
            if json_path.exists():
                atomic.write_bytes(Path(path).with_suffix(".json"), json_path.read_bytes())
        except (DenoiserError, OSError) as exc:
            self.show_error("Save model", str(exc))
            return
        self.statusBar().showMessage(f"Saved {entry.name} to {path}", 5000)

    def manage_models(self) -> None:
        from .models_dialog import ModelsDialog

        dialog = ModelsDialog(self.store, self)
        dialog.changed.connect(lambda: self.inference.load_models(
            self._models.denoiser.name if self._models and self._models.denoiser and self._models.denoiser.path.exists() else None))
        dialog.open()

    # files -------------------------------------------------------------------------------------

    def open_image_dialog(self) -> None:
        start = self.settings.value("files/last_dir", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", str(start),
                                              "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)")
        if path:
            self.settings.setValue("files/last_dir", str(Path(path).parent))
            self.open_image(path)

    def open_image(self, path: str) -> None:
        """Open an image file. It is read and decoded in a background thread (a slow disk, a
        huge file or a FIFO never blocks the window); ``image_opened(ok, path)`` tells the
        outcome. A newer open replaces one still being read."""
        self._open_token += 1
        token = self._open_token
        self.statusBar().showMessage(f"Opening {path}…")
        self._background.run(lambda: imageio.load_image(path),
                             lambda image, error: self._image_read(token, str(path), image, error), name="image-reader")

    def _image_read(self, token: int, path: str, image, error) -> None:
        if token != self._open_token or self._closing:
            return
        if error is not None:
            text = str(error) if isinstance(error, DenoiserError) else f"Cannot open {Path(path).name}: {error}"
            self.statusBar().clearMessage()
            self.show_error("Cannot open image", text)
            self.image_opened.emit(False, path)
            return
        self.inputs.set_image(image, path)
        self.statusBar().showMessage(f"Opened {path}", 4000)
        self.image_opened.emit(True, path)

    def paste_image(self) -> None:
        from PySide6.QtWidgets import QApplication

        mime = QApplication.clipboard().mimeData()
        if mime is not None and mime.hasUrls():
            local = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
            if local:
                self.open_image(local[0])
                return
        image = QApplication.clipboard().image()
        if image.isNull():
            self.show_error("Paste image", "The clipboard holds no image.")
            return
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        buffer.close()
        try:
            pil = imageio.image_from_bytes(bytes(data), "clipboard")
        except DenoiserError as exc:
            self.show_error("Paste image", str(exc))
            return
        self.inputs.set_image(pil, "clipboard image")

    def dragEnterEvent(self, event):
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event):
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            if files[0].endswith(".keras"):
                self.import_model(files[0])
            else:
                self.open_image(files[0])

    def save_reconstruction_dialog(self) -> None:
        if self._last is None or self._last.reconstruction is None:
            self.show_error("Save reconstruction", "There is no reconstruction yet: draw, open or pick a digit first.")
            return
        start = self.settings.value("files/last_dir", str(Path.home()))
        path, _ = QFileDialog.getSaveFileName(self, "Save reconstruction", str(Path(str(start)) / "reconstruction.png"),
                                              "PNG images (*.png)")
        if path:
            self.save_reconstruction(path)

    def save_reconstruction(self, path: str) -> bool:
        if not path.lower().endswith(".png"):
            path += ".png"
        try:
            imageio.save_png(path, self._last.reconstruction)
        except DenoiserError as exc:
            self.show_error("Save reconstruction", str(exc))
            return False
        self.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def export_figure_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export figure", str(Path.home() / "denoiser-figure.png"),
                                              "PNG images (*.png)")
        if path:
            self.export_figure(path)

    def export_figure(self, path: str) -> bool:
        try:
            path = save_widget_png(self.output, path)
        except DenoiserError as exc:
            self.show_error("Export figure", str(exc))
            return False
        self.statusBar().showMessage(f"Exported {path}", 4000)
        return True

    # sweep -------------------------------------------------------------------------------------

    def open_sweep(self) -> None:
        if self._last is None or self._last.empty:
            self.show_error("Noise sweep", "Draw, open or pick a digit first.")
            return
        from .sweep_dialog import SweepDialog

        dialog = SweepDialog(self)
        clean = self._last.clean.copy()
        self._run_job(lambda pipeline: SweepDialog.compute(pipeline, clean), dialog.show_result)
        dialog.show()

    # training ----------------------------------------------------------------------------------

    def is_training(self) -> bool:
        """True from Start until the result (model, cancel or failure) has been shown."""
        return self._training is not None

    def start_training(self, config, name: str = "") -> bool:
        if self.is_training():
            self.show_info("Training", "A training is already running. Cancel it or wait until it finishes.")
            return False
        try:
            thread = TrainingThread(config, self.store, name or None, parent=self)
        except DenoiserError as exc:
            self.show_error("Training", str(exc))
            return False
        thread.progress.connect(self.training.show_progress)
        thread.epoch.connect(self.training.show_epoch)
        thread.status.connect(self.training.show_status)
        thread.succeeded.connect(self._training_succeeded)
        thread.failed.connect(self._training_failed)
        self._training = thread
        self.training.training_started()
        self._training_started_at = time.perf_counter()
        thread.start()
        return True

    def cancel_training(self) -> None:
        if self._training is not None:
            self._training.cancel()

    def _training_succeeded(self, summary: dict, entry) -> None:
        self._release_training()
        if entry is None:
            self.training.training_finished("Cancelled before the first batch finished; nothing was saved.")
            return
        how = "Cancelled; kept" if summary["cancelled"] else "Finished;"
        best = f"best epoch {summary['best_epoch']}" if summary["best_epoch"] else "partial first epoch"
        done = f"{how} {best} saved as {entry.name}"
        self.training.training_finished(f"{done}. Measuring it on {MEASURE_LIMIT:,} test digits…")
        self.statusBar().showMessage(f"New model {entry.name} is ready", 8000)
        if entry.kind == "denoiser":
            self.select_denoiser(entry.name)
        else:
            self.inference.load_models(self._models.denoiser.name if self._models and self._models.denoiser else None,
                                       entry.name)
        self._measure(entry, lambda e: self.training.show_status(f"{done}: {describe_figures(e)}."))

    def _measure(self, entry, done) -> None:
        """Measure a model the inference thread has just loaded (it is queued after the load) and
        record the figures in its metadata; ``done(entry)`` gets the updated entry."""
        worker = self.inference

        def job(pipeline):
            from ..core import workflows

            info = worker.info
            held = info is not None and entry.name in {e.name for e in (info.denoiser, info.classifier) if e}
            if not held:
                return entry  # the load failed and has said so
            updated = workflows.measure_entry(self.store, entry, pipeline, info.classifier, MEASURE_LIMIT)
            worker.info = with_entry(info, updated)
            return updated

        def finished(updated):
            done(updated)
            if self._models is not None:
                self._models_loaded(with_entry(self._models, updated))

        self._run_job(job, finished)

    def _training_failed(self, message: str) -> None:
        self._release_training()
        self.training.training_finished(f"Training failed: {message}")
        if not self._closing:
            self.show_error("Training failed", message)

    def _release_training(self) -> None:
        """The result is in; the thread still waits for its process to exit (never block on that here)."""
        thread, self._training = self._training, None
        if thread is not None:
            self._ending_trainings.add(thread)
            thread.finished.connect(self._reap_trainings)  # a method of the window: runs on the GUI thread
            self._reap_trainings()

    def _reap_trainings(self) -> None:
        for thread in [t for t in self._ending_trainings if t.isFinished()]:
            self._ending_trainings.discard(thread)
            thread.deleteLater()

    # messages ----------------------------------------------------------------------------------

    def _message(self, icon, title: str, text: str) -> QMessageBox:
        box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _r, b=box: self.message_boxes.remove(b) if b in self.message_boxes else None)
        self.message_boxes.append(box)
        box.open()
        return box

    def show_error(self, title: str, text: str) -> QMessageBox:
        return self._message(QMessageBox.Icon.Warning, title, text)

    def show_info(self, title: str, text: str) -> QMessageBox:
        return self._message(QMessageBox.Icon.Information, title, text)

    def show_about(self) -> None:
        import platform

        from PySide6 import __version__ as pyside_version

        try:
            import pyqtgraph
            pg_version = pyqtgraph.__version__
        except ImportError:  # pragma: no cover
            pg_version = "?"
        device = self._models.device if self._models else "loading…"
        tf_version = "loading…"
        import sys

        if "tensorflow" in sys.modules:
            tf_version = sys.modules["tensorflow"].__version__
        QMessageBox.about(self, "About Desktop Denoiser", (
            f"<h3>Desktop Denoiser {__version__}</h3>"
            "<p>Clean noisy handwritten digits with denoising autoencoders, and train them yourself.</p>"
            f"<p>Device: {device}<br>TensorFlow {tf_version}, PySide6 {pyside_version}, pyqtgraph {pg_version}, "
            f"Python {platform.python_version()}</p>"
            f"<p>Models: {self.store.bundled_dir}<br>Your models: {self.store.user_dir}</p>"))

    # shutdown ----------------------------------------------------------------------------------

    def closeEvent(self, event):
        self._closing = True
        self.save_settings()
        if self.is_training():
            self.statusBar().showMessage("Stopping the training…")
            self._training.cancel()
            if not self._training.wait(120000):
                self._training.process.kill()
                self._training.wait()
        for thread in list(self._ending_trainings):
            thread.wait()
        self.inference.stop()
        super().closeEvent(event)
