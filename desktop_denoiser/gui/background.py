"""Run a blocking call (reading a file) in a daemon thread; its outcome arrives in the GUI thread."""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal


class Background(QObject):
    """``run(work, done)`` calls ``work()`` in a daemon thread, then ``done(result, error)`` in
    the thread this object lives in (the GUI thread): ``error`` is the exception ``work`` raised,
    or None. A daemon thread: a read that never returns (a hung network drive) cannot hold up
    quitting the app."""

    _finished = Signal(object, object, object)  # done, result, error

    def __init__(self, parent=None):
        super().__init__(parent)
        self._finished.connect(self._deliver)  # queued: emitted from the worker thread

    def run(self, work: Callable[[], Any], done: Callable[[Any, Any], None], name: str = "background") -> None:
        def target():
            try:
                outcome = (work(), None)
            except Exception as exc:  # noqa: BLE001 - handed to ``done``, which tells the person
                outcome = (None, exc)
            try:
                self._finished.emit(done, *outcome)
            except RuntimeError:  # the window is gone
                pass

        threading.Thread(target=target, name=name, daemon=True).start()

    def _deliver(self, done, result, error) -> None:
        done(result, error)
