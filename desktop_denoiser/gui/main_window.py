"""The main window: inputs on the left, what the model sees and says on the right, training below.

The window lays its parts out and wires them; each job lives in its own module:

* :class:`~.frame_view.FrameView` shows each frame (tiles, prediction, inference time). Every
  frame shown is then emitted as :attr:`MainWindow.frame_shown` (a ``core.frame.Frame``): a new
  view subscribes there, ``window.frame_shown.connect(view.show_frame)``.
* :class:`~.model_picker.ModelPicker` shows which models are in use and lets a person pick one.
* :class:`~.training_control.TrainingControl` starts and cancels trainings, shows how they end
  (a ``core.training_end.TrainingEnd``) and measures the new model.
* :class:`~.image_files.ImageFiles` and :class:`~.model_files.ModelFiles` read and write image
  and model files; :mod:`.menus` is the menu bar; :mod:`.descriptions` describes a model.
"""

from __future__ import annotations

import itertools
from typing import Optional

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QDockWidget, QGridLayout, QGroupBox, QLabel, QMainWindow,
                               QMessageBox, QSplitter, QToolBar, QVBoxLayout, QWidget)

from ..core import paths
from ..core.errors import DenoiserError
from ..core.frame import Frame
from ..core.store import ModelStore
from ..core.training_end import TrainingEnd
from . import about, menus
from .frame_view import FrameView
from .image_files import ImageFiles, dropped_files
from .input_panel import DRAW, IMAGE, TEST, InputPanel
from .model_files import ModelFiles
from .model_picker import ModelPicker
from .noise_panel import NoisePanel
from .training_control import TrainingControl
from .training_panel import TrainingPanel
from .workers import FrameRequest, InferenceWorker, ModelsInfo, TrainingThread, with_entry

APP_TITLE = "Desktop Denoiser"
FRAME_MS = 16  # throttle live updates to about one per screen frame


def settings_for_user() -> QSettings:
    path = paths.user_data_dir() / "settings.ini"
    return QSettings(str(path), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    image_opened = Signal(bool, str)  # read and shown (or refused), path
    frame_shown = Signal(object)  # core.frame.Frame: after the frame view has shown it (the hook for more views)

    def __init__(self, store: Optional[ModelStore] = None, settings: Optional[QSettings] = None, load_models: bool = True):
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.store = store or ModelStore()
        self.settings = settings or settings_for_user()
        self._tokens = itertools.count(1)
        self._jobs: dict[int, object] = {}
        self._last: Optional[Frame] = None  # the frame shown (None: no input)
        self._models: Optional[ModelsInfo] = None
        self._closing = False
        self.message_boxes: list[QMessageBox] = []
        self.frames_shown = 0

        self.inference = InferenceWorker(self.store)
        self.inference.frame_ready.connect(self._show_frame)
        self.inference.models_ready.connect(self._models_loaded)
        self.inference.failed.connect(lambda msg: self.show_error("Desktop Denoiser", msg))
        self.inference.status.connect(self._worker_status)
        self.inference.job_done.connect(self._job_done)

        self._build_ui()
        self.files = ImageFiles(self, self.inputs, self.settings)
        self.files.opened.connect(self.image_opened)
        self.model_files = ModelFiles(self, self.store, self._run_job)
        self.model_files.added.connect(self._use_model)
        self.model_files.changed.connect(self._reload_models)
        menus.build(self)
        self._restore_settings()
        self.training_control = TrainingControl(self.store, self.training, self.inference, self._run_job, parent=self)
        self.training_control.ended.connect(self._training_ended)
        self.training_control.measured.connect(self._model_measured)
        self.runs_dock.follow(self.training_control)
        self.training_control.sweep_ended.connect(self._sweep_ended)
        self.sweep_window = None  # Model › Training sweep…, made when first opened
        self.folder_view = None  # File › Open folder…, made when first used
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
        self.models = ModelPicker(self)
        self.models.denoiser_chosen.connect(self.select_denoiser)
        self.model_combo, self.classifier_label, self.model_info = self.models.combo, self.models.classifier, self.models.info
        bar = QToolBar("Models")
        bar.setObjectName("models_toolbar")
        bar.setMovable(False)
        bar.addWidget(QLabel(" Denoiser: "))
        bar.addWidget(self.model_combo)
        bar.addSeparator()
        bar.addWidget(self.classifier_label)
        self.addToolBar(bar)

        self.inputs = InputPanel()
        self.frame_view = FrameView()
        view = self.frame_view
        self.tile_clean, self.tile_noisy, self.tile_recon, self.tile_diff = view.tiles()
        self.prediction, self.status_time = view.prediction, view.time_label
        self.output = QWidget()  # the frame and the side column: what Export figure saves
        grid = QGridLayout(self.output)
        grid.setContentsMargins(6, 6, 6, 6)
        grid.addWidget(view, 0, 0)
        grid.addLayout(self._build_side(), 0, 1)
        grid.setColumnStretch(0, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.inputs)
        self.splitter.addWidget(self.output)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)
        self._build_training_dock()
        from .lab.dock import LabDock  # hidden until View › Autoencoder lab; costs nothing then

        self.lab_dock = LabDock(self)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)  # the lab: full height
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.lab_dock)
        from .runs.dock import RunsDock  # hidden until View › Runs; reads nothing then

        self.runs_dock = RunsDock(self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.runs_dock)
        self.tabifyDockWidget(self.training_dock, self.runs_dock)  # a tab beside "Train a model"

        sb = self.statusBar()
        self.status_device = QLabel("Device: loading TensorFlow…")
        self.status_models = self.models.status
        for label in (self.status_device, self.status_models, self.status_time):
            sb.addPermanentWidget(label)
        sb.showMessage("Starting…")

    def _build_side(self) -> QVBoxLayout:
        side = QVBoxLayout()
        noise_box = QGroupBox("Noise")
        nb = QVBoxLayout(noise_box)
        self.noise = NoisePanel()
        nb.addWidget(self.noise)
        self.show_diff = QCheckBox("Show difference tile")
        self.show_diff.toggled.connect(self.frame_view.set_diff_visible)
        nb.addWidget(self.show_diff)
        side.addWidget(noise_box)
        model_box = QGroupBox("Models")
        QVBoxLayout(model_box).addWidget(self.model_info)
        side.addWidget(model_box, 1)
        return side

    def _build_training_dock(self) -> None:
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

    # settings ----------------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        from ..core.errors import ConfigError
        from ..core.noise import NoiseSpec

        s = self.settings
        geometry, state, sizes = s.value("window/geometry"), s.value("window/state"), s.value("window/splitter")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 860)
        if state is not None:
            self.restoreState(state)
        if sizes:
            self.splitter.setSizes([int(x) for x in sizes])
        self.show_diff.setChecked(s.value("view/diff", False, type=bool))
        self.frame_view.set_diff_visible(self.show_diff.isChecked())
        try:
            self.noise.set_spec(NoiseSpec.parse(str(s.value("noise/spec", "uniform:level=0.5"))))
        except ConfigError:
            pass
        self.noise.seed.setValue(int(s.value("noise/seed", 0)))
        self.inputs.brush.setValue(int(s.value("canvas/brush", 18)))
        self._saved_denoiser = str(s.value("models/denoiser", "") or "")
        self.training.restore_settings(s)
        self.lab_dock.restore_settings(s)

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
        self.lab_dock.save_settings(s)
        s.sync()

    # live frames -------------------------------------------------------------------------------

    def schedule_update(self) -> None:
        """Ask for a new frame; requests are merged to at most one per screen frame."""
        if not self._timer.isActive():
            self._timer.start()

    def _send_frame(self) -> None:
        payload = self.inputs.payload()
        if payload is None:
            self._last = None
            self.frame_view.clear("Open an image (Ctrl+O), drop one here, or paste one (Ctrl+V)"
                                  if self.inputs.currentIndex() == IMAGE else " ")
            return
        kind, value = payload
        request = FrameRequest(next(self._tokens), self.noise.spec(), self.noise.seed_value(),
                               raw=value if kind == "raw" else None, ready28=value if kind == "ready28" else None)
        self.inference.submit(request)

    def _show_frame(self, frame: Frame) -> None:
        """The one path of a computed frame: the inputs' analysis line, the frame view, then ``frame_shown``."""
        self._last = frame
        self.frames_shown += 1
        tab = self.inputs.currentIndex()
        self.inputs.describe_analysis(frame.analysis)
        self.frame_view.show_frame(frame, truth=self.inputs.test_label_value() if tab == TEST else None,
                                   empty="Draw a digit" if tab == DRAW else "No digit found in this image",
                                   no_model="Loading models…" if self._models is None else "No denoiser loaded")
        self.frame_shown.emit(frame)

    # models ------------------------------------------------------------------------------------

    def _worker_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 0 if text != "Ready" else 3000)

    def _models_loaded(self, info: ModelsInfo) -> None:
        if self._names() != ModelPicker.names(info):
            self.frame_view.reset_times()  # the status bar's median is per pair of models
        self._models = info
        self.status_device.setText(f"Device: {info.device}")
        self.training.set_device(info.device)
        self.models.show(info)
        if info.denoiser is None:
            self.statusBar().showMessage("No denoiser available: train one in the panel below.")
        self.schedule_update()

    def _names(self) -> tuple:
        """The names of the denoiser and the classifier in use (None: none, or not loaded yet)."""
        return ModelPicker.names(self._models) if self._models else (None, None)

    def select_denoiser(self, name: str) -> None:
        self.inference.load_models(name, self._names()[1])

    def _use_model(self, entry) -> None:
        """Load a model that was just added (trained or imported) in place of the one of its kind."""
        denoiser, classifier = self._names()
        if entry.kind == "denoiser":
            denoiser = entry.name
        else:
            classifier = entry.name
        self.inference.load_models(denoiser, classifier)

    use_model = _use_model  # public: the Runs view opens a run's model

    def _run_job(self, fn, done) -> None:
        job_id = next(self._tokens)
        self._jobs[job_id] = done
        self.inference.run_job(job_id, fn)

    run_job = _run_job  # public: ``fn(pipeline)`` in the inference thread, then ``done(result)`` here
    model_names = _names  # public: (denoiser, classifier) names in use

    def show_digit(self, digit, name: str) -> None:
        """Use a (28, 28) digit in [0, 1] (one the lab decoded) as the input, shown on the Image tab."""
        self.inputs.set_digit(digit, name)

    def _job_done(self, job_id: int, result) -> None:
        done = self._jobs.pop(job_id, None)
        if done is not None and result is not None:
            done(result)

    def import_model(self, path: str) -> None:
        self.model_files.import_file(path)

    def manage_models(self) -> None:
        self.model_files.manage()

    def _reload_models(self) -> None:
        """After models were deleted: the active denoiser may be gone (then the default comes)."""
        d = self._models.denoiser if self._models else None
        self.inference.load_models(d.name if d is not None and d.path.exists() else None)

    # files -------------------------------------------------------------------------------------

    def open_folder_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path = QFileDialog.getExistingDirectory(self, "Open a folder of your own digits (0/ to 9/)",
                                                str(self.settings.value("files/last_folder", "")))
        if path:
            self.settings.setValue("files/last_folder", path)
            self.open_folder(path)

    def open_folder(self, path: str):
        """Read and evaluate a labelled folder of digits in the folder view (made when first used); returns the view."""
        if self.folder_view is None:
            from .folder_view import FolderView

            self.folder_view = FolderView(self)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.folder_view)
            self.resizeDocks([self.folder_view], [620], Qt.Orientation.Horizontal)
        self.folder_view.show()
        self.folder_view.raise_()
        self.folder_view.open_folder(path)
        return self.folder_view

    def open_image_dialog(self) -> None:
        self.files.open_dialog()

    def open_image(self, path: str) -> None:
        """Open an image file, read in a background thread; ``image_opened(ok, path)`` tells the outcome."""
        self.files.open(path)

    def paste_image(self) -> None:
        self.files.paste()

    def dragEnterEvent(self, event):
        if dropped_files(event):
            event.acceptProposedAction()

    def dropEvent(self, event):
        files = dropped_files(event)
        if files:
            event.acceptProposedAction()
            (self.import_model if files[0].endswith(".keras") else self.open_image)(files[0])

    def save_reconstruction_dialog(self) -> None:
        if self._last is None or self._last.reconstruction is None:
            self.show_error("Save reconstruction", "There is no reconstruction yet: draw, open or pick a digit first.")
            return
        self.files.save_png_dialog(self._last.reconstruction)

    def save_reconstruction(self, path: str) -> bool:
        return self.files.save_png(path, self._last.reconstruction)

    def export_figure(self, path: str) -> bool:
        return self.files.export(self.output, path)

    # sweep -------------------------------------------------------------------------------------

    def open_sweep(self) -> None:
        if self._last is None or self._last.empty:
            self.show_error("Noise sweep", "Draw, open or pick a digit first.")
            return
        from .noise_sweep_dialog import SweepDialog

        dialog = SweepDialog(self)
        clean = self._last.clean.copy()
        self._run_job(lambda pipeline: SweepDialog.compute(pipeline, clean), dialog.show_result)
        dialog.show()

    # training ----------------------------------------------------------------------------------

    @property
    def _training(self) -> Optional[TrainingThread]:
        """The running training's thread (None when there is none)."""
        return self.training_control.thread

    def is_training(self) -> bool:
        """True from Start until the end (model, cancel or failure) has been shown."""
        return self.training_control.is_training()

    def start_training(self, config, name: str = "") -> bool:
        if self.is_training():
            self.show_info("Training", "A training is already running. Cancel it or wait until it finishes.")
            return False
        try:
            self.training_control.start(config, name or None)
        except DenoiserError as exc:
            self.show_error("Training", str(exc))
            return False
        return True

    def cancel_training(self) -> None:
        self.training_control.cancel()

    def _training_ended(self, end: TrainingEnd) -> None:
        if self._closing:
            return
        if end.failed:
            self.show_error("Training failed", end.message)
        elif end.entry is not None:
            self.statusBar().showMessage(f"New model {end.entry.name} is ready", 8000)
            self._use_model(end.entry)  # queued in the inference thread before the measurement, which needs it
            self.training_control.measure(end.entry)

    def open_training_sweep(self):
        from .sweep_window import SweepWindow

        if self.sweep_window is None:
            self.sweep_window = SweepWindow(self)
        else:
            self.sweep_window.refresh_base()
        self.sweep_window.show()
        self.sweep_window.raise_()
        return self.sweep_window

    def _sweep_ended(self, end) -> None:
        if self._closing:
            return
        if end.status == "failed":
            self.show_error("Sweep failed", end.message)
        self.statusBar().showMessage(end.describe(), 8000)
        self._reload_models()  # its models are in the store now

    def _model_measured(self, figures, entry) -> None:
        if self._models is not None:
            self._models_loaded(with_entry(self._models, entry))

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
        QMessageBox.about(self, "About Desktop Denoiser", about.text(self._models.device if self._models else None, self.store))

    # shutdown ----------------------------------------------------------------------------------

    def closeEvent(self, event):
        self._closing = True
        self.files.active = False
        self.save_settings()
        if self.is_training():
            self.statusBar().showMessage("Stopping the training…")
        self.training_control.shutdown()
        self.inference.stop()
        super().closeEvent(event)
