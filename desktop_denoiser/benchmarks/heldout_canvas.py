"""The canvas kind of held-out handwriting: pen trajectories drawn through the app's real canvas.

Each digit of :mod:`heldout_pen` is drawn on a :class:`gui.canvas.DrawingCanvas` with Qt mouse
events (``QTest`` press, a move every few pixels, release), offscreen, at a random brush width,
then read back with ``canvas.to_array()`` — the picture the window hands to
:func:`core.frame.prepare`. :func:`draw_set` returns those pictures (kept as PNGs by
:mod:`heldout`); :func:`read_on_canvas` draws and reads digits through the window's own path
(:func:`core.frame.compute`), for the generalisation table.
"""

from __future__ import annotations

import os

import numpy as np

from . import heldout_pen

STEP_PX = 6.0  # mouse-move spacing along a stroke (a hand on a mouse sends an event every few px)


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def _resample(points: np.ndarray, step: float) -> np.ndarray:
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    if along[-1] <= 0:
        return points[:1]
    t = np.linspace(0, along[-1], max(2, int(along[-1] / step) + 1))
    return np.stack([np.interp(t, along, points[:, 0]), np.interp(t, along, points[:, 1])], 1)


class CanvasDrawer:
    """One offscreen canvas and the mouse that draws on it."""

    def __init__(self):
        from PySide6.QtCore import QPoint, Qt
        from PySide6.QtTest import QTest

        from desktop_denoiser.gui.canvas import DrawingCanvas

        self.app = _app()
        self.canvas = DrawingCanvas()
        self.canvas.show()
        self.QPoint, self.QTest, self.left, self.none = QPoint, QTest, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier

    def draw(self, strokes, brush: float) -> np.ndarray:
        """Draw ``strokes`` (canvas px) with the mouse at ``brush`` px; the canvas as a uint8 array."""
        c, T, P = self.canvas, self.QTest, self.QPoint
        c.clear()
        c.set_brush(brush)
        for s in strokes:
            pts = [P(int(round(x)), int(round(y))) for x, y in _resample(np.asarray(s), STEP_PX)]
            T.mousePress(c, self.left, self.none, pts[0])
            for p in pts[1:]:
                T.mouseMove(c, p)
            T.mouseRelease(c, self.left, self.none, pts[-1])
        self.app.processEvents()
        return c.to_array()


def _digits(per_digit: int, rng: np.random.Generator):
    for digit in range(10):
        for _ in range(per_digit):
            strokes = heldout_pen.place(heldout_pen.trajectory(digit, rng), 280, rng, fill=(0.45, 0.85))
            yield digit, strokes, float(rng.uniform(12, 30))


def draw_set(per_digit: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[int]]:
    """``per_digit`` digits of each class drawn through the canvas: (pictures, labels)."""
    drawer = CanvasDrawer()
    images, labels = [], []
    for digit, strokes, brush in _digits(per_digit, rng):
        images.append(drawer.draw(strokes, brush))
        labels.append(digit)
    return images, labels


def read_on_canvas(pipeline, per_digit: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw digits through the canvas and read each as the window does (:func:`frame.compute`
    on ``canvas.to_array()``): (labels, digits read; -1 for a canvas read as empty)."""
    from desktop_denoiser.core import frame

    drawer = CanvasDrawer()
    labels, read = [], []
    for digit, strokes, brush in _digits(per_digit, rng):
        f = frame.compute(pipeline, drawer.draw(strokes, brush))
        labels.append(digit)
        read.append(-1 if f.digit is None else int(f.digit))
    return np.asarray(labels), np.asarray(read)
