"""Training › Sweep…: one or two settings swept over values, one training per combination, and
the chart of downstream accuracy and PSNR against the swept value, drawn as the runs finish.

The sweep is the core's (:class:`~.core.sweeps.Sweep`, the same one ``desktop-denoiser sweep``
makes): its base is the training panel's settings, its runs train one after the other in the
training process (:meth:`TrainingControl.start_sweep`, so a sweep and a training never run at
once), each recorded as a run and stored as a model. Past sweeps are listed from their records
(:mod:`.core.sweep_record`) and drawn the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox,
    QVBoxLayout,
)

from ..core import sweep_chart, sweep_record
from ..core.errors import DenoiserError
from ..core.sweeps import AXES, DEFAULT_EVAL_LIMIT, Sweep, describe_config, parse_values
from .sweep_chart_view import SweepChartView

NONE = ""  # the second axis's "no second setting"
DEFAULTS = (("noise_level", "0.3,0.6,0.9"), ("bottleneck", "16,32,64"))


class SweepWindow(QDialog):
    """Set up, run, cancel and chart a sweep; ``window`` is the main window (its training panel
    gives the base settings, its training control runs the sweep)."""

    def __init__(self, window, parent=None):
        super().__init__(parent or window)
        self.setWindowTitle("Training sweep")
        self.setWindowFlag(Qt.WindowType.Window)
        self.window_ = window
        self.thread = None
        self.record: Optional[sweep_record.SweepRecord] = None
        outer = QVBoxLayout(self)
        outer.addLayout(self._build_form())
        outer.addLayout(self._build_controls())
        self.chart = SweepChartView()
        outer.addWidget(self.chart, 1)
        self.resize(1100, 640)
        self.refresh_base()
        self.list_past()

    # the form ---------------------------------------------------------------------------------

    def _build_form(self) -> QFormLayout:
        form = QFormLayout()
        base_row = QHBoxLayout()
        self.base = QLabel()
        self.base.setWordWrap(True)
        take = QPushButton("Take the training panel's settings")
        take.clicked.connect(self.refresh_base)
        base_row.addWidget(self.base, 1)
        base_row.addWidget(take)
        form.addRow("Base", base_row)
        self.axes = []
        for i, (name, values) in enumerate(DEFAULTS):
            combo = QComboBox()
            if i == 1:
                combo.addItem("— (one setting only)", NONE)
            for axis in AXES.values():
                combo.addItem(axis.label, axis.name)
            combo.setCurrentIndex(combo.findData(name if i == 0 else NONE))
            edit = QLineEdit(values)
            edit.setPlaceholderText("comma-separated values, e.g. 0.3,0.6,0.9 or dense,conv")
            row = QHBoxLayout()
            row.addWidget(combo)
            row.addWidget(edit, 1)
            form.addRow(f"Setting {i + 1}", row)
            combo.currentIndexChanged.connect(self.check)
            edit.textChanged.connect(self.check)
            self.axes.append((combo, edit))
        self.eval_limit = QSpinBox()
        self.eval_limit.setRange(100, 10000)
        self.eval_limit.setSingleStep(500)
        self.eval_limit.setValue(DEFAULT_EVAL_LIMIT)
        self.eval_limit.setToolTip("Test digits each run is measured on (the same for every run)")
        self.prefix = QLineEdit("sweep")
        self.prefix.setToolTip("The models are named PREFIX-<values>")
        extra = QHBoxLayout()
        extra.addWidget(self.eval_limit)
        extra.addWidget(QLabel("Model names"))
        extra.addWidget(self.prefix, 1)
        form.addRow("Test digits", extra)
        self.eval_limit.valueChanged.connect(self.check)
        self.prefix.textChanged.connect(self.check)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        form.addRow("", self.summary)
        return form

    def _build_controls(self) -> QVBoxLayout:
        box = QVBoxLayout()
        row = QHBoxLayout()
        self.run_button = QPushButton("Run sweep")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel sweep")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the run in flight (it keeps nothing) and skip the rest; finished runs stay")
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = QPushButton("Export chart PNG…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_dialog)
        self.past = QComboBox()
        self.past.setToolTip("Show the chart of an earlier sweep")
        self.past.setMinimumContentsLength(48)
        self.past.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.past.activated.connect(self._past_chosen)
        for w in (self.run_button, self.cancel_button, self.export_button):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(QLabel("Past sweeps"))
        row.addWidget(self.past)
        box.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        box.addWidget(self.progress)
        self.status = QLabel(" ")
        self.status.setWordWrap(True)
        box.addWidget(self.status)
        return box

    def refresh_base(self) -> None:
        self._base = self.window_.training.config()
        self.base.setText(describe_config(self._base))
        self.check()

    def make_sweep(self) -> Sweep:
        """The sweep the form describes (ConfigError with the reason when it is not one)."""
        settings = {}
        for combo, edit in self.axes:
            name = combo.currentData()
            if name == NONE:
                continue
            settings[name] = parse_values(name, edit.text())
        # a setting given one value is set on the base, as the command does
        return Sweep.from_settings(self._base, settings, self.prefix.text().strip() or "sweep", self.eval_limit.value())

    def check(self) -> Optional[Sweep]:
        try:
            sweep = self.make_sweep()
        except DenoiserError as exc:
            self.summary.setText(f"<span style='color:#b00020'>{exc}</span>")
            self.run_button.setEnabled(False)
            return None
        self.summary.setText(sweep.describe())
        self.run_button.setEnabled(self.thread is None)
        return sweep

    # running ----------------------------------------------------------------------------------

    def start(self) -> bool:
        sweep = self.check()
        if sweep is None:
            return False
        if self.window_.is_training():
            self.window_.show_info("Sweep", "A training is running. Cancel it or wait until it finishes.")
            return False
        try:
            thread = self.window_.training_control.start_sweep(sweep)
        except DenoiserError as exc:
            self.window_.show_error("Sweep", str(exc))
            return False
        self.thread = thread
        thread.record.connect(self.show_record)
        thread.run_start.connect(lambda r: self.status.setText(f"Run {r.index + 1}/{r.total}: {r.name} — {r.description}"))
        thread.progress.connect(self._progress)
        thread.status.connect(self.status.setText)
        thread.ended.connect(self._ended)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress.setFormat(f"{len(sweep.points())} runs · starting…")
        self.chart.clear(f"{sweep.describe()} — the chart is drawn as the runs finish.")
        return True

    def cancel(self) -> None:
        if self.thread is not None:
            self.cancel_button.setEnabled(False)
            self.progress.setFormat("cancelling… %p%")
            self.thread.cancel()

    def _progress(self, rp) -> None:
        self.progress.setValue(int(1000 * rp.fraction))
        p = rp.progress
        self.progress.setFormat(f"run {rp.index + 1}/{rp.total} · epoch {p.epoch}/{p.epochs} · %p% of the sweep")

    def _ended(self, end) -> None:
        self.thread = None
        self.cancel_button.setEnabled(False)
        self.progress.setFormat(end.status)
        if end.status == "finished":
            self.progress.setValue(1000)
        self.status.setText(end.describe())
        if end.record is not None:
            self.show_record(end.record)
        self.list_past()
        self.check()

    def show_record(self, record: sweep_record.SweepRecord) -> None:
        self.record = record
        if any(r.status == sweep_record.FINISHED for r in record.runs) or record.baseline:
            self.chart.show_data(sweep_chart.chart_data(record))
        self.export_button.setEnabled(any(r.status == sweep_record.FINISHED for r in record.runs))

    # past sweeps and export --------------------------------------------------------------------

    def list_past(self) -> None:
        records, _problems = sweep_record.list_records()
        self.past.clear()
        for record in reversed(records):  # newest first
            self.past.addItem(record.summary()[:90], record.id)
        self.past.setEnabled(bool(records))

    def _past_chosen(self, index: int) -> None:
        try:
            self.show_record(sweep_record.load(self.past.itemData(index)))
        except DenoiserError as exc:
            self.status.setText(str(exc))

    def export_dialog(self) -> None:
        name = f"sweep-{self.record.id}.png" if self.record is not None else "sweep.png"
        path, _ = QFileDialog.getSaveFileName(self, "Export sweep chart", str(Path.home() / name), "PNG images (*.png)")
        if path:
            self.export(path, overwrite=True)  # the file dialog has asked before replacing a file

    def export(self, path: str, overwrite: bool = False) -> bool:
        if self.record is None:
            return False
        try:
            written = sweep_chart.write_figure(self.record, path, overwrite)
        except (DenoiserError, OSError) as exc:
            self.status.setText(f"Could not export the chart: {exc}")
            return False
        self.status.setText(f"Exported {written}" if written else "No run finished: there is no chart to export.")
        return written is not None
