"""The predicted digit, large, and the ten class probabilities for noisy vs reconstructed input."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

NOISY_COLOUR = (150, 150, 150)
CLEAN_COLOUR = (52, 132, 228)


class PredictionView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        left = QVBoxLayout()
        self.caption = QLabel("Prediction")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.digit = QLabel("–")
        font = QFont(self.font())
        font.setPointSize(56)
        font.setBold(True)
        self.digit.setFont(font)
        self.digit.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.digit.setMinimumWidth(110)
        self.confidence = QLabel(" ")
        self.confidence.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.noisy_guess = QLabel(" ")
        self.noisy_guess.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.noisy_guess.setToolTip("What the classifier says about the noisy input, without denoising")
        left.addWidget(self.caption)
        left.addWidget(self.digit, 1)
        left.addWidget(self.confidence)
        left.addWidget(self.noisy_guess)
        layout.addLayout(left)

        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setYRange(0, 1.28, padding=0)  # headroom above 1 for the legend
        self.plot.getAxis("left").setTicks([[(v, f"{v:.1f}") for v in (0, 0.2, 0.4, 0.6, 0.8, 1.0)]])
        self.plot.setXRange(-0.6, 9.6, padding=0)
        self.plot.setLabel("left", "probability")
        axis = self.plot.getAxis("bottom")
        axis.setTicks([[(i, str(i)) for i in range(10)]])
        self.plot.setMinimumHeight(150)
        legend = self.plot.addLegend(offset=(6, 2), labelTextSize="8pt", colCount=2)
        self.noisy_bars = pg.BarGraphItem(x=np.arange(10) - 0.2, height=np.zeros(10), width=0.38,
                                          brush=pg.mkBrush(*NOISY_COLOUR), pen=pg.mkPen(None))
        self.clean_bars = pg.BarGraphItem(x=np.arange(10) + 0.2, height=np.zeros(10), width=0.38,
                                          brush=pg.mkBrush(*CLEAN_COLOUR), pen=pg.mkPen(None))
        self.plot.addItem(self.noisy_bars)
        self.plot.addItem(self.clean_bars)
        legend.addItem(self.noisy_bars, "noisy input")
        legend.addItem(self.clean_bars, "reconstruction")
        self.legend = legend
        layout.addWidget(self.plot, 1)
        self.clear("Draw, open or pick a digit")

    def clear(self, message: str = " ") -> None:
        self.digit.setText("–")
        self.confidence.setText(message)
        self.noisy_guess.setText(" ")
        self.noisy_bars.setOpts(height=np.zeros(10))
        self.clean_bars.setOpts(height=np.zeros(10))
        self.current: Optional[int] = None

    def show_probabilities(self, probs_noisy: np.ndarray, probs_clean: np.ndarray) -> None:
        digit = int(np.argmax(probs_clean))
        self.current = digit
        self.digit.setText(str(digit))
        self.confidence.setText(f"{100 * float(probs_clean[digit]):.1f}% confident")
        n = int(np.argmax(probs_noisy))
        self.noisy_guess.setText(f"noisy input alone: {n} ({100 * float(probs_noisy[n]):.0f}%)")
        self.noisy_bars.setOpts(height=np.asarray(probs_noisy, float))
        self.clean_bars.setOpts(height=np.asarray(probs_clean, float))
