"""Which models the window uses, and picking another denoiser.

:class:`ModelPicker` makes the widgets that show the loaded models (the denoiser selector and
the classifier's name for the toolbar, the description for the side panel, the pair's names for
the status bar) and fills them from a :class:`~.workers.ModelsInfo`. The window places them.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QLabel

from .descriptions import describe_entry
from .workers import ModelsInfo


class ModelPicker(QObject):
    denoiser_chosen = Signal(str)  # a person picked another denoiser (its name)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setMinimumContentsLength(24)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setToolTip("The denoising autoencoder in use")
        self.combo.activated.connect(self._chosen)
        self.classifier = QLabel(" Classifier: loading… ")
        self.info = QLabel("Loading models…")
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.info.setMinimumWidth(240)
        self.status = QLabel(" ")
        self._denoiser: Optional[str] = None

    @staticmethod
    def names(info: ModelsInfo) -> tuple:
        """The names of the denoiser and the classifier in use (None for a missing one)."""
        return (info.denoiser.name if info.denoiser else None, info.classifier.name if info.classifier else None)

    def show(self, info: ModelsInfo) -> None:
        self._denoiser, classifier = self.names(info)
        self.combo.blockSignals(True)
        self.combo.clear()
        for e in info.denoisers:
            label = e.name + ("" if e.source == "bundled" else "  (yours)") + ("  (unusable)" if e.error else "")
            self.combo.addItem(label, e.name)
            self.combo.setItemData(self.combo.count() - 1, describe_entry(e), Qt.ItemDataRole.ToolTipRole)
            if e.error:
                self.combo.model().item(self.combo.count() - 1).setEnabled(False)
        if self._denoiser is not None:
            self.combo.setCurrentIndex(max(0, self.combo.findData(self._denoiser)))
        self.combo.blockSignals(False)
        self.classifier.setText(f" Classifier: {classifier or 'none'} ")
        self.classifier.setToolTip(describe_entry(info.classifier))
        self.info.setText(f"<u>Denoiser</u><br>{describe_entry(info.denoiser)}<br><br>"
                          f"<u>Classifier</u><br>{describe_entry(info.classifier)}")
        self.status.setText(f"{self._denoiser or 'no denoiser'} + {classifier or 'no classifier'}")

    def _chosen(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name and name != self._denoiser:
            self.denoiser_chosen.emit(name)
