"""The second article's figure, live: one digit at growing blur and noise, noisy over denoised."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..core import metrics, sweep
from ..core.errors import DenoiserError
from .tiles import PixelView, array_to_qimage, save_widget_png


@dataclasses.dataclass
class SweepResult:
    steps: list
    clean: np.ndarray
    noisy: np.ndarray  # (n, 28, 28)
    denoised: Optional[np.ndarray]
    digits: Optional[np.ndarray]  # predicted digit per denoised image


class SweepDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Noise sweep")
        self.result: Optional[SweepResult] = None
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Blur σ = 0.5·i and uniform noise ±0.4·i, as in the second article. "
                                "Top: noisy input. Bottom: the denoiser's output."))
        self.grid_widget = QWidget()
        self.grid = QGridLayout(self.grid_widget)
        self.grid.setSpacing(6)
        layout.addWidget(self.grid_widget, 1)
        self.status = QLabel("Computing…")
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_dialog)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.resize(760, 420)

    @staticmethod
    def compute(pipeline, clean: np.ndarray, count: int = 6) -> SweepResult:
        """Runs in the inference thread."""
        steps, noisy = sweep.sweep_rows(clean, count)
        denoised = digits = None
        if pipeline is not None and pipeline.denoiser is not None:
            denoised = pipeline.denoise(noisy)
            if pipeline.classifier is not None:
                digits = np.argmax(pipeline.classify(denoised), axis=1)
        return SweepResult(steps, clean, noisy, denoised, digits)

    def show_result(self, result: SweepResult) -> None:
        self.result = result
        self.grid.addWidget(QLabel("<b>noisy</b>"), 1, 0)
        self.grid.addWidget(QLabel("<b>denoised</b>"), 2, 0)
        for i, step in enumerate(result.steps):
            head = QLabel(f"i={step.index}<br>{step.label}")
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.grid.addWidget(head, 0, i + 1)
            top = PixelView(96)
            top.set_image(array_to_qimage(result.noisy[i]))
            top.setToolTip(f"PSNR {metrics.psnr(result.clean, result.noisy[i])[0]:.1f} dB")
            self.grid.addWidget(top, 1, i + 1)
            bottom = PixelView(96)
            if result.denoised is not None:
                bottom.set_image(array_to_qimage(result.denoised[i]))
                psnr = metrics.psnr(result.clean, result.denoised[i])[0]
                guess = f", predicted {result.digits[i]}" if result.digits is not None else ""
                bottom.setToolTip(f"PSNR {psnr:.1f} dB{guess}")
                caption = QLabel(f"{psnr:.1f} dB" + (f" · {result.digits[i]}" if result.digits is not None else ""))
                caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
                self.grid.addWidget(caption, 3, i + 1)
            else:
                bottom.set_image(None, "no model")
            self.grid.addWidget(bottom, 2, i + 1)
        self.status.setText("Under each denoised image: its PSNR and the digit the classifier reads.")
        self.export_button.setEnabled(True)

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export sweep", str(Path.home() / "noise-sweep.png"), "PNG images (*.png)")
        if path:
            self.export(path)

    def export(self, path: str) -> bool:
        try:
            path = save_widget_png(self.grid_widget, path)
        except DenoiserError as exc:
            self.status.setText(str(exc))
            return False
        self.status.setText(f"Exported {path}")
        return True
