"""Noise controls: kind, its parameters (built from the core's table), seed and "new noise"."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QPushButton, QSpinBox,
                               QWidget)

from ..core.noise import DESCRIPTIONS, KINDS, NoiseSpec

LABELS = {
    "level": "Level", "sigma_max": "Max blur σ", "r_max": "Max noise ±r", "sigma": "σ",
    "amount": "Amount", "blocks": "Blocks", "size": "Max size (px)",
}


class NoisePanel(QWidget):
    """Emits ``changed`` whenever the noise or the seed changes."""

    changed = Signal()

    def __init__(self, kinds=None, with_seed: bool = True, parent=None):
        super().__init__(parent)
        self._kinds = list(kinds or [k for k in KINDS if k != "mixed"])
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.kind = QComboBox()
        for k in self._kinds:
            self.kind.addItem(k, k)
            self.kind.setItemData(self.kind.count() - 1, DESCRIPTIONS[k], Qt.ItemDataRole.ToolTipRole)
        self.kind.setToolTip("How the clean digit is corrupted before the denoiser sees it")
        self.form.addRow("Type", self.kind)
        self._params: dict[str, QDoubleSpinBox | QSpinBox] = {}
        self._values: dict[tuple[str, str], float] = {}
        self.seed = None
        if with_seed:
            row = QHBoxLayout()
            self.seed = QSpinBox()
            self.seed.setRange(0, 999_999)
            self.seed.setToolTip("The noise's random seed: the same seed gives the same noise")
            self.new_noise = QPushButton("New noise")
            self.new_noise.setToolTip("Draw a fresh noise sample (next seed)")
            self.new_noise.clicked.connect(lambda: self.seed.setValue((self.seed.value() + 1) % 1_000_000))
            row.addWidget(self.seed, 1)
            row.addWidget(self.new_noise)
            self.form.addRow("Seed", row)
            self.seed.valueChanged.connect(self.changed)
        self.kind.currentIndexChanged.connect(self._rebuild)
        self._rebuild()

    def _rebuild(self) -> None:
        for name, box in list(self._params.items()):
            self._values[(self._current_kind_of(box), name)] = box.value()
            self.form.removeRow(box)
        self._params.clear()
        kind = self.kind.currentData()
        for i, (name, (default, lo, hi)) in enumerate(KINDS[kind].items()):
            integer = name in ("blocks", "size")
            box = QSpinBox() if integer else QDoubleSpinBox()
            box.setRange(int(lo) if integer else lo, int(hi) if integer else hi)
            if not integer:
                box.setDecimals(2)
                box.setSingleStep(0.05)
            box.setValue(self._values.get((kind, name), default))
            box.setProperty("noise_kind", kind)
            box.setKeyboardTracking(False)
            box.valueChanged.connect(self.changed)
            self.form.insertRow(1 + i, LABELS.get(name, name), box)
            self._params[name] = box
        self.changed.emit()

    @staticmethod
    def _current_kind_of(box) -> str:
        return box.property("noise_kind")

    def spec(self) -> NoiseSpec:
        return NoiseSpec(self.kind.currentData(), {n: b.value() for n, b in self._params.items()})

    def seed_value(self) -> int:
        return self.seed.value() if self.seed is not None else 0

    def set_spec(self, spec: NoiseSpec) -> None:
        index = self.kind.findData(spec.kind)
        if index < 0:
            return
        for name, value in spec.params.items():
            self._values[(spec.kind, name)] = value
        if index == self.kind.currentIndex():
            for name, value in spec.params.items():
                if name in self._params:
                    self._params[name].setValue(value)
        else:
            self.kind.setCurrentIndex(index)
