"""The drawing canvas repaints everything a stroke changes, however fast the mouse moves."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QRect, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from desktop_denoiser.gui.canvas import SIZE, DrawingCanvas  # noqa: E402


def _repainted(canvas, monkeypatch):
    """Record the regions the canvas asks to repaint (a bare update() is the whole widget)."""
    rects: list[QRect] = []
    real = canvas.update

    def update(*args):
        rects.append(args[0] if args and isinstance(args[0], QRect) else QRect(0, 0, SIZE, SIZE))
        real(*args)

    monkeypatch.setattr(canvas, "update", update)
    return rects


def test_a_fast_stroke_is_repainted_where_it_was_drawn(qtbot, monkeypatch):
    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.show()
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    QTest.mousePress(canvas, left, none, QPoint(140, 20))  # the first press repaints it all (placeholder)
    rects = _repainted(canvas, monkeypatch)
    missed, drawn = 0, 0
    for y in (80, 150, 215, 260):  # 45-70 px between two events, as from a quick hand
        before = canvas.to_array()
        rects.clear()
        QTest.mouseMove(canvas, QPoint(140 + (y % 3), y))
        changed = canvas.to_array() != before  # what this event painted...
        covered = np.zeros_like(changed)
        for r in rects:  # ...must lie in what this event asked to repaint
            covered[max(0, r.top()): r.bottom() + 1, max(0, r.left()): r.right() + 1] = True
        drawn += int(changed.sum())
        missed += int((changed & ~covered).sum())
    assert drawn > 500
    assert missed == 0, f"{missed} of {drawn} newly inked pixels were not repainted on screen"
    QTest.mouseRelease(canvas, left, none, QPoint(141, 260))
    assert not canvas.is_empty()


def test_the_first_press_repaints_the_placeholder_away(qtbot, monkeypatch):
    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.show()
    rects = _repainted(canvas, monkeypatch)
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(30, 30))
    assert QRect(0, 0, SIZE, SIZE) in rects  # not only the dot: "Draw a digit here" goes at once
