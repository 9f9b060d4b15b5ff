"""The text of Help › About."""

from __future__ import annotations

import platform
import sys
from typing import Optional

from .. import __version__


def text(device: Optional[str], store) -> str:
    """Rich text: the version, the device (None while loading), the libraries and the model folders."""
    from PySide6 import __version__ as pyside_version

    try:
        import pyqtgraph
        pg_version = pyqtgraph.__version__
    except ImportError:  # pragma: no cover
        pg_version = "?"
    tf = sys.modules.get("tensorflow")  # never imported here: the inference thread does that
    tf_version = tf.__version__ if tf is not None else "loading…"
    return (f"<h3>Desktop Denoiser {__version__}</h3>"
            "<p>Clean noisy handwritten digits with denoising autoencoders, and train them yourself.</p>"
            f"<p>Device: {device or 'loading…'}<br>TensorFlow {tf_version}, PySide6 {pyside_version}, "
            f"pyqtgraph {pg_version}, Python {platform.python_version()}</p>"
            f"<p>Models: {store.bundled_dir}<br>Your models: {store.user_dir}</p>")
