"""Small pieces the lab's views share: digit tiles and rows of them, the explanation note, the
view base class and :class:`LiveJob` (one view's jobs, throttled, never piling up)."""

from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from ..tiles import ImageTile

FLIP_STYLE = "background: #ffd54f; color: black; border-radius: 3px; padding: 0 3px;"


def digit_caption(probs, i: Optional[int] = None, compact: bool = False) -> str:
    """'7 (93%)' for a probability vector (or row ``i`` of a stack of them), '7\n93%' when
    ``compact`` (a narrow tile); '' without one."""
    if probs is None:
        return ""
    p = np.asarray(probs if i is None else probs[i])
    d, c = int(np.argmax(p)), 100 * float(np.max(p))
    return f"{d}\n{c:.0f}%" if compact else f"{d} ({c:.0f}%)"


def flips(digits) -> list[bool]:
    """True at each step whose predicted digit differs from the step before (the flip)."""
    if digits is None:
        return []
    d = list(np.asarray(digits).reshape(-1))
    return [False] + [a != b for a, b in zip(d, d[1:])]


class DigitTile(ImageTile):
    """An ImageTile for the lab: small, keeps the array it shows (``array``), and its caption can
    be highlighted (a flip of the predicted digit)."""

    def __init__(self, title: str = "", tooltip: str = "", minimum: int = 56, compact: bool = False, parent=None):
        super().__init__(title, tooltip, parent)
        self.view.setMinimumSize(minimum, minimum)
        self.array: Optional[np.ndarray] = None
        self.highlighted = False
        self._base = "font-size: 8pt;" if compact else ""  # rows of twelve fit a 560-pixel dock
        for label in (self.title, self.caption):
            label.setStyleSheet(self._base)
            label.setMinimumWidth(1)

    def show_digit(self, array, title: Optional[str] = None, caption: str = " ", highlight: bool = False) -> None:
        self.array = None if array is None else np.asarray(array, np.float32)
        if title is not None:
            self.title.setText(f"<b>{title}</b>" if title else " ")
        self.set_array(self.array, caption or " ")
        self.highlighted = highlight
        self.caption.setStyleSheet(self._base + (FLIP_STYLE if highlight else ""))


class TileRow(QWidget):
    """Up to ``count`` DigitTiles in rows of ``columns``; :meth:`fill` fills the first ones and
    hides the rest. Six 56-pixel tiles a row keep the digits at twice their size in the dock."""

    def __init__(self, count: int, columns: int = 6, minimum: int = 56, parent=None):
        super().__init__(parent)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        self.tiles = [DigitTile(minimum=minimum, compact=True) for _ in range(count)]
        for i, tile in enumerate(self.tiles):
            layout.addWidget(tile, i // columns, i % columns)
            tile.hide()

    def fill(self, images: Sequence, titles: Sequence[str], captions: Sequence[str],
             highlights: Sequence[bool] = ()) -> None:
        n = min(len(images), len(self.tiles))
        for i, tile in enumerate(self.tiles):
            if i < n:
                tile.show_digit(images[i], titles[i] if i < len(titles) else "", captions[i] if i < len(captions) else "",
                                bool(highlights[i]) if i < len(highlights) else False)
            tile.setVisible(i < n)

    def clear(self) -> None:
        for tile in self.tiles:
            tile.hide()
            tile.array = None

    def shown(self) -> list[DigitTile]:
        return [t for t in self.tiles if not t.isHidden()]


class Note(QLabel):
    """A paragraph that explains why a view has nothing to show (or what it shows)."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMargin(18)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)


class LabView(QWidget):
    """A tab of the lab. The dock calls :meth:`lab_changed` and :meth:`map_changed` on every
    view, :meth:`frame_changed` only on the current tab, and :meth:`shown` when a tab becomes
    current (to catch up with the frame it missed). ``session`` is the dock's LabSession."""

    tab_title = ""

    def __init__(self, session, parent=None):
        super().__init__(parent)
        self.session = session
        self.current = False
        self.map_plot = None  # a MapPlot of the session's map, if the view has one
        self._map_stale = True

    def lab_changed(self, lab) -> None:
        pass

    def map_changed(self, latent_map) -> None:
        self._map_stale = True
        if self.current:
            self.show_map()

    def show_map(self) -> None:
        """Draw the session's map on ``map_plot`` when it changed, only on the current tab (5,000
        points cost a few frames' time; a hidden plot costs nothing), then :meth:`map_drawn`."""
        if self.map_plot is not None and self._map_stale:
            self._map_stale = False
            self.map_plot.set_map(self.session.map)
            self.map_drawn()

    def map_drawn(self) -> None:
        pass

    def show_path(self, name: str, codes, colour: tuple) -> None:
        """Draw the path of ``codes`` (a result's codes, None: none) on ``map_plot`` as ``name``,
        and zoom to it; cleared when there is no map of the current lab's model."""
        lmap, lab = self.session.map, self.session.lab
        if codes is None or lmap is None or lab is None or lmap.model_name != lab.name:
            self.map_plot.set_path(name, None)
            return
        points = lmap.place(codes)
        self.map_plot.set_path(name, points, colour=colour)
        self.map_plot.focus(points)

    def frame_changed(self, frame) -> None:
        pass

    def shown(self) -> None:
        self.show_map()
        if self.session.frame is not None:
            self.frame_changed(self.session.frame)

    def ready(self, label: QLabel, no_digit: Optional[str]) -> Optional[tuple]:
        """(lab, frame) when a computation can start; else None, after saying why on ``label``:
        the lab is not ready, or (``no_digit`` given) there is no digit to start from."""
        s = self.session
        if s.lab is None:
            label.setText(s.text or "Preparing the lab…")
            return None
        if no_digit is not None and (s.frame is None or s.frame.empty):
            label.setText(no_digit)
            return None
        return s.lab, s.frame


class LiveJob(QObject):
    """A view's live computation in the inference thread: at most one job at a time, started at
    most every ``interval_ms``; a request made meanwhile replaces the waiting one, and the last
    request always runs (the view ends on the latest frame)."""

    def __init__(self, session, interval_ms: int, parent=None):
        super().__init__(parent)
        self.session = session
        self.interval = interval_ms / 1000.0
        self.busy = False
        self._next: Optional[tuple] = None
        self._started = -1e9
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._start)

    def request(self, fn: Callable, done: Callable, failed: Optional[Callable] = None) -> None:
        """Run ``fn(pipeline)`` in the inference thread soon, then ``done(result)`` (see LabSession.run)."""
        self._next = (fn, done, failed)
        if self.busy or self._timer.isActive():
            return
        wait = self.interval - (time.monotonic() - self._started)
        if wait <= 0:
            self._start()
        else:
            self._timer.start(int(1000 * wait) + 1)

    @property
    def pending(self) -> bool:
        return self.busy or self._next is not None

    def _start(self) -> None:
        if self._next is None or self.busy:
            return
        fn, done, failed = self._next
        self._next = None
        self.busy = True
        self._started = time.monotonic()
        self.session.run(fn, done, failed, always=self._finished)

    def _finished(self) -> None:
        self.busy = False
        if self._next is not None:
            self.request(*self._next)
