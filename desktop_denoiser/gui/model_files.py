"""Model › Load, Save as and Manage: model files into and out of the store.

:class:`ModelFiles` works for a host window, which gives it the dialogs' parent, its status bar
and ``show_error(title, text)``. A model file is imported in the inference thread (``run_job``:
the import loads it to check it), and ``added(entry)`` says it is in the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from ..core import atomic
from ..core.errors import DenoiserError

KERAS_FILTER = "Keras models (*.keras)"


class ModelFiles(QObject):
    added = Signal(object)  # the ModelEntry of an imported model
    changed = Signal()  # models were deleted (in the Manage dialog)

    def __init__(self, host, store, run_job: Callable):
        """``run_job(fn, done)`` runs ``fn(pipeline)`` in the inference thread, then ``done(result)`` here."""
        super().__init__(host)
        self.host = host
        self.store = store
        self.run_job = run_job

    def load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.host, "Load a model", str(Path.home()), KERAS_FILTER)
        if path:
            self.import_file(path)

    def import_file(self, path: str) -> None:
        """Copy a .keras file (and its metadata) into the user's models; a bad one is refused with a message."""
        def imported(entry) -> None:
            self.host.statusBar().showMessage(f"Added {entry.name} to your models", 5000)
            self.added.emit(entry)

        self.run_job(lambda _pipeline: self.store.import_file(path), imported)

    def save_dialog(self, entry) -> None:
        """Copy the model of ``entry`` (and its metadata) to a file the person picks."""
        if entry is None:
            self.host.show_error("Save model", "No denoiser is loaded.")
            return
        path, _ = QFileDialog.getSaveFileName(self.host, "Save model as", str(Path.home() / f"{entry.name}.keras"), KERAS_FILTER)
        if not path:
            return
        if not path.endswith(".keras"):
            path += ".keras"
        try:
            atomic.write_bytes(path, entry.path.read_bytes())
            json_path = entry.path.with_suffix(".json")
            if json_path.exists():
                atomic.write_bytes(Path(path).with_suffix(".json"), json_path.read_bytes())
        except (DenoiserError, OSError) as exc:
            self.host.show_error("Save model", str(exc))
            return
        self.host.statusBar().showMessage(f"Saved {entry.name} to {path}", 5000)

    def manage(self) -> None:
        from .models_dialog import ModelsDialog

        dialog = ModelsDialog(self.store, self.host)
        dialog.changed.connect(self.changed)
        dialog.open()
