"""The Runs view's plot: the loss curves of the selected runs overlaid, each run its colour.

For each run: every batch's training loss (a thin, faint line), its moving average (a solid
line, named in the legend) and the validation loss of each epoch (markers), against the batch
(step), as in ``runs compare --figure`` (:mod:`core.run_figure`, whose colours and moving average
this reuses). The legend names each run by the settings that differ among the selected runs
(``core.run_report.legend``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyqtgraph as pg

from ...core import run_figure, run_report
from ...core.runs import Run

SMOOTH_POINTS = 50  # the moving average's window is 1/50 of the run's batches, as in run_figure


@dataclass
class RunItems:
    """The plot items of one run."""

    run: Run
    batches: pg.PlotDataItem  # every batch's loss
    smoothed: pg.PlotDataItem  # its moving average (named in the legend)
    validation: pg.PlotDataItem  # one marker per epoch
    label: str


def label_of(run: Run, runs: Sequence[Run], index: int) -> str:
    """A run's legend text: its id and the settings that differ among ``runs`` (one run: its
    architecture and noise)."""
    if len(runs) < 2:
        return f"{run.short_id}: {run.config.get('arch', '?')}, {run_report.noise_text(run.config)}"
    return run_report.legend(run, run_report.differences(runs), index)


class RunCurves(pg.PlotWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setLabel("bottom", "batch")
        self.setLabel("left", "loss")
        self.showGrid(x=True, y=True, alpha=0.2)
        self.getAxis("left").enableAutoSIPrefix(False)
        self.getAxis("bottom").enableAutoSIPrefix(False)
        self.legend = self.addLegend(offset=(-4, 4), labelTextSize="8pt")
        self.items: list[RunItems] = []
        self._shown: tuple = ()
        self.hint = pg.TextItem("Select runs in the table to see their loss curves (Ctrl or Shift for several).",
                                color=(128, 128, 128), anchor=(0.5, 0.5))
        self.addItem(self.hint, ignoreBounds=True)
        self.hint.setPos(0.5, 0.5)

    def show_runs(self, runs: Sequence[Run]) -> None:
        """Draw the curves of ``runs`` (unreadable ones are left out); nothing is redrawn when
        the same runs are shown with nothing new recorded."""
        runs = [r for r in runs if not r.error]
        shown = tuple((r.run_id, r.updated, r.steps, len(r.epochs)) for r in runs)
        if shown == self._shown:
            return
        self._shown = shown
        for items in self.items:
            for item in (items.batches, items.smoothed, items.validation):
                self.removeItem(item)
        self.legend.clear()
        self.items = []
        self.hint.setVisible(not runs)
        for i, run in enumerate(runs):
            self.items.append(self._draw(run, label_of(run, runs, i), run_figure.COLOURS[i % len(run_figure.COLOURS)]))
        self.enableAutoRange()

    def _draw(self, run: Run, label: str, colour: tuple) -> RunItems:
        losses = run.losses()
        steps, loss = losses[:, 0].astype(np.float64), losses[:, 1].astype(np.float64)
        epochs = [e for e in run.epochs if isinstance(e.get("val_loss"), (int, float)) and isinstance(e.get("step"), int)]
        batches = self.plot(steps, loss, pen=pg.mkPen((*colour, 70), width=1))
        window = max(1, len(loss) // SMOOTH_POINTS)
        smoothed = self.plot(steps, run_figure.smooth(loss, window), pen=pg.mkPen(colour, width=2),
                             name=label + ("" if len(loss) else "  (no batch recorded)"))
        validation = self.plot([float(e["step"]) for e in epochs], [float(e["val_loss"]) for e in epochs], pen=None,
                               symbol="o", symbolSize=8, symbolBrush=colour, symbolPen="k")
        return RunItems(run, batches, smoothed, validation, label)

    def legend_texts(self) -> list[str]:
        """The legend's lines, top to bottom."""
        return [label.text for _sample, label in self.legend.items]
