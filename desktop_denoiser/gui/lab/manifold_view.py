"""The manifold tab: a regular grid of map positions decoded into digits, as one image on the
map's axes. For a 2-D code the grid is the code itself (the manifold the model learned); for
a larger code it is the plane of the map's two principal components through the codes' mean.
The current frame's images are marked where their codes fall."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QStackedWidget, QVBoxLayout

from .map_plot import MARKER_STYLE
from .map_view import missing_text, no_code_text
from .widgets import LabView, LiveJob, Note

DEFAULT_GRID = 15


class ManifoldView(LabView):
    tab_title = "Manifold"

    def __init__(self, session, parent=None):
        super().__init__(session, parent)
        self.manifold = None  # the core.lab Manifold shown
        self.manifold_map = None  # the exact map it was decoded on
        self.grid = QSpinBox()
        self.grid.setRange(4, 30)
        self.grid.setValue(DEFAULT_GRID)
        self.grid.setToolTip("Digits per side of the grid")
        self.grid.valueChanged.connect(lambda _v: self._compute())
        self.about = QLabel(" ")
        self.about.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.getPlotItem().setMenuEnabled(False)
        self.plot.setAspectLocked(True)  # square tiles
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.markers = {}
        for name, (symbol, fill, outline) in MARKER_STYLE.items():
            scatter = pg.ScatterPlotItem(size=16, symbol=symbol, brush=pg.mkBrush(*fill), pen=pg.mkPen(*outline, width=2))
            scatter.setZValue(5)
            self.plot.addItem(scatter)
            self.markers[name] = scatter
        self.note = Note()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot)
        self.stack.addWidget(self.note)
        self.job = LiveJob(session, 0, self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Grid:"))
        top.addWidget(self.grid)
        top.addWidget(self.about, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.stack, 1)
        self._refresh()

    def lab_changed(self, lab) -> None:
        self.manifold = None
        self.about.setText(" ")
        self._refresh()

    def map_changed(self, latent_map) -> None:
        if self.manifold_map is not self.session.exact_map:
            self.manifold = None
        self._refresh()
        if self.current and self.manifold is None:
            self._compute()

    def shown(self) -> None:
        if self.manifold is None:
            self._compute()
        super().shown()

    def _refresh(self) -> None:
        s = self.session
        if s.lab is not None and not s.lab.has_code:
            self.note.setText(no_code_text(s.lab, "manifold"))
        elif s.exact_map is None:
            self.note.setText(missing_text(s, "manifold"))
        self.stack.setCurrentWidget(self.plot if s.exact_map is not None else self.note)
        self.grid.setEnabled(s.exact_map is not None)

    def _compute(self) -> None:
        s = self.session
        lab, exact, grid = s.lab, s.exact_map, self.grid.value()
        if lab is None or exact is None:
            return
        from ...core.lab import manifold

        self.about.setText(f"Decoding {grid}×{grid} positions…")
        self.job.request(lambda pipeline: manifold(lab, grid=grid, latent_map=exact),
                         lambda m: self._show(m, exact))

    def _show(self, m, exact) -> None:
        """The mosaic in tile coordinates (column j at x = j, the bottom row at y = 0), with the
        map positions of the tiles as tick labels: the core may space the grid by quantiles."""
        self.manifold, self.manifold_map = m, exact
        g = m.images.shape[0]
        # rows of the mosaic run top (largest y) to bottom; the plot's y runs upward
        self.image.setImage(np.clip(m.mosaic()[::-1], 0, 1), levels=(0, 1))
        self.image.setRect(QRectF(-0.5, -0.5, g, g))
        self.plot.setRange(xRange=(-0.5, g - 0.5), yRange=(-0.5, g - 0.5), padding=0)
        step = max(1, g // 6)
        ticks = range(0, g, step)
        item = self.plot.getPlotItem()
        item.getAxis("bottom").setTicks([[(j, f"{m.xs[j]:.3g}") for j in ticks]])
        item.getAxis("left").setTicks([[(g - 1 - i, f"{m.ys[i]:.3g}") for i in ticks]])
        axes = ("code 1", "code 2") if m.exact else ("PC 1", "PC 2")
        scale = " (quantile-spaced)" if m.spacing == "quantile" else ""
        self.plot.setLabel("bottom", axes[0] + scale)
        self.plot.setLabel("left", axes[1] + scale)
        what = ("the 2-D code itself: each tile is the decoder's digit at that code" if m.exact else
                "the plane of the map's two principal components through the codes' mean, decoded "
                "(a slice of a larger code space: real digits' codes lie off it)")
        spacing = (" Rows and columns sit at equal fractions of the test digits (1st to 99th percentile), "
                   "not at equal distances." if m.spacing == "quantile" else "")
        self.about.setText(f"{lab_name(self.session)}: {g}×{g} decoded positions of {what}.{spacing}")
        self._refresh()
        if self.session.frame is not None:
            self.frame_changed(self.session.frame)

    def tile_position(self, point) -> np.ndarray:
        """A map position (x, y) in the plot's tile coordinates (clamped to the grid)."""
        m = self.manifold
        g = len(m.xs)
        x = np.interp(point[0], m.xs, np.arange(g))
        y = np.interp(point[1], m.ys[::-1], np.arange(g))  # ys run top to bottom: bottom row first
        return np.array([x, y])

    def frame_changed(self, frame) -> None:
        live, exact = frame.extras.get("lab"), self.session.exact_map
        ok = live is not None and exact is not None and self.manifold is not None and live.model == exact.model_name
        codes = live.markers.codes if ok else {}
        for name, scatter in self.markers.items():
            c = codes.get(name)
            pos = None if c is None else self.tile_position(exact.place(np.reshape(c, (1, -1)))[0])
            scatter.setData(pos=np.zeros((0, 2)) if pos is None else pos.reshape(1, 2))


def lab_name(session) -> str:
    return session.lab.name if session.lab is not None else ""
