"""The inside tab: the feature maps of one layer for the current noisy input (live, at most ten
times a second), the first layer's learned filters, and for the U-Net a switch that zeroes its
skip connections to show what its deepest level carries alone."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout,
                               QWidget)

from ...core.lab.drawing import normalised
from ..tiles import PixelView, array_to_qimage, signed_to_qimage
from .widgets import DigitTile, LabView, LiveJob

MAX_MAPS = 64  # feature maps shown of one layer
COLUMNS = 8
MAX_FILTERS = 32
LIVE_MS = 100  # at most ten layer views a second
UNET_TEXT = ("<b>Why the U-Net has no bottleneck.</b> Its deepest level holds 7×7×64 = 3,136 numbers, four "
             "times the 784 pixels of the input, and its skip connections hand the 28×28 and 14×14 features "
             "straight to the decoder, so detail never has to pass through a narrow code. Zero the skips and the "
             "output shows what the deepest level alone carries.")


def vector_image(v: np.ndarray) -> np.ndarray:
    """A layer's vector as an image: 784 values as 28×28, others in rows of 16."""
    flat = normalised(np.asarray(v).reshape(-1))
    if flat.size == 784:
        return flat.reshape(28, 28)
    rows = int(np.ceil(flat.size / 16))
    out = np.zeros(rows * 16, np.float32)
    out[: flat.size] = flat
    return out.reshape(rows, 16)


class InsideView(LabView):
    tab_title = "Inside"

    def __init__(self, session, parent=None):
        super().__init__(session, parent)
        self.layers = None  # the last list of core.lab LayerOutput
        self.filters = None  # core.lab Filters of the lab, or None
        self.layer = QComboBox()
        self.layer.setMinimumContentsLength(18)
        self.layer.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer.currentIndexChanged.connect(lambda _i: self._draw_layer())
        self.zero_skips = QCheckBox("Zero the skip connections")
        self.zero_skips.setToolTip("U-Net only: rebuild it from its own trained layers with zeros where the skips join")
        self.zero_skips.toggled.connect(lambda _on: self._request())
        self.unet_note = QLabel(UNET_TEXT)
        self.unet_note.setWordWrap(True)
        self.about = QLabel(" ")
        self.about.setWordWrap(True)
        self.input_tile = DigitTile("Noisy input", minimum=84)
        self.output_tile = DigitTile("Output", minimum=84)
        self.stretched_tile = DigitTile("Stretched", "The skip-free output scaled to its own range", minimum=84)
        self.maps = [PixelView(40) for _ in range(MAX_MAPS)]
        self.filter_views = [PixelView(24) for _ in range(MAX_FILTERS)]
        self.filter_label = QLabel(" ")
        self.filter_label.setWordWrap(True)
        self.job = LiveJob(session, LIVE_MS, self)
        self._placed = None  # (maps, columns) of the grid's layout
        self._layout()
        for view in self.maps + self.filter_views:
            view.hide()
        self.stretched_tile.hide()

    def _layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Layer:"))
        top.addWidget(self.layer)
        top.addWidget(self.zero_skips)
        top.addStretch(1)
        grid_holder = QWidget()
        self.grid = QGridLayout(grid_holder)
        self.grid.setSpacing(2)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_holder)
        side = QVBoxLayout()
        side.addWidget(self.input_tile)
        side.addWidget(self.output_tile)
        side.addWidget(self.stretched_tile)
        side.addStretch(1)
        body = QHBoxLayout()
        body.addLayout(side)
        body.addWidget(scroll, 1)
        filters = QGridLayout()
        filters.setSpacing(2)
        for i, view in enumerate(self.filter_views):
            filters.addWidget(view, i // 16, i % 16)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.about)
        layout.addWidget(self.unet_note)
        layout.addLayout(body, 1)
        layout.addWidget(self.filter_label)
        layout.addLayout(filters)

    # session -----------------------------------------------------------------------------------

    def lab_changed(self, lab) -> None:
        self.layers, self.filters = None, None
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.blockSignals(False)
        unet = lab is not None and lab.is_unet
        self.zero_skips.blockSignals(True)
        self.zero_skips.setChecked(False)
        self.zero_skips.blockSignals(False)
        self.zero_skips.setVisible(unet)
        self.unet_note.setVisible(unet)
        for view in self.maps + self.filter_views:
            view.set_image(None)
            view.hide()
        self.filter_label.setText(" ")
        if lab is not None and self.current:
            self.shown()

    def shown(self) -> None:
        lab = self.session.lab
        if lab is not None and self.filters is None:
            from ...core.lab import first_filters

            self.session.run(lambda pipeline: first_filters(lab), self._show_filters)
        super().shown()

    def frame_changed(self, frame) -> None:
        self._request()

    def _request(self) -> None:
        ready = self.ready(self.about, "Draw, open or pick a digit.")
        if ready is None:
            return
        lab, frame = ready
        noisy, zero = frame.noisy.copy(), self.zero_skips.isChecked() and lab.is_unet
        self.job.request(lambda pipeline: (noisy, zero, lab.layers(noisy, zero_skips=zero)),
                         self._show, self.about.setText)

    # drawing -----------------------------------------------------------------------------------

    def _show(self, result) -> None:
        noisy, zero, layers = result
        first = self.layers is None
        self.layers = layers
        if first or self.layer.count() != len(layers):
            self._fill_picker(layers)
        self.input_tile.show_digit(noisy, "Noisy input")
        out = layers[-1].values[..., 0]
        self.output_tile.show_digit(out, "Output, skips zeroed" if zero else "Output (reconstruction)",
                                    f"max {float(out.max()):.2g}" if zero else " ")
        self.stretched_tile.setVisible(zero)
        if zero:
            self.stretched_tile.show_digit(normalised(out), "Stretched to its range", "what is left of the digit")
        self._draw_layer()

    def _fill_picker(self, layers) -> None:
        self.layer.blockSignals(True)
        self.layer.clear()
        for i, o in enumerate(layers):
            self.layer.addItem(f"{o.name}  {'×'.join(map(str, o.shape))}")
            self.layer.setItemData(i, o.kind, Qt.ItemDataRole.ToolTipRole)
        maps = [i for i, o in enumerate(layers) if o.is_feature_maps and o.shape[-1] > 1]
        dense = [i for i, o in enumerate(layers) if o.kind == "Dense"]
        self.layer.setCurrentIndex((maps or dense or [0])[0])  # the first layer that learned something
        self.layer.blockSignals(False)

    def _draw_layer(self) -> None:
        if not self.layers:
            return
        o = self.layers[max(0, self.layer.currentIndex())]
        if o.is_feature_maps:
            n = min(o.shape[-1], MAX_MAPS)
            images = [normalised(o.values[:, :, c]) for c in range(n)]
            what = f"{n} of {o.shape[-1]} feature maps" if n < o.shape[-1] else f"{n} feature maps"
            self.about.setText(f"{what} of {o.shape[0]}×{o.shape[1]}, each scaled to its own range")
        else:
            images = [vector_image(o.values)]
            self.about.setText(f"a vector of {o.values.size} values (scaled to their range)")
        self._place(len(images))
        for i, view in enumerate(self.maps):
            view.set_image(array_to_qimage(images[i]) if i < len(images) else None)
            view.setVisible(i < len(images))

    def _place(self, n: int) -> None:
        """Lay ``n`` maps out in a near-square grid (at most COLUMNS wide), so they fill the view."""
        columns = max(1, min(COLUMNS, int(np.ceil(np.sqrt(n)))))
        if self._placed == (n, columns):
            return
        self._placed = (n, columns)
        for view in self.maps:
            self.grid.removeWidget(view)
        for i, view in enumerate(self.maps[:n]):
            self.grid.addWidget(view, i // columns, i % columns)

    def _show_filters(self, filters) -> None:
        self.filters = filters or None
        if not filters:
            self.filter_label.setText("This model has no first convolution or dense layer to show.")
            return
        k = filters.kernels[:MAX_FILTERS]
        limit = float(np.max(np.abs(k))) or 1.0
        self.filter_label.setText(f"<b>First layer's filters</b>: {html.escape(filters.description)} "
                                  "(blue > 0 > red)")
        for i, view in enumerate(self.filter_views):
            view.set_image(signed_to_qimage(k[i] / limit) if i < len(k) else None)
            view.setVisible(i < len(k))

    def shown_maps(self) -> int:
        """How many feature maps are shown (for tests)."""
        return sum(not v.isHidden() for v in self.maps)

