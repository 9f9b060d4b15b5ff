"""A latent map as a pyqtgraph plot: the digits' points coloured by class with a legend, the
live markers (clean ○, noisy ✕, reconstruction ◆) with an arrow noisy → reconstruction, and
paths (an interpolation, an iteration). It draws what it is given; every number comes from a
``core.lab.LatentMap`` and its ``Markers``. Hover and click are reported as signals."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal

from ...core.lab.drawing import MARKER_COLOURS, PALETTE

PICK_PX = 7  # a pointer within this many pixels of a digit's point is on it
AXES = {"pca": ("PC 1", "PC 2"), "code": ("code 1", "code 2"), "tsne": ("t-SNE 1", "t-SNE 2")}
MARKER_STYLE = {  # symbol, fill, outline
    "clean": ("o", (255, 255, 255), MARKER_COLOURS["clean"]),
    "noisy": ("x", MARKER_COLOURS["noisy"], (255, 255, 255)),
    "reconstruction": ("d", MARKER_COLOURS["reconstruction"], (255, 255, 255)),
}


class MapPlot(pg.PlotWidget):
    """``hovered(index)``: the digit under the pointer (-1: none). ``clicked(x, y, index)``: a
    left click at map position (x, y), on digit ``index`` (-1: between the points)."""

    hovered = Signal(int)
    clicked = Signal(float, float, int)

    def __init__(self, legend: bool = True, point_size: float = 4.5, marker_size: float = 18, parent=None):
        super().__init__(parent)
        self.map = None
        self._hover = -1
        item = self.getPlotItem()
        item.setMenuEnabled(False)
        item.showGrid(x=True, y=True, alpha=0.15)
        self.legend = item.addLegend(offset=(-8, 8), colCount=2, labelTextSize="8pt") if legend else None
        self.classes = []
        for k in range(10):
            scatter = pg.ScatterPlotItem(size=point_size, pen=None, brush=pg.mkBrush(*PALETTE[k], 170), name=str(k))
            scatter.setZValue(1)
            item.addItem(scatter)
            self.classes.append(scatter)
        self.paths: dict = {}
        self.arrow_line = pg.PlotCurveItem(pen=pg.mkPen((20, 20, 20), width=3))
        self.arrow_head = pg.ArrowItem(angle=0, headLen=18, tipAngle=34, tailLen=0, pen=None, brush=(20, 20, 20))
        for thing in (self.arrow_line, self.arrow_head):
            thing.setZValue(5)
            item.addItem(thing)
            thing.hide()
        self.markers = {}
        for name, (symbol, fill, outline) in MARKER_STYLE.items():
            scatter = pg.ScatterPlotItem(size=marker_size, symbol=symbol, brush=pg.mkBrush(*fill),
                                         pen=pg.mkPen(*outline, width=2), name=name if legend else None)
            scatter.setZValue(6)
            item.addItem(scatter)
            self.markers[name] = scatter
        self.hover_ring = pg.ScatterPlotItem(size=point_size + 9, symbol="o", brush=None,
                                             pen=pg.mkPen((20, 20, 20), width=2))
        self.hover_ring.setZValue(3)
        item.addItem(self.hover_ring)
        self._arrow: Optional[tuple] = None
        self._to_fill: list = []  # classes whose points are still to be set (one per event-loop turn)
        self._fill_timer = QTimer(self)
        self._fill_timer.setInterval(0)
        self._fill_timer.timeout.connect(self._fill_next)
        item.getViewBox().sigTransformChanged.connect(self._aim_arrow)
        self.scene().sigMouseMoved.connect(self._moved)
        self.scene().sigMouseClicked.connect(self._clicked)

    # contents ----------------------------------------------------------------------------------

    def set_map(self, latent_map) -> None:
        """Show ``latent_map``'s points (None: an empty plot) and fit the view to them."""
        self.map = latent_map
        self._hover = -1
        self.hover_ring.setData(pos=np.zeros((0, 2)))
        self.set_markers(None)
        for key in list(self.paths):
            self.set_path(key, None)
        self._fill_timer.stop()
        if latent_map is None:
            for scatter in self.classes:
                scatter.setData(pos=np.zeros((0, 2)))
            return
        # about 3 ms a class for 5,000 points: one class per turn of the event loop, so that a new
        # map never stalls the window (all ten at once took 25-45 ms, three plots over 100)
        self._to_fill = list(range(10))
        self._fill_timer.start()
        x_axis, y_axis = AXES.get(latent_map.method, ("map x", "map y"))
        self.setLabel("bottom", x_axis)
        self.setLabel("left", y_axis)
        x0, x1, y0, y1 = latent_map.extent(0.5, 99.5)
        self.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.06)

    def _fill_next(self) -> None:
        if not self._to_fill or self.map is None:
            self._fill_timer.stop()
            return
        k = self._to_fill.pop(0)
        labels = np.asarray(self.map.labels).reshape(-1)
        self.classes[k].setData(pos=self.map.points[labels == k])

    def set_markers(self, markers) -> None:
        """The live markers of a ``core.lab.Markers`` (None: hide them)."""
        points = {} if markers is None else markers.points
        for name, scatter in self.markers.items():
            p = points.get(name)
            scatter.setData(pos=np.zeros((0, 2)) if p is None else np.reshape(p, (1, 2)))
        self._arrow = None if markers is None else markers.arrow
        visible = self._arrow is not None
        self.arrow_line.setVisible(visible)
        self.arrow_head.setVisible(visible)
        if visible:
            a, b = (np.asarray(p, float) for p in self._arrow)
            self.arrow_line.setData(x=[a[0], b[0]], y=[a[1], b[1]])
            self._aim_arrow()

    def marker_points(self) -> dict:
        """What the markers show: name -> (2,) array, or None when hidden (for tests and figures)."""
        out = {}
        for name, scatter in self.markers.items():
            x, y = scatter.getData()
            out[name] = None if len(x) == 0 else np.array([x[0], y[0]])
        return out

    def set_path(self, key: str, points, colour=(40, 40, 40), width: float = 2.0) -> None:
        """Draw ``points`` (N, 2) as a line with dots, or remove the path (None)."""
        item = self.paths.get(key)
        if points is None:
            if item is not None:
                item.hide()
            return
        if item is None:
            item = pg.PlotDataItem(pen=pg.mkPen(colour, width=width), symbol="o", symbolSize=6,
                                   symbolBrush=pg.mkBrush(colour), symbolPen=pg.mkPen((255, 255, 255), width=1))
            item.setZValue(4)
            self.getPlotItem().addItem(item)
            self.paths[key] = item
        pts = np.asarray(points, float).reshape(-1, 2)
        item.setData(x=pts[:, 0], y=pts[:, 1])
        item.show()

    def focus(self, points, share: float = 0.3) -> None:
        """Zoom to ``points`` (N, 2) with their neighbourhood: at least ``share`` of the map's
        extent each way (a path of close codes would be a dot on the whole map)."""
        if self.map is None or points is None or len(points) == 0:
            return
        pts = np.asarray(points, float).reshape(-1, 2)
        x0, x1, y0, y1 = self.map.extent(0.5, 99.5)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        centre, half = (lo + hi) / 2, np.maximum((hi - lo) / 2 * 1.3, share / 2 * np.array([x1 - x0, y1 - y0]))
        self.setRange(xRange=(centre[0] - half[0], centre[0] + half[0]),
                      yRange=(centre[1] - half[1], centre[1] + half[1]), padding=0)

    def _aim_arrow(self, *_) -> None:
        """Turn the arrow's head along noisy → reconstruction as drawn on screen (the axes'
        scales differ, so the angle changes with the view)."""
        if self._arrow is None:
            return
        vb = self.getPlotItem().getViewBox()
        a, b = (vb.mapViewToScene(QPointF(float(p[0]), float(p[1]))) for p in self._arrow)
        dx, dy = b.x() - a.x(), b.y() - a.y()
        self.arrow_head.setStyle(angle=180.0 + math.degrees(math.atan2(dy, dx)))
        self.arrow_head.setPos(float(self._arrow[1][0]), float(self._arrow[1][1]))
        self.arrow_head.setVisible(math.hypot(dx, dy) > 3)  # no head on an arrow shorter than it

    # pointer -----------------------------------------------------------------------------------

    def _pick(self, scene_pos) -> tuple[Optional[np.ndarray], int]:
        """(map position, index of the digit within PICK_PX, else -1) of a scene position."""
        vb = self.getPlotItem().getViewBox()
        if self.map is None or not vb.sceneBoundingRect().contains(scene_pos):
            return None, -1
        p = vb.mapSceneToView(scene_pos)
        pt = np.array([p.x(), p.y()], np.float32)
        i = self.map.nearest(pt)
        q = vb.mapViewToScene(QPointF(*map(float, self.map.points[i])))
        near = math.hypot(q.x() - scene_pos.x(), q.y() - scene_pos.y()) <= PICK_PX
        return pt, (i if near else -1)

    def _moved(self, scene_pos) -> None:
        _, i = self._pick(scene_pos)
        if i != self._hover:
            self._hover = i
            self.hover_ring.setData(pos=np.zeros((0, 2)) if i < 0 else self.map.points[i : i + 1])
            self.hovered.emit(i)

    def _clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.double():
            return
        pt, i = self._pick(event.scenePos())
        if pt is not None:
            self.clicked.emit(float(pt[0]), float(pt[1]), i)
