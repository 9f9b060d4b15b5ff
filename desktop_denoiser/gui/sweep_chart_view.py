"""A sweep's chart in the window: the core's :class:`~.core.sweep_chart.ChartData` drawn with
pyqtgraph, downstream accuracy beside PSNR, one line per model, the noisy-input baseline grey
and dashed. The PNG of the same chart is the core's (:func:`.core.sweep_chart.write_figure`)."""

from __future__ import annotations

import math
from typing import Optional

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ..core import sweep_chart
from ..core.lab.drawing import PALETTE
from ..core.sweeps import value_text

COLOURS = PALETTE  # the Pillow chart's (core/sweep_chart_draw.py), so the window and the PNG agree
BASELINE = (140, 140, 140)


class SweepChartView(QWidget):
    """Two plots (accuracy, PSNR) of one sweep; :meth:`show_data` redraws them."""

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("No sweep yet.")
        self.title.setWordWrap(True)
        outer.addWidget(self.title)
        row = QHBoxLayout()
        self.plots = {}
        for key in (sweep_chart.ACCURACY, sweep_chart.PSNR):
            plot = pg.PlotWidget()
            plot.setMenuEnabled(False)
            plot.showGrid(x=False, y=True, alpha=0.25)
            plot.setMinimumSize(260, 220)
            plot.addLegend(offset=(-4, 4), labelTextSize="8pt")
            self.plots[key] = plot
            row.addWidget(plot, 1)
        outer.addLayout(row, 1)
        self.data: Optional[sweep_chart.ChartData] = None

    def curves(self, key: str) -> list:
        """The lines drawn on one plot (for tests: each has ``name()`` and ``getData()``)."""
        return [item for item in self.plots[key].listDataItems()]

    def clear(self, text: str = "No sweep yet.") -> None:
        self.data = None
        self.title.setText(text)
        for plot in self.plots.values():
            plot.clear()

    def show_data(self, data: sweep_chart.ChartData) -> None:
        self.data = data
        self.title.setText(f"<b>{data.title}</b><br>{data.subtitle}")
        xs = sweep_chart.x_positions(data)
        ticks = [list(zip(xs, (value_text(v) for v in data.x_values)))]
        for panel in data.panels:
            plot = self.plots[panel.key]
            plot.clear()
            plot.setTitle(panel.title, size="9pt")
            plot.setLabel("left", panel.y_label)
            plot.setLabel("bottom", data.x_label)
            plot.getAxis("bottom").setTicks(ticks)
            colour = 0
            for series in panel.series:
                if all(y is None for y in series.ys):
                    continue  # no run of this line has finished yet (pyqtgraph warns on all-NaN data)
                ys = [math.nan if y is None else float(y) for y in series.ys]
                if series.is_baseline:
                    pen = pg.mkPen(BASELINE, width=1.5, style=Qt.PenStyle.DashLine)
                    brush = BASELINE
                else:
                    rgb = COLOURS[colour % len(COLOURS)]
                    colour += 1
                    pen, brush = pg.mkPen(rgb, width=2), rgb
                plot.plot(xs, ys, pen=pen, symbol="s" if series.is_baseline else "o", symbolSize=7,
                          symbolBrush=brush, symbolPen=None, connect="finite", name=series.label)
            y_ticks = sweep_chart.y_range(panel.values(), panel.key)
            plot.setXRange(0, 1, padding=0.02)
            plot.setYRange(y_ticks[0], y_ticks[-1], padding=0)
