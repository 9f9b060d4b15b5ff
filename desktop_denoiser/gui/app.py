"""Start the application: the window appears at once; TensorFlow and the models load behind it."""

from __future__ import annotations

import os
import sys
import traceback


def _excepthook(exc_type, exc, tb):
    """Unexpected errors become a dialog; the app keeps running."""
    traceback.print_exception(exc_type, exc, tb)
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication.instance()
    if app is not None and not issubclass(exc_type, KeyboardInterrupt):
        QMessageBox.critical(app.activeWindow(), "Desktop Denoiser", f"Something went wrong: {exc_type.__name__}: {exc}")


def run(argv=None) -> int:
    from .display import check

    check()  # a missing X library or no display: one line and exit 1, not Qt's abort
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv or sys.argv))
    app.setApplicationName("Desktop Denoiser")
    app.setOrganizationName("Desktop Denoiser")
    app.setStyle("Fusion")  # follows the system's light or dark palette on every platform
    import pyqtgraph as pg

    dark = app.palette().window().color().lightness() < 128
    pg.setConfigOptions(antialias=True, background=app.palette().base().color(), foreground=app.palette().text().color())
    if dark:
        pg.setConfigOptions(foreground=(220, 220, 220))
    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    sys.excepthook = _excepthook
    return app.exec()
