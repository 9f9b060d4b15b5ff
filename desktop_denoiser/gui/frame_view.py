"""What the model sees and says about one frame: four image tiles over the prediction.

:class:`FrameView` shows a :class:`~desktop_denoiser.core.frame.Frame` (or nothing) and keeps
the median inference time of the last frames in :attr:`FrameView.time_label` (the window puts
that label in its status bar). It holds no other state of the window: what it cannot know (the
true label of a test digit, why there is no reconstruction) comes with each call.
"""

from __future__ import annotations

import collections
from typing import Optional

import numpy as np
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..core.frame import Frame
from .prediction_view import PredictionView
from .tiles import ImageTile, signed_to_qimage

FRAME_TIMES = 30  # the status bar shows the median inference time of the last frames


class FrameView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.tile_clean = ImageTile("Model input", "The digit as the model sees it: 28×28, light ink on dark, centred")
        self.tile_noisy = ImageTile("Noisy input", "The model input after the chosen noise")
        self.tile_recon = ImageTile("Reconstruction", "What the denoising autoencoder made of the noisy input")
        self.tile_diff = ImageTile("Difference", "Reconstruction minus clean input: red = ink lost, blue = ink added")
        self.prediction = PredictionView()
        self.time_label = QLabel(" ")
        self.frame_times: collections.deque = collections.deque(maxlen=FRAME_TIMES)  # seconds in the models
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        tiles = QHBoxLayout()
        for tile in self.tiles():
            tiles.addWidget(tile, 1)
        layout.addLayout(tiles, 3)
        layout.addWidget(self.prediction, 2)

    def tiles(self) -> tuple:
        return self.tile_clean, self.tile_noisy, self.tile_recon, self.tile_diff

    def set_diff_visible(self, visible: bool) -> None:
        self.tile_diff.setVisible(visible)

    def reset_times(self) -> None:
        """Forget the inference times (the median is per pair of models)."""
        self.frame_times.clear()

    def clear(self, message: str) -> None:
        """No input at all: empty tiles, ``message`` where the prediction would be."""
        self._blank(*self.tiles())
        self.prediction.clear(message)

    def show_frame(self, frame: Frame, truth: Optional[int] = None, empty: str = "No digit found",
                   no_model: str = "No denoiser loaded") -> None:
        """Show ``frame``. ``truth``: the true label of a test digit; ``empty``: what to say when
        the image holds no digit; ``no_model``: when there is no reconstruction."""
        self.tile_clean.set_array(frame.clean, "28×28")
        if frame.empty:
            self._blank(self.tile_noisy, self.tile_recon, self.tile_diff)
            self.prediction.clear(empty)
            return
        self.tile_noisy.set_array(frame.noisy, f"PSNR {frame.psnr_noisy:.1f} dB" if frame.noise_changed_it else "no noise")
        if frame.reconstruction is None:
            self.tile_recon.set_array(None, " ", no_model)
            self._blank(self.tile_diff)
            self.prediction.clear(no_model)
            return
        diff = frame.reconstruction - frame.clean
        self.tile_recon.set_array(frame.reconstruction, f"PSNR {frame.psnr:.1f} dB")
        self.tile_diff.set_qimage(signed_to_qimage(diff), f"mean |Δ| {np.abs(diff).mean():.3f}")
        if frame.probs_reconstruction is None:
            self.prediction.clear("No classifier loaded")
        else:
            self.prediction.show_probabilities(frame.probs_noisy, frame.probs_reconstruction)
            self.prediction.caption.setText("Prediction" if truth is None else f"Prediction (true label {truth})")
        self._time(frame.seconds)

    def _blank(self, *tiles) -> None:
        for tile in tiles:
            tile.set_array(None, " ", "")

    def _time(self, seconds: float) -> None:
        self.frame_times.append(seconds)
        median = 1000 * float(np.median(self.frame_times))
        self.time_label.setText(f"inference {median:.1f} ms")
        self.time_label.setToolTip(f"Denoise + classify, median of the last {len(self.frame_times)} frames "
                                   f"(this one: {1000 * seconds:.1f} ms)")
