"""The interpolation tab: from input A to input B along the straight line between their codes
(decoded) and as a plain pixel blend, every step read by the classifier; the step where the
predicted digit flips is highlighted, and the latent path is drawn on a small map."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout

from .map_plot import MapPlot
from .widgets import LabView, LiveJob, TileRow, digit_caption, flips

STEPS = 12
CURRENT, TEST = 0, 1
LIVE_MS = 200  # at most five interpolations a second while the current input changes


class Slot:
    """One end of the interpolation: the current input or MNIST test digit #N."""

    def __init__(self, name: str, source: int, index: int, changed):
        self.name = name
        self.source = QComboBox()
        self.source.addItems(["the current input", "test digit #"])
        self.source.setCurrentIndex(source)
        self.index = QSpinBox()
        self.index.setRange(0, 9999)
        self.index.setValue(index)
        self.index.setToolTip("Index in the MNIST test set")
        self.source.currentIndexChanged.connect(lambda _i: (self._enable(), changed()))
        self.index.valueChanged.connect(lambda _v: changed())
        self._enable()

    def _enable(self) -> None:
        self.index.setEnabled(self.source.currentIndex() == TEST)

    @property
    def uses_frame(self) -> bool:
        return self.source.currentIndex() == CURRENT

    def describe(self) -> str:
        return "the current input" if self.uses_frame else f"test digit #{self.index.value()}"


def _test_digit(index: int):
    from ...core import data

    mnist = data.load_mnist()
    return data.to_float(mnist.x_test[index])


class InterpolateView(LabView):
    tab_title = "Interpolation"

    def __init__(self, session, parent=None):
        super().__init__(session, parent)
        self.result = None  # the core.lab Interpolation shown
        self.a = Slot("A", CURRENT, 0, self._request)
        self.b = Slot("B", TEST, 1, self._request)
        self.go = QPushButton("Interpolate")
        self.go.clicked.connect(self._request)
        self.about = QLabel(" ")
        self.about.setWordWrap(True)
        self.latent_label = QLabel("<b>Latent path</b>: the codes of A and B mixed, (1−t)·code(A) + t·code(B), decoded")
        self.latent_label.setWordWrap(True)
        self.latent = TileRow(STEPS)
        self.blend_label = QLabel("<b>Pixel blend</b>: (1−t)·A + t·B")
        self.blend = TileRow(STEPS)
        self.plot = MapPlot(legend=False, point_size=3, marker_size=12)
        self.plot.setMinimumHeight(160)
        self.job = LiveJob(session, LIVE_MS, self)
        self.map_plot = self.plot
        self._layout()

    def _layout(self) -> None:
        slots = QGridLayout()
        for row, slot in enumerate((self.a, self.b)):
            slots.addWidget(QLabel(f"<b>{slot.name}</b>:"), row, 0)
            slots.addWidget(slot.source, row, 1)
            slots.addWidget(slot.index, row, 2)
        top = QHBoxLayout()
        top.addLayout(slots)
        top.addWidget(self.go)
        top.addWidget(self.about, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        for w in (self.latent_label, self.latent, self.blend_label, self.blend):
            layout.addWidget(w)
        layout.addWidget(self.plot, 1)

    def lab_changed(self, lab) -> None:
        self.result = None
        self.latent.clear()
        self.blend.clear()
        if self.current:
            self._request()

    def map_drawn(self) -> None:
        self.plot.setVisible(self.session.map is not None)
        self._draw_path()

    def shown(self) -> None:
        self.show_map()
        self._request()

    def frame_changed(self, frame) -> None:
        if self.a.uses_frame or self.b.uses_frame:
            self._request()

    def _request(self) -> None:
        needs_frame = self.a.uses_frame or self.b.uses_frame
        ready = self.ready(self.about, "Draw, open or pick a digit: a slot uses the current input." if needs_frame else None)
        if ready is None:
            return
        lab, frame = ready
        clean = None if frame is None else frame.clean.copy()
        ends = [(slot.uses_frame, slot.index.value()) for slot in (self.a, self.b)]
        names = (self.a.describe(), self.b.describe())

        def job(pipeline):
            from ...core.lab.interpolate import interpolate

            a, b = (clean if from_frame else _test_digit(index) for from_frame, index in ends)
            return interpolate(lab, a, b, STEPS)

        self.job.request(job, lambda r: self._show(r, names), self._failed)

    def _failed(self, message: str) -> None:
        self.about.setText(message)

    def _show(self, r, names) -> None:
        self.result = r
        titles = [f"t={t:.2f}" for t in r.t]
        if r.latent is not None:
            n = len(r.t)
            captions = [digit_caption(r.latent_probs, i, True) for i in range(n)] if r.latent_probs is not None else []
            self.latent.fill(list(r.latent), titles, captions, flips(r.latent_digits))
            self.latent_label.setText("<b>Latent path</b>: (1−t)·code(A) + t·code(B), decoded "
                                      "(the highlighted step is where the predicted digit changes)")
        else:
            self.latent.clear()
            self.latent_label.setText(f"<b>Latent path</b>: {r.note}")
        captions = [digit_caption(r.blend_probs, i, True) for i in range(len(r.t))] if r.blend_probs is not None else []
        self.blend.fill(list(r.blend), titles, captions, flips(r.blend_digits))
        self.about.setText(f"A = {names[0]}, B = {names[1]}; {len(r.t)} steps.")
        self._draw_path()

    def _draw_path(self) -> None:
        self.show_path("interpolation", self.result.codes if self.result is not None else None, (30, 30, 30))
