"""Where things live: bundled models and resources, and the user's own data folder.

The same code runs from a source checkout, from a ``pip install`` (data files under
``<prefix>/share/desktop-denoiser``) and from a PyInstaller bundle (``sys._MEIPASS``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "desktop-denoiser"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def _candidates(name: str) -> list[Path]:
    found = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        found.append(Path(bundle) / name)
    found.append(_SOURCE_ROOT / name)
    found.append(Path(sys.prefix) / "share" / APP_NAME / name)
    return found


def _first_existing(name: str) -> Path:
    for path in _candidates(name):
        if path.is_dir():
            return path
    return _candidates(name)[0]


def bundled_models_dir() -> Path:
    """The folder of the models that ship with the app (``DESKTOP_DENOISER_BUNDLED`` overrides)."""
    override = os.environ.get("DESKTOP_DENOISER_BUNDLED")
    return Path(override) if override else _first_existing("trained_models")


def resources_dir() -> Path:
    """The folder of icons, sample images and screenshots."""
    return _first_existing("resources")


def user_data_dir() -> Path:
    """The user's own data folder (``DESKTOP_DENOISER_HOME`` overrides), per platform convention."""
    override = os.environ.get("DESKTOP_DENOISER_HOME")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP_NAME


def user_models_dir() -> Path:
    return user_data_dir() / "models"


def is_installed_location(path: Path) -> bool:
    """True for the models folder of an installed or frozen app (never written to, even when
    the file system would allow it): inside a PyInstaller bundle or under ``sys.prefix``."""
    path = Path(path).resolve()
    roots = [Path(sys.prefix).resolve()]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        roots.append(Path(bundle).resolve())
    if getattr(sys, "frozen", False):
        roots.append(Path(sys.executable).resolve().parent)
    return any(path == root or root in path.parents for root in roots)


def is_writable_dir(path: Path) -> bool:
    """True when new files can be created in ``path`` (it exists and is writable)."""
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)
