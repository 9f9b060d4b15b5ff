"""The iterated denoising tab: x, D(x), D(D(x)), … from the current noisy input until a step
changes the image by less than the tolerance; the images with the change of each step, the
change on a log scale, and the path of the iterates' codes on a small map."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout

from .map_plot import MapPlot
from .widgets import LabView, LiveJob, TileRow, digit_caption

TILES = 12  # the first iterates and the last
LIVE_MS = 200


def shown_steps(n: int, tiles: int = TILES) -> list[int]:
    """Which of ``n`` images to show: all, or the first ``tiles - 1`` and the last."""
    return list(range(n)) if n <= tiles else list(range(tiles - 1)) + [n - 1]


class IterateView(LabView):
    tab_title = "Iterate"

    def __init__(self, session, parent=None):
        super().__init__(session, parent)
        self.result = None  # the core.lab Iteration shown
        self.tol = QDoubleSpinBox()
        self.tol.setDecimals(4)
        self.tol.setRange(0.0001, 0.1)
        self.tol.setSingleStep(0.0005)
        self.tol.setValue(0.001)
        self.tol.setToolTip("Stop when a step changes the image by less than this (mean absolute change per pixel)")
        self.max_steps = QSpinBox()
        self.max_steps.setRange(1, 200)
        self.max_steps.setValue(30)
        self.verdict = QLabel(" ")
        self.verdict.setWordWrap(True)
        for w in (self.tol, self.max_steps):
            w.valueChanged.connect(lambda _v: self._request())
        self.row = TileRow(TILES)
        self.distances = pg.PlotWidget()
        self.distances.getPlotItem().setMenuEnabled(False)
        self.distances.setLogMode(y=True)
        self.distances.setLabel("bottom", "step")
        self.distances.setLabel("left", "change (mean |Δ|)")
        self.distances.getAxis("left").enableAutoSIPrefix(False)
        self.curve = self.distances.plot([], [], pen=pg.mkPen((31, 119, 180), width=2), symbol="o", symbolSize=6)
        self.tol_line = pg.InfiniteLine(angle=0, pen=pg.mkPen((214, 39, 40), style=pg.QtCore.Qt.PenStyle.DashLine))
        self.distances.addItem(self.tol_line)
        self.plot = MapPlot(legend=False, point_size=3, marker_size=12)
        self.job = LiveJob(session, LIVE_MS, self)
        self.map_plot = self.plot
        self._layout()

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Tolerance:"))
        top.addWidget(self.tol)
        top.addWidget(QLabel("at most"))
        top.addWidget(self.max_steps)
        top.addWidget(QLabel("steps"))
        top.addWidget(self.verdict, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.distances, 1)
        bottom.addWidget(self.plot, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.row)
        layout.addLayout(bottom, 1)

    def lab_changed(self, lab) -> None:
        self.result = None
        self.row.clear()
        self.curve.setData([], [])

    def map_drawn(self) -> None:
        self.plot.setVisible(self.session.map is not None)
        self._draw_path()

    def frame_changed(self, frame) -> None:
        self._request()

    def _request(self) -> None:
        ready = self.ready(self.verdict, "Draw, open or pick a digit: the iteration starts from the noisy input.")
        if ready is None:
            return
        lab, frame = ready
        noisy, tol, steps = frame.noisy.copy(), self.tol.value(), self.max_steps.value()

        def job(pipeline):
            from ...core.lab.iterate import iterate

            return iterate(lab, noisy, tol=tol, max_steps=steps)

        self.job.request(job, self._show, self.verdict.setText)

    def _show(self, r) -> None:
        self.result = r
        idx = shown_steps(len(r.images))
        titles = ["x" if i == 0 else f"D{superscript(i)}(x)" for i in idx]
        captions = []
        for i in idx:
            change = "start" if i == 0 else step_change(r.distances[i - 1])
            captions.append("\n".join(filter(None, [digit_caption(r.probs, i) if r.probs is not None else "", change])))
        self.row.fill([r.images[i] for i in idx], titles, captions)
        flag = "converged" if r.converged else "did not converge"
        self.verdict.setText(f"<b>{flag}</b> after {r.steps} step{'s' * (r.steps != 1)} "
                             f"(last change {r.distances[-1]:.2g}, tolerance {r.tol:g})")
        steps = np.arange(1, r.steps + 1)
        self.curve.setData(steps, np.maximum(r.distances, 1e-8))
        self.tol_line.setValue(np.log10(max(r.tol, 1e-8)))  # the log axis draws log10 of the values
        self._draw_path()

    def _draw_path(self) -> None:
        self.show_path("iteration", self.result.codes if self.result is not None else None, (214, 39, 40))


def step_change(d: float) -> str:
    """A step's change, short enough for a narrow tile: 'Δ0.012', 'Δ5e-04'."""
    return f"Δ{d:.3f}" if d >= 0.001 else f"Δ{d:.0e}"


def superscript(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
