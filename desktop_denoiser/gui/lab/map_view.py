"""The latent map tab: 5,000 test digits' codes on a plane, the live markers of the frame, hover
to see a digit, click to decode a code into the window's input, and the t-SNE option."""

from __future__ import annotations

import html
from typing import Optional

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QStackedWidget,
                               QVBoxLayout, QWidget)

from .map_plot import MapPlot
from .widgets import DigitTile, LabView, Note

EXACT, TSNE = 0, 1


def no_code_text(lab, what: str) -> str:
    """Why ``lab`` has no ``what`` to show (its bottleneck's own description), as rich text."""
    hint = "The <i>Inside</i> tab can zero them. " if lab.is_unet else ""
    return (f"<p><b>{html.escape(lab.name)} has no {what} to show.</b></p>"
            f"<p>Its bottleneck: {html.escape(lab.bottleneck.description)}.</p>"
            f"<p>{hint}Pick <b>dense-2d</b> (a 2-D code), <b>dense-uniform</b> or <b>conv-blur+uniform</b> "
            "in the toolbar's denoiser list to see a map.</p>")


def _hex(rgb) -> str:
    return "#%02x%02x%02x" % tuple(rgb)


def legend_html() -> str:
    """The classes' colours and the markers, as rich text for the side column."""
    from ...core.lab.drawing import MARKER_COLOURS, PALETTE

    cells = [f'<td><span style="color:{_hex(PALETTE[k])}; font-size:15pt">●</span> {k}</td>' for k in range(10)]
    rows = "".join(f"<tr>{''.join(cells[i:i + 5])}</tr>" for i in (0, 5))
    marks = [("○", "clean input", "clean"), ("✕", "noisy input", "noisy"), ("◆", "reconstruction", "reconstruction")]
    lines = "".join(f'<span style="color:{_hex(MARKER_COLOURS[key])}; font-size:13pt"><b>{sym}</b></span> {text}<br>'
                    for sym, text, key in marks)
    return (f"<b>Class</b> of each test digit<table cellspacing=3>{rows}</table><br><b>The current input</b><br>"
            f"{lines}arrow: noisy → reconstruction<br>")


def missing_text(session, what: str) -> str:
    """Why there is no map yet: loading, no denoiser, or MNIST missing."""
    if session.digits_error:
        return (f"<p><b>The {what} needs the MNIST test digits.</b></p><p>{html.escape(session.digits_error)}</p>")
    return f"<p>{html.escape(session.text or 'Preparing the lab…')}</p>"


class MapView(LabView):
    tab_title = "Latent map"
    digit_chosen = Signal(object, str)  # a decoded (28, 28) digit for the window's input, its description

    def __init__(self, session, parent=None):
        super().__init__(session, parent)
        self.live = None  # the last frame's core.lab Markers shown (None: none)
        self.decoded: Optional[tuple] = None  # (image, name) of the last click's decoded digit
        self.method = QComboBox()
        self.method.addItems(["2-D code", "t-SNE"])
        self.method.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.method.setToolTip("PCA: instant, and every position decodes. t-SNE: keeps neighbours together "
                               "(minutes; needs scikit-learn), positions between points do not decode.")
        self.method.activated.connect(self._method_chosen)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(session.cancel_tsne)
        self.about = QLabel(" ")
        self.about.setWordWrap(True)
        self.plot = MapPlot(legend=False)
        self.map_plot = self.plot
        self.note = Note()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.plot)
        self.stack.addWidget(self.note)
        self.hover = DigitTile("Hover a point", "The test digit under the pointer", minimum=84)
        self._layout()
        self.plot.hovered.connect(self._hovered)
        self.plot.clicked.connect(self._clicked)
        session.progress.connect(self._progress)
        session.status.connect(lambda _text: self._refresh())
        self._progress(-1.0, "")
        self._refresh()

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Projection:"))
        top.addWidget(self.method)
        top.addWidget(self.about, 1)
        running = QHBoxLayout()  # shown while the t-SNE map is computed
        running.addWidget(self.progress, 1)
        running.addWidget(self.cancel)
        side = QVBoxLayout()
        side.addWidget(self.hover)
        help_text = QLabel(legend_html() + "<br><b>Click</b> a point: its code is decoded and becomes the input. "
                           "Click between points (PCA, 2-D code): that position is decoded.<br><br>Scroll to zoom, drag to pan.")
        help_text.setWordWrap(True)
        help_text.setAlignment(Qt.AlignmentFlag.AlignTop)
        side.addWidget(help_text, 1)
        body = QHBoxLayout()
        body.addWidget(self.stack, 1)
        self.side = QWidget()
        self.side.setLayout(side)
        self.side.setFixedWidth(165)
        body.addWidget(self.side)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(running)
        layout.addLayout(body, 1)

    # session -----------------------------------------------------------------------------------

    def lab_changed(self, lab) -> None:
        self._refresh()

    def map_changed(self, latent_map) -> None:
        super().map_changed(latent_map)
        self.live = None
        self.hover.show_digit(None, "Hover a point", " ")
        self._refresh()

    def _refresh(self) -> None:
        s = self.session
        lab, lmap = s.lab, s.map
        from ...core.lab import tsne_available

        exact = "2-D code" if lab is not None and lab.code_size == 2 else "PCA"
        self.method.setItemText(EXACT, exact)
        self.method.model().item(TSNE).setEnabled(tsne_available())
        self.method.setItemData(TSNE, None if tsne_available() else
                                "needs scikit-learn: pip install 'desktop-denoiser[lab]'", Qt.ItemDataRole.ToolTipRole)
        self.method.setCurrentIndex(TSNE if lmap is not None and lmap.method == "tsne" or s.tsne_running else EXACT)
        self.method.setEnabled(lmap is not None)
        if lab is not None and not lab.has_code:
            self.note.setText(no_code_text(lab, "latent map"))
        elif lmap is None:
            self.note.setText(missing_text(s, "latent map"))
        self.stack.setCurrentWidget(self.plot if lmap is not None else self.note)
        self.side.setVisible(lmap is not None)
        self.about.setText(" " if lmap is None else
                           f"{lmap.model_name}: {len(lmap.points):,} test digits, {lmap.describe()}")

    def _method_chosen(self, index: int) -> None:
        if index == TSNE:
            self.session.start_tsne()
        else:
            self.session.use_exact_map()

    def _progress(self, fraction: float, text: str) -> None:
        running = fraction >= 0
        self.progress.setVisible(running)
        self.cancel.setVisible(running)
        if running:
            self.progress.setValue(int(1000 * fraction))
            self.progress.setFormat(text or "t-SNE…")
        elif text == "cancelled":
            self.about.setText("t-SNE cancelled; the PCA map stays.")
            self.method.setCurrentIndex(EXACT)

    # frames and the pointer --------------------------------------------------------------------

    def frame_changed(self, frame) -> None:
        lmap = self.session.map
        live = frame.extras.get("lab")
        ok = (live is not None and lmap is not None and live.model == lmap.model_name and live.method == lmap.method)
        self.live = live.markers if ok else None
        self.plot.set_markers(self.live)
        if ok:  # a tooltip: a text changing every frame would lay the dock out again every frame
            self.about.setToolTip(f"The markers of the last frame took {1000 * live.seconds:.1f} ms "
                                  "(encode three images, place them on the map)")

    def _hovered(self, index: int) -> None:
        digits = self.session.digits
        if index < 0 or digits is None or index >= len(digits[0]):
            return
        self.hover.show_digit(digits[0][index], f"test digit #{index}", f"label {int(digits[1][index])}")

    def _clicked(self, x: float, y: float, index: int) -> None:
        s = self.session
        lab, lmap = s.lab, s.map
        if lab is None or lmap is None:
            return
        if index >= 0:
            code = lmap.codes[index]
            name = f"the decoded code of test digit #{index} (label {int(lmap.labels[index])})"
        elif lmap.projector.exact_inverse:
            code = lmap.code_at((x, y))
            name = f"the code decoded at map position ({x:.2f}, {y:.2f})"
        else:
            self.about.setText("On a t-SNE map, click a point: positions between points have no code.")
            return
        code = np.asarray(code, np.float32).copy()

        def done(image) -> None:
            self.decoded = (image, name)
            self.digit_chosen.emit(image, name)

        s.run(lambda pipeline: lab.decode(code)[0], done)

