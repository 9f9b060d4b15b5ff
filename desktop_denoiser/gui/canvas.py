"""A paper-like drawing canvas: dark ink on white, smooth round strokes, undo and redo.

Mouse and tablet input go through the same stroke code (a tablet's pressure scales the
brush). Strokes are kept as point lists, so undo/redo re-renders exactly; the picture the
core sees is a greyscale array of the canvas at its logical resolution.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

SIZE = 280  # logical pixels; the core rescales whatever it gets


class _Stroke:
    __slots__ = ("points", "width")

    def __init__(self, width: float):
        self.points: list[tuple[float, float, float]] = []  # x, y, pressure
        self.width = width


class DrawingCanvas(QWidget):
    changed = Signal()  # the drawing changed (every stroke segment, undo, redo, clear)
    stroke_finished = Signal()
    history_changed = Signal(bool, bool)  # can undo, can redo

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setFixedSize(SIZE, SIZE)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setToolTip("Draw a digit with the mouse or a pen")
        self.brush = 18.0
        self._strokes: list[_Stroke] = []
        self._redo: list[_Stroke] = []
        self._current: _Stroke | None = None
        self._image = QImage(SIZE, SIZE, QImage.Format.Format_Grayscale8)
        self._image.fill(QColor("white"))

    def sizeHint(self) -> QSize:
        return QSize(SIZE, SIZE)

    # public ------------------------------------------------------------------------------------

    def set_brush(self, width: float) -> None:
        self.brush = float(width)

    def is_empty(self) -> bool:
        return not self._strokes

    def clear(self) -> None:
        if not self._strokes:
            return
        self._strokes.clear()
        self._redo.clear()
        self._rerender()

    def undo(self) -> None:
        if self._strokes:
            self._redo.append(self._strokes.pop())
            self._rerender()

    def redo(self) -> None:
        if self._redo:
            self._strokes.append(self._redo.pop())
            self._rerender()

    def to_array(self) -> np.ndarray:
        """The canvas as a (SIZE, SIZE) uint8 array, dark ink on white (a copy)."""
        img = self._image
        ptr = img.constBits()
        arr = np.frombuffer(ptr, dtype=np.uint8, count=img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
        return arr[:, : img.width()].copy()

    def add_stroke(self, points, width: float | None = None) -> None:
        """Draw a whole stroke programmatically (tests, demos): points in canvas pixels."""
        pts = [(float(x), float(y), 1.0) for x, y in points]
        if not pts:
            return
        stroke = _Stroke(width or self.brush)
        stroke.points = pts
        self._strokes.append(stroke)
        self._redo.clear()
        self._rerender()
        self.stroke_finished.emit()

    # input -------------------------------------------------------------------------------------

    def _begin(self, pos: QPointF, pressure: float) -> None:
        self._current = _Stroke(self.brush)
        self._current.points.append((pos.x(), pos.y(), pressure))
        self._strokes.append(self._current)
        self._redo.clear()
        self._paint_segment(self._current)
        if len(self._strokes) == 1:
            self.update()  # the whole canvas: the "Draw a digit here" placeholder goes at once
        self._emit_history()
        self.changed.emit()

    def _extend(self, pos: QPointF, pressure: float) -> None:
        if self._current is None:
            return
        last = self._current.points[-1]
        if abs(last[0] - pos.x()) + abs(last[1] - pos.y()) < 0.75:
            return
        self._current.points.append((pos.x(), pos.y(), pressure))
        self._paint_segment(self._current)
        self.changed.emit()

    def _end(self) -> None:
        if self._current is not None:
            pts = self._current.points
            if len(pts) >= 3:  # the tail from the last midpoint to the pen-up point
                (x0, y0, _), (x1, y1, p) = pts[-2], pts[-1]
                painter = QPainter(self._image)
                painter.setRenderHint(QPainter.RenderHint.Antialiasing)
                painter.setPen(self._pen(self._current.width * p))
                painter.drawLine(QPointF((x0 + x1) / 2, (y0 + y1) / 2), QPointF(x1, y1))
                painter.end()
                self.update()
            self._current = None
            self.changed.emit()
            self.stroke_finished.emit()

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position(), 1.0)
        elif event.button() == Qt.MouseButton.RightButton:
            self.undo()

    def mouseMoveEvent(self, event):
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._extend(event.position(), 1.0)

    def mouseReleaseEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self._end()

    def tabletEvent(self, event):
        pressure = max(0.15, float(event.pressure()))
        kind = event.type()
        if kind == event.Type.TabletPress:
            self._begin(event.position(), pressure)
        elif kind == event.Type.TabletMove and event.buttons():
            self._extend(event.position(), pressure)
        elif kind == event.Type.TabletRelease:
            self._end()
        event.accept()

    # drawing -----------------------------------------------------------------------------------

    def _pen(self, width: float) -> QPen:
        pen = QPen(QColor(20, 20, 20))
        pen.setWidthF(width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        return pen

    def _paint_segment(self, stroke: _Stroke) -> None:
        """Paint only the newest piece of a stroke (cheap while drawing)."""
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pts = stroke.points
        x, y, p = pts[-1]
        width = stroke.width * p
        painter.setPen(self._pen(width))
        if len(pts) == 1:
            painter.drawPoint(QPointF(x, y))
            dirty = QRectF(x, y, 0, 0)
        else:
            path = QPainterPath()
            if len(pts) >= 3:
                # quadratic through the midpoints: smooth joins without lag
                (x0, y0, _), (x1, y1, _) = pts[-3], pts[-2]
                path.moveTo((x0 + x1) / 2, (y0 + y1) / 2)
                path.quadTo(x1, y1, (x1 + x) / 2, (y1 + y) / 2)
            else:
                path.moveTo(pts[-2][0], pts[-2][1])
                path.lineTo(x, y)
            painter.drawPath(path)
            dirty = path.boundingRect()
        painter.end()
        # Repaint all of the new piece (a fast mouse moves tens of pixels between two events),
        # with the pen's half-width and antialiasing around it.
        margin = width / 2 + 3
        self.update(dirty.adjusted(-margin, -margin, margin, margin).toAlignedRect())

    def _rerender(self) -> None:
        self._image.fill(QColor("white"))
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for stroke in self._strokes:
            pts = stroke.points
            painter.setPen(self._pen(stroke.width * pts[0][2]))
            if len(pts) == 1:
                painter.drawPoint(QPointF(pts[0][0], pts[0][1]))
                continue
            path = QPainterPath(QPointF(pts[0][0], pts[0][1]))
            for (x0, y0, _), (x1, y1, _) in zip(pts, pts[1:]):
                path.quadTo(x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
            path.lineTo(pts[-1][0], pts[-1][1])
            painter.drawPath(path)
        painter.end()
        self.update()
        self._emit_history()
        self.changed.emit()

    def _emit_history(self) -> None:
        self.history_changed.emit(bool(self._strokes), bool(self._redo))

    def paintEvent(self, event):
        painter = QPainter(self)
        painter.drawImage(0, 0, self._image)
        painter.setPen(QColor(170, 170, 170))
        painter.drawRect(0, 0, SIZE - 1, SIZE - 1)
        if not self._strokes:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Draw a digit here")
        painter.end()
