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
        self._items: dict = {}  # panel key -> the PlotDataItems drawn, in the order of its drawn series

    def curves(self, key: str) -> list:
        """The lines drawn on one plot (for tests: each has ``name()`` and ``getData()``)."""
        return [item for item in self.plots[key].listDataItems()]

    def clear(self, text: str = "No sweep yet.") -> None:
        self.data = None
        self._items = {}
        self.title.setText(text)
        for plot in self.plots.values():
            plot.clear()

    def show_data(self, data: sweep_chart.ChartData) -> None:
        """Draw ``data``. A sweep sends its record after every run and again when the next run
        starts: an unchanged chart is not redrawn, and one whose lines are the same gets new
        points only (rebuilding both plots costs the GUI thread about 70 ms)."""
        if data == self.data:
            return
        same_lines = self.data is not None and _layout(self.data) == _layout(data)
        self.data = data
        xs = sweep_chart.x_positions(data)
        for panel in data.panels:
            if same_lines:
                for item, series in zip(self._items[panel.key], self._drawn(panel)):
                    item.setData(xs, _ys(series))
            else:
                self._draw_panel(panel, data, xs)
            y_ticks = sweep_chart.y_range(panel.values(), panel.key)
            self.plots[panel.key].setYRange(y_ticks[0], y_ticks[-1], padding=0)
        if not same_lines:
            self.title.setText(f"<b>{data.title}</b><br>{data.subtitle}")

    @staticmethod
    def _drawn(panel) -> list:
        # a line none of whose runs has finished is left out (pyqtgraph warns on all-NaN data)
        return [s for s in panel.series if any(y is not None for y in s.ys)]

    def _draw_panel(self, panel, data, xs) -> None:
        plot = self.plots[panel.key]
        plot.clear()
        plot.setTitle(panel.title, size="9pt")
        plot.setLabel("left", panel.y_label)
        plot.setLabel("bottom", data.x_label)
        plot.getAxis("bottom").setTicks([list(zip(xs, (value_text(v) for v in data.x_values)))])
        items, colour = [], 0
        for series in self._drawn(panel):
            if series.is_baseline:
                pen = pg.mkPen(BASELINE, width=1.5, style=Qt.PenStyle.DashLine)
                brush = BASELINE
            else:
                rgb = COLOURS[colour % len(COLOURS)]
                colour += 1
                pen, brush = pg.mkPen(rgb, width=2), rgb
            items.append(plot.plot(xs, _ys(series), pen=pen, symbol="s" if series.is_baseline else "o", symbolSize=7,
                                   symbolBrush=brush, symbolPen=None, connect="finite", name=series.label))
        self._items[panel.key] = items
        plot.setXRange(0, 1, padding=0.02)


def _ys(series) -> list:
    return [math.nan if y is None else float(y) for y in series.ys]


def _layout(data: sweep_chart.ChartData) -> tuple:
    """What the plots' items depend on: titles, axes, and which lines are drawn."""
    return (data.title, data.subtitle, data.x_label, data.x_values,
            tuple((p.title, tuple(s.label for s in SweepChartView._drawn(p))) for p in data.panels))
