"""The training panel: settings, Start/Cancel, progress with ETA, live loss curves."""

from __future__ import annotations

import math
from typing import Optional

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from ..core import models
from ..core.durations import clock
from ..core.figures import ModelFigures
from ..core.noise import KINDS
from ..core.training import TrainConfig
from ..core.training_end import Outcome, TrainingEnd
from .noise_panel import NoisePanel
from .training_data_row import TrainingDataRow


CURVE_REDRAW_MS = 250  # the loss curves are redrawn at most four times a second


def progress_format(outcome: Outcome) -> str:
    """The progress bar's text once a training has ended."""
    return "failed" if outcome is Outcome.FAILED else "cancelled" if outcome.cancelled else "done"


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k at or above ``value`` (> 0)."""
    if value <= 0:
        return 1.0
    k = math.floor(math.log10(value))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * 10**k >= value * (1 - 1e-12):
            return m * 10**k
    return 10 ** (k + 1)


def _nice_floor(value: float) -> float:
    """0 for values near 0 or below, else the largest of those steps at or below ``value``."""
    if value <= 0:
        return -_nice_ceiling(-value) if value < 0 else 0.0
    k = math.floor(math.log10(value))
    for m in (8, 6, 5, 4, 3, 2.5, 2, 1.5, 1.2, 1):
        if m * 10**k <= value * (1 + 1e-12):
            return m * 10**k
    return 10**k


def run_caption(config) -> str:
    """A training's settings in a few words: "dense, noise uniform:level=0.5, 5 epochs"."""
    from ..core.run_report import noise_text

    cfg = config.to_dict() if hasattr(config, "to_dict") else dict(config or {})
    return f"{cfg.get('arch', '?')}, noise {noise_text(cfg)}, {cfg.get('epochs', '?')} epochs"


class TrainingPanel(QWidget):
    start_requested = Signal(object, str)  # TrainConfig, name ("" = automatic)
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QHBoxLayout(self)
        outer.addWidget(self._build_settings())
        outer.addLayout(self._build_progress(), 1)
        self.start.clicked.connect(self._start_clicked)
        self.cancel.clicked.connect(self._cancel_clicked)
        self.arch.currentIndexChanged.connect(self._arch_changed)
        self._arch_changed()
        self._reset_curves()
        self.end: Optional[TrainingEnd] = None  # how the last training ended

    def _build_settings(self) -> QGroupBox:
        settings = QGroupBox("New model")
        form = QFormLayout(settings)
        self.arch = QComboBox()
        for name, arch in models.ARCHITECTURES.items():
            self.arch.addItem(f"{name} — {arch.summary}", name)
        self.arch.setToolTip("The network to train; 'unet' is our design, 'dense' and 'conv' are the articles'")
        form.addRow("Architecture", self.arch)
        self.noise = NoisePanel(kinds=[k for k in KINDS if k != "none"], with_seed=False)
        form.addRow(self.noise)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setValue(5)
        form.addRow("Epochs", self.epochs)
        self.batch = QSpinBox()
        self.batch.setRange(8, 4096)
        self.batch.setValue(128)
        form.addRow("Batch size", self.batch)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(0.00001, 0.1)
        self.lr.setSingleStep(0.0005)
        self.lr.setValue(0.001)
        form.addRow("Learning rate", self.lr)
        self.subset = QSpinBox()
        self.subset.setRange(100, 60000)
        self.subset.setSingleStep(1000)
        self.subset.setValue(10000)
        self.subset.setToolTip("How many MNIST training images to use (fewer: faster, rougher)")
        form.addRow("Training images", self.subset)
        self.bottleneck = QSpinBox()  # the code size of dense and conv; the architecture's own shows as its default
        self.bottleneck.setRange(1, 784)
        self.bottleneck.setToolTip("Code size: the numbers the encoder keeps of a digit (2: the lab's map is the code "
                                   "itself). The articles' 64 (dense) and 128 (conv) build their networks exactly.")
        form.addRow("Bottleneck", self.bottleneck)
        self.data_row = TrainingDataRow(self.lr, self)  # MNIST or a folder of one's own digits, the MNIST share, start from
        for label, widget in self.data_row.rows():
            form.addRow(label, widget)
        self.arch.currentIndexChanged.connect(lambda: self.data_row.set_kind(models.get(self.arch.currentData()).kind))
        self.data_row.set_kind(models.get(self.arch.currentData()).kind)
        self.name = QLineEdit()
        self.name.setPlaceholderText("automatic (architecture-noise)")
        form.addRow("Name", self.name)
        buttons = QHBoxLayout()
        self.start = QPushButton("Start training")
        self.start.setDefault(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.cancel.setToolTip("Stop after the current batch and keep the best epoch so far")
        buttons.addWidget(self.start)
        buttons.addWidget(self.cancel)
        form.addRow(buttons)
        return settings

    def _build_progress(self) -> QVBoxLayout:
        right = QVBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        right.addWidget(self.progress)
        self.details = QLabel("Pick settings and press Start training.")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        right.addWidget(self.details)
        self.device = QLabel(" ")
        right.addWidget(self.device)
        self.curves_caption = QLabel(" ")  # which run the curves are of: they stay after it ends, until the next starts
        self.curves_caption.setWordWrap(True)
        right.addWidget(self.curves_caption)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "batch")
        self.plot.setLabel("left", "loss")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(-4, 4), labelTextSize="8pt")
        self.train_curve = self.plot.plot([], [], pen=pg.mkPen((52, 132, 228), width=1.5), name="training (smoothed)")
        self.val_curve = self.plot.plot([], [], pen=pg.mkPen((230, 120, 40), width=2), symbol="o", symbolSize=6,
                                        symbolBrush=(230, 120, 40), name="validation (per epoch)")
        self.plot.setMinimumHeight(120)
        # Ranges are set by hand, in steps: autoranging on every new point made pyqtgraph
        # re-lay out and repaint both axes each time, the GUI thread's largest cost in a training.
        self.plot.disableAutoRange()
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self._ranges = None
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(CURVE_REDRAW_MS)
        self._redraw.timeout.connect(self._draw_curves)
        right.addWidget(self.plot, 1)
        return right

    # settings ---------------------------------------------------------------------------------

    def _arch_changed(self) -> None:
        arch = models.get(self.arch.currentData())
        is_classifier = arch.kind == "classifier"
        self.noise.setEnabled(not is_classifier)
        self.noise.setToolTip("The classifier trains on clean, augmented digits" if is_classifier else "")
        self.bottleneck.setEnabled(arch.bottleneck is not None)  # the U-Net's skips bypass its deepest level
        if arch.bottleneck is not None:
            self.bottleneck.setSpecialValueText("")
            self.bottleneck.setValue(arch.bottleneck)
        else:
            self.bottleneck.setSpecialValueText("none")
            self.bottleneck.setValue(self.bottleneck.minimum())

    def config(self) -> TrainConfig:
        arch = self.arch.currentData()
        kind = models.get(arch).kind
        from ..core.noise import NoiseSpec

        noise = self.noise.spec() if kind == "denoiser" else NoiseSpec("none")
        code = self.bottleneck.value() if self.bottleneck.isEnabled() else None
        default = models.get(arch).bottleneck
        return TrainConfig(arch=arch, noise=noise, epochs=self.epochs.value(), batch_size=self.batch.value(),
                           learning_rate=self.lr.value(), subset=self.subset.value(),
                           bottleneck=None if code is None or code == default else code, **self.data_row.fields())

    def _start_clicked(self) -> None:
        self.start_requested.emit(self.config(), self.name.text().strip())

    def _cancel_clicked(self) -> None:
        self.cancel.setEnabled(False)
        self.progress.setFormat("cancelling… %p%")
        self.cancel_requested.emit()

    # state shown while training ---------------------------------------------------------------

    def _reset_curves(self) -> None:
        self._train_x: list[float] = []
        self._train_y: list[float] = []
        self._val_x: list[float] = []
        self._val_y: list[float] = []
        self.train_curve.setData([], [])
        self.val_curve.setData([], [])
        self._ranges = None
        self.plot.setXRange(0, 1, padding=0)
        self.plot.setYRange(0, 1, padding=0)

    def training_started(self, config=None) -> None:
        """A training (of ``config``, a TrainConfig, when given) starts: its own curves."""
        self.end = None
        self._reset_curves()
        self.curves_caption.setText(f"Curves of this run{': ' + run_caption(config) if config is not None else ''}.")
        self.start.setEnabled(False)
        self.cancel.setEnabled(True)
        self.progress.setRange(0, 0)  # busy: the training process starts (TensorFlow loads there)
        self.progress.setFormat("starting…")
        self.details.setText("Starting…")

    def run_started(self, text: str) -> None:
        """A sweep's next run: its own curves, the text saying which run it is."""
        self._reset_curves()
        self.details.setText(text)

    def job_finished(self, text: str) -> None:
        """A sweep is over (its runs' figures are in its record): allow a new training."""
        self.progress.setRange(0, 1000)
        self._draw_curves()
        self.start.setEnabled(True)
        self.cancel.setEnabled(False)
        self.progress.setFormat("sweep ended")
        self.details.setText(text)

    def show_status(self, text: str) -> None:
        self.details.setText(text)

    def show_progress(self, p) -> None:
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * p.fraction))
        self.progress.setFormat(f"epoch {p.epoch}/{p.epochs} · %p% · ETA {clock(p.eta)}")
        self.details.setText(f"batch {p.batch}/{p.batches} · loss {p.loss:.4f} · {p.images_per_s:,.0f} images/s · "
                             f"elapsed {clock(p.elapsed)}")
        self._train_x.append(p.step)
        self._train_y.append(p.loss)
        if not self._redraw.isActive():
            self._redraw.start()

    def show_epoch(self, e) -> None:
        self._val_x.append(e.step)
        self._val_y.append(e.val_loss)
        self._draw_curves()
        self.details.setText(f"epoch {e.epoch}: loss {e.loss:.4f}, val loss {e.val_loss:.4f}, {e.val_metric_text()}")

    def _draw_curves(self) -> None:
        """Show the points so far; called at most every CURVE_REDRAW_MS while batches arrive."""
        self._redraw.stop()
        self.train_curve.setData(self._train_x, self._train_y)
        self.val_curve.setData(self._val_x, self._val_y)
        ys = [y for y in self._train_y + self._val_y if math.isfinite(y)]
        if not ys:
            return
        xs = self._train_x + self._val_x
        ranges = (_nice_ceiling(max(xs)), _nice_floor(min(ys)), _nice_ceiling(max(ys)))
        if ranges != self._ranges:  # the axes are re-laid out only when a range really changes
            self._ranges = ranges
            self.plot.setXRange(0, ranges[0], padding=0)
            self.plot.setYRange(ranges[1], ranges[2], padding=0.02)

    def training_finished(self, end: TrainingEnd) -> None:
        """The training is over: show how it ended (``end.describe()``) and allow a new one."""
        self.end = end
        self.progress.setRange(0, 1000)
        self._draw_curves()
        self.start.setEnabled(True)
        self.cancel.setEnabled(False)
        self.progress.setFormat(progress_format(end.outcome))
        if end.outcome.completed:
            self.progress.setValue(1000)
        if end.device:
            self.set_device(end.device)
        self.details.setText(end.describe())
        run_id = end.entry.meta.get("run_id") if end.entry is not None else None
        which = f"run {run_id[:8]}, " if isinstance(run_id, str) else ""
        self.curves_caption.setText(f"Curves of the last run ({which}{progress_format(end.outcome)}): {run_caption(end.config)}; "
                                    "they stay until the next training starts.")

    def show_measuring(self, images: int) -> None:
        """The new model is being measured on ``images`` test digits."""
        self._after_end(f"Measuring it on {images:,} test digits…")

    def show_figures(self, figures: ModelFigures) -> None:
        """The new model's test figures are in."""
        self._after_end(f"Measured: {figures.headline()}." if figures.measured else "It could not be measured.")

    def _after_end(self, text: str) -> None:
        self.details.setText(f"{self.end.describe()} {text}" if self.end is not None else text)

    def set_device(self, text: str) -> None:
        self.device.setText(f"Device: {text}")

    # persistence -------------------------------------------------------------------------------

    def save_settings(self, settings) -> None:
        settings.setValue("training/arch", self.arch.currentData())
        settings.setValue("training/noise", str(self.noise.spec()))
        settings.setValue("training/epochs", self.epochs.value())
        settings.setValue("training/batch", self.batch.value())
        settings.setValue("training/lr", self.lr.value())
        settings.setValue("training/subset", self.subset.value())
        self.data_row.save_settings(settings)

    def restore_settings(self, settings) -> None:
        from ..core.errors import ConfigError
        from ..core.noise import NoiseSpec

        i = self.arch.findData(settings.value("training/arch", "unet"))
        if i >= 0:
            self.arch.setCurrentIndex(i)
        try:
            self.noise.set_spec(NoiseSpec.parse(str(settings.value("training/noise", "uniform"))))
        except ConfigError:
            pass
        for box, key in ((self.epochs, "epochs"), (self.batch, "batch"), (self.subset, "subset")):
            value = settings.value(f"training/{key}")
            if value is not None:
                box.setValue(int(value))
        lr = settings.value("training/lr")
        if lr is not None:
            self.lr.setValue(float(lr))
        self.data_row.restore_settings(settings)
