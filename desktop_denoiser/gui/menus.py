"""The main window's menu bar: every command with its shortcut and status tip."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence

Key = QKeySequence.StandardKey


def build(window) -> None:
    """Fill ``window``'s menu bar; sets ``window.save_action`` and ``window.diff_action``."""

    def action(menu, text, slot, shortcut=None, tip=None, checkable=False):
        a = QAction(text, window)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    m = window.menuBar().addMenu("&File")
    action(m, "&Open image…", window.open_image_dialog, Key.Open, "Open a PNG, JPEG or BMP")
    action(m, "Open &folder…", window.open_folder_dialog, "Ctrl+Shift+O",
           "How the models read a labelled folder of your own digits (one subfolder per digit, 0 to 9)")
    action(m, "&Paste image", window.paste_image, Key.Paste, "Use the image on the clipboard")
    m.addSeparator()
    window.save_action = action(m, "&Save reconstruction as PNG…", window.save_reconstruction_dialog, Key.Save,
                                "Save the 28×28 reconstruction")
    action(m, "&Export figure…", lambda: window.files.export_dialog(window.output), "Ctrl+E",
           "Save the tiles and prediction as a PNG")
    m.addSeparator()
    action(m, "&Quit", window.close, Key.Quit)

    m = window.menuBar().addMenu("&Edit")
    canvas = window.inputs.canvas
    action(m, "&Undo stroke", canvas.undo, Key.Undo)
    action(m, "&Redo stroke", canvas.redo, "Ctrl+Shift+Z")
    action(m, "&Clear canvas", canvas.clear, Key.Delete)

    m = window.menuBar().addMenu("&Model")
    action(m, "&Load model…", window.model_files.load_dialog, "Ctrl+L", "Add a .keras model to your models")
    action(m, "&Save model as…", lambda: window.model_files.save_dialog(window._models and window._models.denoiser), None,
           "Copy the active denoiser to a file")
    action(m, "&Manage models…", window.manage_models, None, "List, inspect and delete models")
    m.addSeparator()
    action(m, "Training s&weep…", window.open_training_sweep, "Ctrl+Shift+W",
           "Train one model per value of one or two settings and chart accuracy and PSNR against them")

    m = window.menuBar().addMenu("&View")
    window.diff_action = action(m, "Show &difference", window.show_diff.setChecked, "Ctrl+D", checkable=True)
    window.show_diff.toggled.connect(window.diff_action.setChecked)
    action(m, "Noise &sweep…", window.open_sweep, "Ctrl+Shift+N", "One digit at growing blur and noise, noisy over denoised")
    m.addAction(window.training_dock.toggleViewAction())
    m.addAction(window.lab_dock.toggleViewAction())  # Autoencoder lab, Ctrl+Shift+L
    m.addAction(window.runs_dock.toggleViewAction())  # Runs, Ctrl+Shift+R

    m = window.menuBar().addMenu("&Help")
    action(m, "&About Desktop Denoiser", window.show_about)
