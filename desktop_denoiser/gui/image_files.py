"""Images in and out of the window: open (read in a background thread), paste, save as PNG.

:class:`ImageFiles` works for a host window, which gives it the dialogs' parent, its status bar
and ``show_error(title, text)``; an image read or pasted goes to the host's input panel.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Signal
from PySide6.QtWidgets import QFileDialog

from ..core import imageio
from ..core.errors import DenoiserError
from .background import Background
from .tiles import save_widget_png

OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
PNG_FILTER = "PNG images (*.png)"


class ImageFiles(QObject):
    opened = Signal(bool, str)  # read and shown (or refused), path

    def __init__(self, host, inputs, settings):
        super().__init__(host)
        self.host = host
        self.inputs = inputs
        self.settings = settings
        self.active = True  # False once the window closes: a read that ends later is dropped
        self._background = Background(self)
        self._token = 0

    def _folder(self) -> Path:
        return Path(str(self.settings.value("files/last_dir", str(Path.home()))))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.host, "Open an image", str(self._folder()), OPEN_FILTER)
        if path:
            self.settings.setValue("files/last_dir", str(Path(path).parent))
            self.open(path)

    def open(self, path: str) -> None:
        """Read and decode an image file in a background thread (a slow disk, a huge file or a
        FIFO never blocks the window); ``opened(ok, path)`` tells the outcome. A newer open
        replaces one still being read."""
        self._token += 1
        token = self._token
        self.host.statusBar().showMessage(f"Opening {path}…")
        self._background.run(lambda: imageio.load_image(path),
                             lambda image, error: self._read(token, str(path), image, error), name="image-reader")

    def _read(self, token: int, path: str, image, error) -> None:
        if token != self._token or not self.active:
            return
        if error is not None:
            text = str(error) if isinstance(error, DenoiserError) else f"Cannot open {Path(path).name}: {error}"
            self.host.statusBar().clearMessage()
            self.host.show_error("Cannot open image", text)
            self.opened.emit(False, path)
            return
        self.inputs.set_image(image, path)
        self.host.statusBar().showMessage(f"Opened {path}", 4000)
        self.opened.emit(True, path)

    def paste(self) -> None:
        """The clipboard's image, or the image file copied to it."""
        from PySide6.QtWidgets import QApplication

        clipboard = QApplication.clipboard()
        mime = clipboard.mimeData()
        local = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime is not None and mime.hasUrls() else []
        if local:
            self.open(local[0])
            return
        image = clipboard.image()
        if image.isNull():
            self.host.show_error("Paste image", "The clipboard holds no image.")
            return
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        buffer.close()
        try:
            pil = imageio.image_from_bytes(bytes(data), "clipboard")
        except DenoiserError as exc:
            self.host.show_error("Paste image", str(exc))
            return
        self.inputs.set_image(pil, "clipboard image")

    # writing -----------------------------------------------------------------------------------

    def save_png_dialog(self, array) -> None:
        path, _ = QFileDialog.getSaveFileName(self.host, "Save reconstruction", str(self._folder() / "reconstruction.png"),
                                              PNG_FILTER)
        if path:
            self.save_png(path, array)

    def save_png(self, path: str, array) -> bool:
        """Write a (28, 28) image as PNG (".png" added if missing)."""
        path = path if path.lower().endswith(".png") else path + ".png"

        def write() -> str:
            imageio.save_png(path, array)
            return path

        return self._write("Save reconstruction", "Saved", write)

    def export_dialog(self, widget) -> None:
        path, _ = QFileDialog.getSaveFileName(self.host, "Export figure", str(Path.home() / "denoiser-figure.png"), PNG_FILTER)
        if path:
            self.export(widget, path)

    def export(self, widget, path: str) -> bool:
        """Render ``widget`` to a PNG (".png" added if missing)."""
        return self._write("Export figure", "Exported", lambda: save_widget_png(widget, path))

    def _write(self, title: str, done: str, write) -> bool:
        """``write()`` returns the path it wrote: ``done`` it in the status bar, or a failure in a message box."""
        try:
            path = write()
        except DenoiserError as exc:
            self.host.show_error(title, str(exc))
            return False
        self.host.statusBar().showMessage(f"{done} {path}", 4000)
        return True


def dropped_files(event) -> list[str]:
    """The local files of a drag or drop event."""
    mime = event.mimeData()
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
