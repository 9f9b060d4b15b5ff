"""Open the real window (run under Xvfb or on a desktop), draw a digit, and save a screenshot.

    xvfb-run -s "-screen 0 1400x950x24" python scripts/screenshot.py resources/screenshot.png [draw|test|train] [dark]

``train`` also starts a U-Net training from the panel and shoots once two epochs are drawn; the
models folder is then a temporary copy, so the cancelled run is not saved into trained_models/.
"""

import os
import shutil
import sys
import tempfile
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
        elif tab == "train":
            w.inputs.setCurrentIndex(0)
            seven(w.inputs.canvas)
            panel = w.training
            panel.arch.setCurrentIndex(panel.arch.findData("unet"))
            panel.epochs.setValue(8)
            panel.subset.setValue(6000)
            panel.start.click()

    start = time.monotonic()

    def wait_ready():
        w = next((w for w in qapp.topLevelWidgets() if w.__class__.__name__ == "MainWindow"), None)
        if w is not None and (w._models is not None or time.monotonic() - start > wait):
            act()
            for i in range(30):  # the same frame again: the status bar's median inference time settles
                QTimer.singleShot(1000 + 40 * i, w.schedule_update)
            QTimer.singleShot(3500, shoot if tab != "train" else lambda: wait_epochs(w))
        else:
            QTimer.singleShot(250, wait_ready)

    def wait_epochs(w):
        if len(w.training._val_x) >= 2 or time.monotonic() - start > 600:
            QTimer.singleShot(3000, shoot)  # a few more batches on the curve
        else:
            QTimer.singleShot(500, lambda: wait_epochs(w))

    if tab == "train":  # a copy of the models: the cancelled run is saved there, not in trained_models/
        from desktop_denoiser.core import paths

        models = tempfile.mkdtemp(prefix="screenshot-models-")
        shutil.copytree(paths.bundled_models_dir(), models, dirs_exist_ok=True)
        os.environ["DESKTOP_DENOISER_BUNDLED"] = models

    QTimer.singleShot(250, wait_ready)
    return gui_app.run(sys.argv[:1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "screenshot.png", *sys.argv[2:4]))
