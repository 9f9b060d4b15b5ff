"""Timing the real window from a benchmark script: wait for a condition while the event loop
runs, and measure event-loop stalls as the gaps between ticks of a 10 ms QTimer in the GUI
thread (scripts/bench_lab_gui.py, scripts/bench_sweep_gui.py)."""

from __future__ import annotations

import time


def wait(app, cond, timeout: float = 120.0) -> bool:
    """Run ``app``'s event loop until ``cond()`` is true or ``timeout`` seconds have passed."""
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)
    return cond()


class Stalls:
    """The gaps between ticks of a 10 ms timer in the GUI thread."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.gaps, self.last = [], time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self.tick)

    def tick(self):
        now = time.perf_counter()
        self.gaps.append((now - self.last, self.last))  # the gap and when it began
        self.last = now

    def start(self):
        self.gaps, self.last = [], time.perf_counter()
        self.timer.start()

    def stop(self, split: float) -> tuple:
        """The worst gap that began before ``split`` and the worst from then on."""
        self.timer.stop()
        before = max((g for g, at in self.gaps if at < split), default=0.0)
        return before, max((g for g, at in self.gaps if at >= split), default=0.0)

    def summary(self) -> dict:
        """Worst gap, 99th percentile and the count over 50 and 100 ms, in ms."""
        gaps = sorted(g for g, _ in self.gaps)
        if not gaps:
            return {"ticks": 0, "worst_ms": float("nan"), "p99_ms": float("nan"), "over_50": 0, "over_100": 0}
        return {"ticks": len(gaps), "worst_ms": 1000 * gaps[-1], "p99_ms": 1000 * gaps[int(0.99 * (len(gaps) - 1))],
                "over_50": sum(g > 0.05 for g in gaps), "over_100": sum(g > 0.1 for g in gaps)}


def open_window(noise: str | None = None):
    """A QApplication and the real main window on the bundled models, its settings in
    $DESKTOP_DENOISER_HOME, shown, its models loaded and the test digits' tab open (optionally
    with ``noise``). Returns ``(app, window)``."""
    import os
    import sys
    from pathlib import Path

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from ..core.noise import NoiseSpec
    from ..gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(Path(os.environ["DESKTOP_DENOISER_HOME"]) / "bench.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings)
    w.show()
    wait(app, lambda: w._models is not None)
    if noise is not None:
        w.noise.set_spec(NoiseSpec.parse(noise))
    w.inputs.setCurrentIndex(2)  # the test digits
    wait(app, lambda: w.inputs.test_label_value() is not None)
    return app, w
