"""Labelled image tiles that scale 28×28 images by whole pixels (no blurring)."""

from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget


def save_widget_png(widget, path: str) -> str:
    """Render ``widget`` to a PNG, atomically; returns the path (".png" added if missing).
    Raises DenoiserError (SaveError) with a clear message on failure."""
    from ..core import atomic

    if not path.lower().endswith(".png"):
        path += ".png"
    pixmap = widget.grab()

    def write(tmp):
        if not pixmap.save(str(tmp), "PNG"):
            raise OSError("the image could not be encoded")

    atomic.write_with(path, write)
    return path


def array_to_qimage(array: np.ndarray) -> QImage:
    """A float [0, 1] or uint8 (H, W) array as a greyscale QImage (copied)."""
    a = np.asarray(array)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    a = np.ascontiguousarray(a)
    h, w = a.shape
    return QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def signed_to_qimage(diff: np.ndarray) -> QImage:
    """A difference image in [-1, 1]: red where ink was removed, blue where added, black = same."""
    d = np.clip(np.asarray(diff, np.float32), -1.0, 1.0)
    rgb = np.zeros(d.shape + (3,), np.uint8)
    rgb[..., 0] = (np.maximum(-d, 0) * 255).astype(np.uint8)
    rgb[..., 2] = (np.maximum(d, 0) * 255).astype(np.uint8)
    rgb[..., 1] = (np.abs(d) * 60).astype(np.uint8)
    h, w, _ = rgb.shape
    return QImage(np.ascontiguousarray(rgb).data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class PixelView(QWidget):
    """Shows a small image scaled by the largest whole factor that fits, pixel-exact."""

    def __init__(self, minimum: int = 112, parent=None):
        super().__init__(parent)
        self._image: Optional[QImage] = None
        self._placeholder = ""
        self.setMinimumSize(minimum, minimum)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(168, 168)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width

    def set_image(self, image: Optional[QImage], placeholder: str = "") -> None:
        self._image = image
        self._placeholder = placeholder
        self.update()

    def image(self) -> Optional[QImage]:
        return self._image

    def paintEvent(self, event):
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()  # always, before the backing store flushes (not whenever Python frees it)

    def _paint(self, painter: QPainter) -> None:
        side = min(self.width(), self.height())
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        if self._image is None:
            painter.setPen(self.palette().color(self.foregroundRole()))
            painter.drawRect(0, 0, side - 1, side - 1)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            return
        w, h = self._image.width(), self._image.height()
        scale = max(1, min(self.width() // w, self.height() // h))
        tw, th = w * scale, h * scale
        x, y = (self.width() - tw) // 2, (self.height() - th) // 2
        pix = QPixmap.fromImage(self._image.scaled(tw, th, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                   Qt.TransformationMode.FastTransformation))
        painter.fillRect(x - 1, y - 1, tw + 2, th + 2, QColor(90, 90, 90))
        painter.drawPixmap(x, y, pix)


class ImageTile(QWidget):
    """A titled PixelView with a caption line under it (e.g. PSNR)."""

    def __init__(self, title: str, tooltip: str = "", parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(3)
        self.title = QLabel(f"<b>{title}</b>")
        self.title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        self.view = PixelView()
        self.caption = QLabel(" ")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        if tooltip:
            self.setToolTip(tooltip)

    def set_array(self, array: Optional[np.ndarray], caption: str = " ", placeholder: str = "") -> None:
        self.view.set_image(None if array is None else array_to_qimage(array), placeholder)
        self.caption.setText(caption)

    def set_qimage(self, image: Optional[QImage], caption: str = " ", placeholder: str = "") -> None:
        self.view.set_image(image, placeholder)
        self.caption.setText(caption)
