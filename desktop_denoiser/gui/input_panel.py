"""Where the digit comes from: the drawing canvas, an image file, or an MNIST test digit."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QSpinBox, QTabWidget,
                               QVBoxLayout, QWidget)

from .background import Background
from .canvas import DrawingCanvas
from .tiles import array_to_qimage

DRAW, IMAGE, TEST = 0, 1, 2


def pil_to_qimage(image: Image.Image) -> QImage:
    rgba = image.convert("RGBA")
    data = rgba.tobytes("raw", "RGBA")
    return QImage(data, rgba.width, rgba.height, 4 * rgba.width, QImage.Format.Format_RGBA8888).copy()


class InputPanel(QTabWidget):
    """Emits ``changed`` whenever the digit the model should see changes (or the tab does)."""

    changed = Signal()
    open_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self._image: Optional[Image.Image] = None
        self._image_path: Optional[str] = None
        self._digit: Optional[np.ndarray] = None  # a (28, 28) digit shown as it is (set_digit)
        self._mnist = None
        self._mnist_error: Optional[str] = None
        self._loading = False
        self._want_random = False
        self._background = Background(self)
        self.addTab(self._build_draw_tab(), "Draw")
        self.addTab(self._build_image_tab(), "Image")
        self.addTab(self._build_test_tab(), "Test digits")
        self.currentChanged.connect(self._tab_changed)

    # tabs --------------------------------------------------------------------------------------

    def _build_draw_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        self.canvas = DrawingCanvas()
        layout.addWidget(self.canvas, 0, Qt.AlignmentFlag.AlignHCenter)
        brush_row = QHBoxLayout()
        brush_row.addWidget(QLabel("Brush"))
        self.brush = QSlider(Qt.Orientation.Horizontal)
        self.brush.setRange(4, 48)
        self.brush.setValue(18)
        self.brush.setToolTip("Brush width in canvas pixels")
        self.brush_value = QLabel("18 px")
        self.brush.valueChanged.connect(lambda v: (self.canvas.set_brush(v), self.brush_value.setText(f"{v} px")))
        brush_row.addWidget(self.brush, 1)
        brush_row.addWidget(self.brush_value)
        layout.addLayout(brush_row)
        buttons = QHBoxLayout()
        self.undo_button = QPushButton("Undo")
        self.undo_button.setToolTip(f"Undo the last stroke ({QKeySequence(QKeySequence.StandardKey.Undo).toString()}, or right-click)")
        self.redo_button = QPushButton("Redo")
        self.redo_button.setToolTip(f"Redo ({QKeySequence('Ctrl+Shift+Z').toString()})")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Erase the canvas (Delete)")
        for b in (self.undo_button, self.redo_button, self.clear_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.undo_button.clicked.connect(self.canvas.undo)
        self.redo_button.clicked.connect(self.canvas.redo)
        self.clear_button.clicked.connect(self.canvas.clear)
        self.canvas.history_changed.connect(self._history)
        self.canvas.changed.connect(self.changed)
        self._history(False, False)
        return tab

    def _history(self, can_undo: bool, can_redo: bool) -> None:
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(can_redo)
        self.clear_button.setEnabled(can_undo)

    def _build_image_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Open a PNG, JPEG or BMP (Ctrl+O); you can also drop a file on the window or paste (Ctrl+V)")
        self.open_button.clicked.connect(self.open_requested)
        layout.addWidget(self.open_button)
        self.original = QLabel("No image yet.\n\nOpen a file, drop one on the window,\nor paste an image (Ctrl+V).")
        self.original.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.original.setMinimumSize(240, 240)
        self.original.setFrameShape(QLabel.Shape.StyledPanel)
        layout.addWidget(self.original, 1)
        self.image_info = QLabel(" ")
        self.image_info.setWordWrap(True)
        layout.addWidget(self.image_info)
        return tab

    def _build_test_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        row = QHBoxLayout()
        row.addWidget(QLabel("Test digit #"))
        self.test_index = QSpinBox()
        self.test_index.setRange(0, 9999)
        self.test_index.setToolTip("Index in the MNIST test set (10,000 digits)")
        row.addWidget(self.test_index, 1)
        self.random_button = QPushButton("Random")
        row.addWidget(self.random_button)
        layout.addLayout(row)
        self.test_label = QLabel(" ")
        self.test_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.test_label.setWordWrap(True)
        layout.addWidget(self.test_label)
        layout.addStretch(1)
        self.test_index.valueChanged.connect(self._test_changed)
        self.random_button.clicked.connect(self.random_test_digit)
        self._rng = np.random.default_rng()
        return tab

    # data --------------------------------------------------------------------------------------

    def _tab_changed(self, index: int) -> None:
        if index == TEST:
            self._ensure_mnist()
            self._test_changed()
        self.changed.emit()

    def _ensure_mnist(self) -> bool:
        """True when the test digits are here; else start loading them in a thread (the file is
        11 MB, and without one Keras's download is tried, which can take long or fail)."""
        if self._mnist is not None:
            return True
        if not self._loading and self._mnist_error is None:
            self._loading = True
            self.test_label.setText("Loading the MNIST test digits…")
            self.test_index.setEnabled(False)
            self.random_button.setEnabled(False)
            from ..core import data

            self._background.run(data.load_mnist, self._mnist_loaded, name="mnist-loader")
        return False

    def _mnist_loaded(self, mnist, error) -> None:
        """The outcome of ``data.load_mnist``, run in the background by :meth:`_ensure_mnist`."""
        from ..core.errors import DatasetError

        self._loading = False
        if error is not None:
            self._mnist_error = str(error) if isinstance(error, DatasetError) else f"MNIST could not be loaded: {error}"
            self.test_label.setText(self._mnist_error)
            return
        self._mnist = mnist
        self.test_index.setEnabled(True)
        self.random_button.setEnabled(True)
        if self._want_random:
            self._want_random = False
            self.random_test_digit()
        self._test_changed()

    def _test_changed(self) -> None:
        if self._mnist is None:
            return
        label = int(self._mnist.y_test[self.test_index.value()])
        self.test_label.setText(f"True label: <b>{label}</b>")
        if self.currentIndex() == TEST:
            self.changed.emit()

    def random_test_digit(self) -> None:
        if self._ensure_mnist():
            self.test_index.setValue(int(self._rng.integers(0, len(self._mnist.x_test))))
        else:
            self._want_random = True

    def test_label_value(self) -> Optional[int]:
        if self._mnist is None:
            return None
        return int(self._mnist.y_test[self.test_index.value()])

    def set_image(self, image: Image.Image, name: str) -> None:
        """Show a loaded image (from a file, a drop or the clipboard) and switch to its tab."""
        self._image = image
        self._image_path = name
        self._digit = None
        pix = QPixmap.fromImage(pil_to_qimage(image))
        self.original.setPixmap(pix.scaled(self.original.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))
        self.image_info.setText(f"{Path(name).name} — {image.width}×{image.height}, mode {image.mode}")
        self._show_image_tab()

    def set_digit(self, digit: np.ndarray, name: str) -> None:
        """Use a (28, 28) digit in [0, 1] (one the lab decoded) as the input, on the Image tab:
        the model sees it as it is, with no preprocessing."""
        self._digit = np.clip(np.asarray(digit, np.float32).reshape(28, 28), 0.0, 1.0).copy()
        self._image, self._image_path = None, None
        side = 28 * 8  # whole pixels, within the label's minimum size (its size is stale while the tab is hidden)
        self.original.setPixmap(QPixmap.fromImage(array_to_qimage(self._digit)).scaled(
            side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation))
        self.image_info.setText(f"{name} — a 28×28 digit, used as it is")
        self._show_image_tab()

    def _show_image_tab(self) -> None:
        if self.currentIndex() != IMAGE:
            self.setCurrentIndex(IMAGE)
        else:
            self.changed.emit()

    def describe_analysis(self, analysis) -> None:
        if self.currentIndex() != IMAGE or analysis is None or self._image is None:
            return
        bits = [f"{Path(self._image_path).name} — {self._image.width}×{self._image.height}, mode {self._image.mode}"]
        polarity = getattr(analysis, "polarity", None)
        if polarity:
            bits.append(f"detected {polarity.replace('-', ' ')}")
        if getattr(analysis, "used_alpha", False):
            bits.append("ink taken from transparency")
        if getattr(analysis, "empty", False):
            bits.append("no digit found")
        self.image_info.setText("; ".join(bits))

    def payload(self):
        """What to send to the worker: ("raw", image) or ("ready28", array), or None."""
        tab = self.currentIndex()
        if tab == DRAW:
            return ("raw", self.canvas.to_array())
        if tab == IMAGE:
            if self._digit is not None:
                return ("ready28", self._digit)
            return ("raw", self._image) if self._image is not None else None
        if tab == TEST and self._mnist is not None:
            return ("ready28", self._mnist.x_test[self.test_index.value()].astype(np.float32) / 255.0)
        return None
