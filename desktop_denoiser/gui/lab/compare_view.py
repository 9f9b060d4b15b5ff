"""The compare tab: every installed denoiser and the classical filters on the current noisy
input, with PSNR and SSIM against the clean input and the digit the classifier reads. Heavier
than the other views (one pass per model), so it runs once a second at most while live, or on
Refresh."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from .widgets import DigitTile, LabView, LiveJob

COLUMNS = 4
MAX_CELLS = 20
LIVE_MS = 1000


class Compiled:
    """A denoiser's single-image call, traced once (``compare`` calls ``denoise``): about a
    millisecond a model where an eager Keras call takes 20-30."""

    def __init__(self, model):
        import tensorflow as tf

        spec = tf.TensorSpec((1, 28, 28, 1), tf.float32)
        self.fn = tf.function(lambda x: model(x, training=False), input_signature=[spec],
                              autograph=False).get_concrete_function()

    def denoise(self, images):
        import numpy as np

        return np.asarray(self.fn(np.asarray(images, np.float32).reshape(1, 28, 28, 1)))[..., 0]


def compiled_denoisers(store) -> dict:
    """Every usable installed denoiser, loaded and traced: name -> Compiled. In the inference thread."""
    from ...core.lab import installed_denoisers
    from ..workers import no_gc_pauses

    with no_gc_pauses():
        return {name: Compiled(model) for name, model in installed_denoisers(store).items()}


class CompareView(LabView):
    tab_title = "Compare"

    def __init__(self, session, store, parent=None):
        super().__init__(session, parent)
        self.store = store
        self.rows = None  # the core.lab compare Rows shown
        self._denoisers = None  # name -> Pipeline, loaded once per lab
        self.refresh = QPushButton("Refresh")
        self.refresh.clicked.connect(self._request)
        self.live = QCheckBox("Live (once a second)")
        self.live.setChecked(True)
        self.about = QLabel(" ")
        self.about.setWordWrap(True)
        self.cells = [DigitTile(minimum=84, compact=True) for _ in range(MAX_CELLS)]
        holder = QWidget()
        grid = QGridLayout(holder)
        for i, cell in enumerate(self.cells):
            grid.addWidget(cell, i // COLUMNS, i % COLUMNS)
            cell.hide()
        grid.setRowStretch(MAX_CELLS // COLUMNS + 1, 1)  # the cells keep their size, the space goes below
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(holder)
        self.job = LiveJob(session, LIVE_MS, self)
        top = QHBoxLayout()
        top.addWidget(self.refresh)
        top.addWidget(self.live)
        top.addWidget(self.about, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)

    def lab_changed(self, lab) -> None:
        self._denoisers = None  # the models may have changed (a new one trained, one deleted)
        if lab is not None and self.current:
            self._request()

    def shown(self) -> None:
        self._request()

    def frame_changed(self, frame) -> None:
        if self.live.isChecked():
            self._request()

    def _request(self) -> None:
        ready = self.ready(self.about, "Draw, open or pick a digit to compare the denoisers on it.")
        if ready is None:
            return
        lab, frame = ready
        noisy, clean, known, store = frame.noisy.copy(), frame.clean.copy(), self._denoisers, self.store
        classifier = lab if lab.classifier is not None else None
        if known is None:
            self.about.setText("Loading every installed denoiser…")

        def job(pipeline):
            from ...core.lab import compare as compare_mod

            denoisers = known if known is not None else compiled_denoisers(store)
            return denoisers, compare_mod.compare(noisy, denoisers, classifier, clean=clean)

        self.job.request(job, self._show, self.about.setText)

    def _show(self, result) -> None:
        self._denoisers, rows = result
        self.rows = rows
        best = max((r for r in rows if r.kind != "input" and r.psnr is not None), key=lambda r: r.psnr, default=None)
        for i, cell in enumerate(self.cells):
            if i < len(rows):
                r = rows[i]
                lines = []
                if r.psnr is not None:
                    lines += [f"PSNR {r.psnr:.1f} dB", f"SSIM {r.ssim:.3f}"]
                if r.digit is not None:
                    lines.append(f"digit {r.digit} ({100 * r.confidence:.0f}%)")
                cell.show_digit(r.image, r.name, "\n".join(lines) or " ", highlight=r is best)
                cell.setToolTip(f"{r.name}: {r.kind}")
            cell.setVisible(i < len(rows))
        self.about.setText("PSNR and SSIM against the clean input (before the noise)"
                           + (f"; highest PSNR: <b>{best.name}</b>" if best is not None else ""))
