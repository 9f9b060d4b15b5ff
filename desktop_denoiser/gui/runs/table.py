"""The Runs view's table: one row per recorded run (a ``core.runs.Run``), sortable by every column.

:class:`RunsTable` is a ``QAbstractTableModel`` over the core's runs; it gives every cell a
sort key under :data:`SORT_ROLE` (numbers as numbers, dates as timestamps, text folded to lower
case), which :func:`sorted_proxy`'s ``QSortFilterProxyModel`` sorts by. The settings that differ
between the runs (``core.run_report.differences``, the one ``runs compare`` uses) get a column
each. A run whose ``run.json`` cannot be read is listed greyed, with the reason.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Callable, Optional, Sequence

from PySide6.QtCore import QAbstractTableModel, QSortFilterProxyModel, Qt
from PySide6.QtGui import QBrush, QColor

from ...core import run_report
from ...core.durations import duration
from ...core.runs import RUNNING, Run

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RUN_ROLE = Qt.ItemDataRole.UserRole + 2
MISSING = -math.inf  # the sort key of a missing number or date: first when ascending
OWN_COLUMNS = {"arch", "noise", "epochs", "mnist"}  # settings with a column of their own (or none: a file path)
GREY = QColor(140, 140, 140)


def _timestamp(iso: str) -> float:
    try:
        return _dt.datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return MISSING


def _number(text: str) -> Optional[float]:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def ended_text(run: Run) -> str:
    """How the run ended, for people: "finished", "cancelled", "failed: <message>", "killed", "running"."""
    if run.error:
        return f"unreadable: {run.error}"
    end = run.training_end()
    if end is not None and end.failed:
        return f"failed: {end.message}"
    return run.state_label


def model_cell(run: Run) -> str:
    """The model's name, "deleted" when its file is gone, "not saved" when there was none."""
    name, path = run.model.get("name"), run.model.get("path")
    if not name or not run.model.get("saved"):
        return "not saved"
    return name if path and Path(path).is_file() else f"{name} (deleted)"


def _psnr(run: Run) -> Optional[float]:
    return run.model_figures().psnr


def _accuracy(run: Run) -> Optional[float]:
    figures = run.model_figures()
    return figures.accuracy if figures.kind == "classifier" else figures.accuracy_denoised


class Column:
    """One column: its title, its text and its sort key of a run."""

    def __init__(self, title: str, text: Callable[[Run], str], key: Callable[[Run], object], tip: str = ""):
        self.title, self.text, self.key, self.tip = title, text, key, tip


def _number_column(title: str, value: Callable[[Run], Optional[float]], shown: Callable[[float], str], tip: str = "") -> Column:
    def text(run: Run) -> str:
        v = value(run)
        return "–" if v is None else shown(v)

    def key(run: Run) -> float:
        v = value(run)
        return MISSING if v is None else float(v)

    return Column(title, text, key, tip)


def _text_column(title: str, text: Callable[[Run], str], tip: str = "") -> Column:
    return Column(title, text, lambda run: text(run).lower(), tip)


def _setting_column(key: str, runs: Sequence[Run]) -> Column:
    """A setting that differs between runs; sorted as numbers when every value is one."""

    def text(run: Run) -> str:
        return "?" if run.error else run_report.settings(run, versions=False).get(key, "–")

    numeric = all(_number(text(r)) is not None for r in runs if not r.error and text(r) != "–")
    if numeric:
        return Column(key, text, lambda run: MISSING if _number(text(run)) is None else _number(text(run)),
                      "a setting that differs between runs")
    return _text_column(key, text, "a setting that differs between runs")


def _columns_before() -> list[Column]:
    return [Column("started", lambda r: run_report.date_text(r.started), lambda r: _timestamp(r.started),
                   "when the training started (local time)"),
            _text_column("run", lambda r: r.short_id, "the run's id (desktop-denoiser runs show ID)"),
            _text_column("architecture", lambda r: "?" if r.error else str(r.config.get("arch", "?"))),
            _text_column("noise", lambda r: "?" if r.error else run_report.noise_text(r.config))]


def _columns_after() -> list[Column]:
    return [_number_column("epochs", lambda r: None if r.error else len(r.epochs),
                           lambda v: f"{int(v)}", "epochs finished"),
            _number_column("duration", lambda r: None if r.error else run_report.duration_of(r), duration),
            _text_column("ended", ended_text, "how the training ended"),
            _number_column("PSNR", _psnr, lambda v: f"{v:.2f} dB", "the model's PSNR on the test digits"),
            _number_column("accuracy", _accuracy, lambda v: f"{100 * v:.2f}%",
                           "a classifier's test accuracy; a denoiser's: the classifier's accuracy on its output"),
            _text_column("model", model_cell, "the model the run produced")]


def differing_settings(runs: Sequence[Run]) -> list[str]:
    """The configuration settings that differ between the readable runs (without those that
    have their own column), from ``core.run_report.differences``."""
    readable = [r for r in runs if not r.error]
    if len(readable) < 2:
        return []
    config_keys = {k for r in readable for k in r.config}
    return [k for k in run_report.differences(readable) if k in config_keys and k not in OWN_COLUMNS]


class RunsTable(QAbstractTableModel):
    """The runs, one per row, in the order given (the proxy sorts)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs: list[Run] = []
        self.settings: list[str] = []
        self.columns: list[Column] = _columns_before() + _columns_after()

    def set_runs(self, runs: Sequence[Run]) -> None:
        """Show ``runs``: the same runs with new contents are updated in place (selection and
        sorting stay), other runs reset the table."""
        runs = list(runs)
        settings = differing_settings(runs)
        if [r.run_id for r in runs] == [r.run_id for r in self.runs] and settings == self.settings:
            self.runs = runs
            if runs:
                self.dataChanged.emit(self.index(0, 0), self.index(len(runs) - 1, len(self.columns) - 1))
            return
        self.beginResetModel()
        self.runs, self.settings = runs, settings
        self.columns = _columns_before() + [_setting_column(k, runs) for k in settings] + _columns_after()
        self.endResetModel()

    def column_of(self, title: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.title == title)

    # QAbstractTableModel -----------------------------------------------------------------------

    def rowCount(self, parent=None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.runs)

    def columnCount(self, parent=None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        run, column = self.runs[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(run)
        if role == SORT_ROLE:
            return column.key(run)
        if role == RUN_ROLE:
            return run
        if role == Qt.ItemDataRole.ToolTipRole:
            if run.error or column.title == "ended":
                return ended_text(run)
            return (run.model.get("path") or None) if column.title == "model" else None
        if role == Qt.ItemDataRole.ForegroundRole and (run.error or run.state == RUNNING and column.title == "ended"):
            return QBrush(GREY if run.error else QColor(40, 120, 200))
        if role == Qt.ItemDataRole.TextAlignmentRole and isinstance(column.key(run), float) and column.title != "started":
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.columns[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.columns[section].tip or None
        return None


def sorted_proxy(model: RunsTable, parent=None) -> QSortFilterProxyModel:
    """The proxy that sorts the table by each cell's SORT_ROLE key."""
    proxy = QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    return proxy
