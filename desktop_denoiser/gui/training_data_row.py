"""The training panel's data settings: MNIST or a folder of one's own digits, the MNIST share of
each batch, and (the classifier) whether to start from the bundled classifier or from scratch.

The widgets live in the panel's form (:meth:`TrainingDataRow.rows`); the folder chosen is read
off the GUI thread with the one reader (:func:`digit_folder.read_folder`) to show how many of its
images can be used, and the reader's problem lines are the label's tooltip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from ..core import models, training_data
from .background import Background

MNIST, FOLDER = "mnist", "folder"
SCRATCH, BUNDLED_CLASSIFIER = "", "classifier"  # the "Start from" choices: their TrainConfig.init
MAX_TOOLTIP_PROBLEMS = 15


class TrainingDataRow(QObject):
    """The data widgets of the training panel and the config fields they give (:meth:`fields`).

    ``lr``: the panel's learning-rate box; choosing to start from a trained model puts it at the
    fine-tuning default (a tenth) when it holds the architecture's default, and back."""

    folder_read = Signal(object, object)  # DigitFolder or None, error text or None: the label shows it

    def __init__(self, lr: QDoubleSpinBox, parent=None):
        super().__init__(parent)
        self.lr = lr
        self.kind = "denoiser"
        self.folder: Optional[str] = None
        self._reading: Optional[tuple] = None  # (folder, labelled) being read
        self._background = Background(self)
        self.source = QComboBox()
        self.source.addItem("MNIST", MNIST)
        self.source.addItem("A folder of my digits", FOLDER)
        self.source.setToolTip("Train on MNIST, or on a folder of your own digits (mixed with MNIST by the share below). "
                               "The classifier needs one subfolder per digit, 0/ to 9/; a denoiser takes any images.")
        self.choose = QPushButton("Choose…")
        self.choose.setToolTip("The folder of digit images to train on")
        self.folder_label = QLabel("no folder chosen")
        self.folder_label.setWordWrap(True)
        self.share = QSpinBox()
        self.share.setRange(0, 95)
        self.share.setSuffix(" %")
        self.share.setValue(int(round(100 * training_data.DEFAULT_MNIST_RATIO)))
        self.share.setToolTip("The share of MNIST digits in each batch; 0 %: the folder alone. A part of the folder "
                              "is held out (never trained on) and the model is measured on it.")
        self.start_from = QComboBox()
        self.start_from.addItem("scratch", SCRATCH)
        self.start_from.addItem("bundled classifier", BUNDLED_CLASSIFIER)
        self.start_from.setToolTip("Fine-tune the bundled classifier on your digits (with a tenth of the learning "
                                   "rate by default), or train a new one from scratch")
        self.choose.clicked.connect(self._choose_clicked)
        self.source.currentIndexChanged.connect(self._update)
        self.start_from.currentIndexChanged.connect(self._start_from_changed)
        self.folder_read.connect(self._show_folder)
        self._update()

    def rows(self) -> list[tuple[str, QWidget]]:
        """(label, widget) rows for the panel's form."""
        data = QWidget()
        line = QHBoxLayout(data)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.source)
        line.addWidget(self.choose)
        line.addWidget(self.folder_label, 1)
        return [("Data", data), ("MNIST share", self.share), ("Start from", self.start_from)]

    # state ---------------------------------------------------------------------------------------

    @property
    def uses_folder(self) -> bool:
        return self.source.currentData() == FOLDER

    def set_kind(self, kind: str) -> None:
        """The architecture's kind changed: a classifier reads the folder by digit, a denoiser all of it."""
        if kind == self.kind:
            return
        self.kind = kind
        self._update()
        if self.folder:
            self._read(self.folder)

    def set_folder(self, path: Optional[str]) -> None:
        """Train on the folder ``path`` (read in the background to show its count)."""
        self.folder = str(Path(path)) if path else None
        if self.folder:
            self.source.setCurrentIndex(self.source.findData(FOLDER))
            self._read(self.folder)
        else:
            self.folder_label.setText("no folder chosen")
            self.folder_label.setToolTip("")
        self._update()

    def fields(self) -> dict:
        """The TrainConfig fields: ``data``, ``mnist_ratio``, ``init``. A folder chosen as the source
        but not picked gives ``data=""``, which the config refuses with a message."""
        out: dict = {"data": None, "mnist_ratio": None, "init": None}
        if self.uses_folder:
            out["data"] = self.folder or ""
            out["mnist_ratio"] = self.share.value() / 100.0
        if self.kind == "classifier" and self.start_from.currentData():
            out["init"] = self.start_from.currentData()
        return out

    def _update(self) -> None:
        folder = self.uses_folder
        self.choose.setEnabled(folder)
        self.folder_label.setEnabled(folder)
        self.share.setEnabled(folder)
        self.start_from.setEnabled(self.kind == "classifier")
        if self.kind != "classifier":
            self.start_from.setToolTip("Denoisers train from scratch here (train --init fine-tunes one)")

    def _start_from_changed(self) -> None:
        arch_lr = models.get("classifier").learning_rate
        fine = arch_lr * training_data.FINE_TUNE_LR_FACTOR
        value = self.lr.value()
        if self.start_from.currentData() and abs(value - arch_lr) < 1e-12:
            self.lr.setValue(fine)
        elif not self.start_from.currentData() and abs(value - fine) < 1e-12:
            self.lr.setValue(arch_lr)

    # reading the folder --------------------------------------------------------------------------

    def _choose_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self.choose.window(), "Folder of digit images", self.folder or "")
        if path:
            self.set_folder(path)

    def _read(self, folder: str) -> None:
        from ..core.digit_folder import read_folder

        labelled = self.kind == "classifier"
        self._reading = (folder, labelled)
        self.folder_label.setText(f"{Path(folder).name or folder}: reading…")
        emit = self.folder_read.emit

        def done(result, error) -> None:
            if self._reading == (folder, labelled):  # not a folder chosen since
                emit(result, None if error is None else str(error))

        self._background.run(lambda: read_folder(folder, labelled=labelled), done, name="training-folder")

    def _show_folder(self, folder, error: Optional[str]) -> None:
        """The folder's name and count (a long path would widen the panel: the whole path is the tooltip's first line)."""
        name = Path(self.folder or "").name or str(self.folder)
        if error is not None:
            self.folder_label.setText(f"{name}: cannot be used (see the tooltip)")
            self.folder_label.setToolTip(f"{self.folder}\n{error}")
            return
        skipped = f", {len(folder.problems)} problems (see the tooltip)" if folder.problems else ""
        self.folder_label.setText(f"{name}: {len(folder)} images{skipped}")
        lines = folder.problems[:MAX_TOOLTIP_PROBLEMS]
        more = len(folder.problems) - len(lines)
        self.folder_label.setToolTip("\n".join([str(folder.root), *lines, *([f"… and {more} more"] if more > 0 else [])]))

    # persistence ---------------------------------------------------------------------------------

    def save_settings(self, settings) -> None:
        settings.setValue("training/data_source", self.source.currentData())
        settings.setValue("training/data_folder", self.folder or "")
        settings.setValue("training/mnist_share", self.share.value())
        settings.setValue("training/start_from", self.start_from.currentData())

    def restore_settings(self, settings) -> None:
        folder = str(settings.value("training/data_folder", "") or "")
        if folder and Path(folder).is_dir():
            self.set_folder(folder)
        i = self.source.findData(settings.value("training/data_source", MNIST))
        self.source.setCurrentIndex(max(i, 0))
        share = settings.value("training/mnist_share")
        if share is not None:
            self.share.setValue(int(share))
        i = self.start_from.findData(str(settings.value("training/start_from", SCRATCH) or ""))
        self.start_from.blockSignals(True)  # the learning rate restored is kept as it was saved
        self.start_from.setCurrentIndex(max(i, 0))
        self.start_from.blockSignals(False)
