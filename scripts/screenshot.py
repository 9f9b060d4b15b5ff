"""Open the real window (run under Xvfb or on a desktop), draw a digit, and save a screenshot.

    xvfb-run -s "-screen 0 1400x950x24" python scripts/screenshot.py resources/screenshot.png [draw|test] [dark]
"""

import sys
import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop_denoiser.gui import app as gui_app


def seven(canvas):
    canvas.add_stroke([(70, 70), (130, 66), (205, 64)])
    canvas.add_stroke([(205, 64), (175, 130), (150, 185), (130, 235)])
    canvas.add_stroke([(120, 150), (200, 148)])


def main(out: str, tab: str = "draw", scheme: str = "light", wait: float = 40.0) -> int:
    qapp = QApplication(sys.argv[:1])
    if scheme == "dark":  # a desktop in dark mode: Fusion's dark palette, as Qt gives it there
        from PySide6.QtGui import QColor, QPalette

        qapp.setStyle("Fusion")
        pal = QPalette()
        for role, colour in ((QPalette.ColorRole.Window, "#2b2b2b"), (QPalette.ColorRole.WindowText, "#e6e6e6"),
                             (QPalette.ColorRole.Base, "#1e1e1e"), (QPalette.ColorRole.AlternateBase, "#2b2b2b"),
                             (QPalette.ColorRole.Text, "#e6e6e6"), (QPalette.ColorRole.Button, "#353535"),
                             (QPalette.ColorRole.ButtonText, "#e6e6e6"), (QPalette.ColorRole.Highlight, "#2f65ca"),
                             (QPalette.ColorRole.ToolTipBase, "#353535"), (QPalette.ColorRole.ToolTipText, "#e6e6e6")):
            pal.setColor(role, QColor(colour))
        for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
            pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
        pal.setColor(QPalette.ColorRole.PlaceholderText, QColor("#8c8c8c"))
        qapp.setPalette(pal)

    def shoot():
        w = next(w for w in qapp.topLevelWidgets() if w.__class__.__name__ == "MainWindow")
        screen = qapp.primaryScreen()
        screen.grabWindow(0).save(out)
        print("saved", out, "frames", w.frames_shown)
        qapp.quit()

    def act():
        w = next(w for w in qapp.topLevelWidgets() if w.__class__.__name__ == "MainWindow")
        w.move(0, 0)
        if tab == "draw":
            w.inputs.setCurrentIndex(0)
            seven(w.inputs.canvas)
        elif tab == "test":
            w.inputs.setCurrentIndex(2)
            w.inputs.test_index.setValue(3)

    start = time.monotonic()

    def wait_ready():
        w = next((w for w in qapp.topLevelWidgets() if w.__class__.__name__ == "MainWindow"), None)
        if w is not None and (w._models is not None or time.monotonic() - start > wait):
            act()
            for i in range(30):  # the same frame again: the status bar's median inference time settles
                QTimer.singleShot(1000 + 40 * i, w.schedule_update)
            QTimer.singleShot(3500, shoot)
        else:
            QTimer.singleShot(250, wait_ready)

    QTimer.singleShot(250, wait_ready)
    return gui_app.run(sys.argv[:1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "screenshot.png", *sys.argv[2:4]))
