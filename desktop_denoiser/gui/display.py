"""Can a window open here? Checked before Qt is asked to, because Qt cannot say no politely.

When Qt's platform plugin cannot load (a system library missing) or cannot reach a display,
Qt calls ``qFatal``: SIGABRT, a core dump and advice to "reinstall the application". On Linux
the xcb plugin needs a dozen X libraries that a fresh desktop or a minimal image may lack.
:func:`check` finds that out first and raises :class:`NoDisplayError` with one sentence that
names what is missing and the command that installs it. It imports no Qt module (only the
PySide6 package, to find the plugin's file).
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from pathlib import Path
from typing import Mapping, Optional

from ..core.errors import DenoiserError

# Every library Qt 6's xcb platform plugin (libqxcb.so and libQt6XcbQpa.so.6) links to beyond
# what Qt itself loads, with the packages that provide it: (Debian/Ubuntu, Fedora/RHEL).
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
}

NO_DISPLAY = ("There is no display: DISPLAY and WAYLAND_DISPLAY are not set, so the window cannot open. "
              "Start it from a desktop session (or 'ssh -X'), or use the commands, which need none: "
              "desktop-denoiser denoise | train | evaluate | models (see desktop-denoiser --help).")


class NoDisplayError(DenoiserError):
    """The window cannot open here; the message says why and what to do."""


def check(environ: Optional[Mapping[str, str]] = None, platform: str = sys.platform) -> None:
    """Raise :class:`NoDisplayError` when Qt would abort trying to open a window."""
    env = os.environ if environ is None else environ
    if not platform.startswith("linux"):
        return  # Windows and macOS always have their platform plugin and a screen
    qpa = env.get("QT_QPA_PLATFORM", "").strip()
    if qpa and not qpa.startswith("xcb"):
        return  # offscreen, wayland, vnc, ...: the person chose it
    display, wayland = env.get("DISPLAY", ""), env.get("WAYLAND_DISPLAY", "")
    if not qpa and not display and not wayland:
        raise NoDisplayError(NO_DISPLAY)
    if not qpa and wayland and env.get("XDG_SESSION_TYPE", "") == "wayland":
        return  # Qt picks its Wayland plugin in a Wayland session
    missing = missing_xcb_libraries()
    if missing:
        raise NoDisplayError(install_advice(missing))
    if not display:
        raise NoDisplayError(f"Qt's xcb platform was chosen (QT_QPA_PLATFORM={qpa}) but DISPLAY is not set. "
                             + NO_DISPLAY.split(", so the window cannot open. ", 1)[1])
    if not _x_server_answers(display):
        raise NoDisplayError(f"Cannot connect to the X display {display!r}: no X server answers there "
                             "(a stale DISPLAY, or 'ssh' without -X). Start the window from a desktop session, "
                             "or use the commands, which need no display (see desktop-denoiser --help).")


def missing_xcb_libraries(plugin: Optional[Path] = None) -> list[str]:
    """The sonames the xcb plugin needs that the dynamic loader cannot find (empty: all there)."""
    missing = [name for name in XCB_LIBRARIES if not _loads(name)]
    if missing:
        return missing
    # Every known one loads: load the plugin itself, which names any other missing library.
    plugin = plugin or xcb_plugin()
    if plugin is not None and plugin.is_file():
        try:
            ctypes.CDLL(str(plugin))
        except OSError as exc:
            found = re.search(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", str(exc))
            return [found.group(1) if found else f"{plugin.name} ({exc})"]
    return []


def install_advice(missing: list[str]) -> str:
    """One sentence: what is missing, and the apt-get and dnf lines that install it."""
    deb = sorted({XCB_LIBRARIES[m][0] for m in missing if m in XCB_LIBRARIES})
    rpm = sorted({XCB_LIBRARIES[m][1] for m in missing if m in XCB_LIBRARIES})
    text = (f"The window cannot open: Qt's X11 (xcb) platform needs system libraries that are missing: "
            f"{', '.join(missing)}.")
    if deb:
        text += (f" Install them with 'sudo apt-get install {' '.join(deb)}' (Debian, Ubuntu) "
                 f"or 'sudo dnf install {' '.join(rpm)}' (Fedora).")
    return text


def xcb_plugin() -> Optional[Path]:
    """The xcb platform plugin of the PySide6 in use (None if it is not where PySide6 keeps it)."""
    try:
        import PySide6  # the package only: no Qt library is loaded by it
    except ImportError:
        return None
    path = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.is_file() else None


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        return False


def _x_server_answers(display: str) -> bool:
    """Connect to the X server with libxcb (present: checked before) and hang up."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True  # cannot check; let Qt try
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return conn is not None and xcb.xcb_connection_has_error(conn) == 0
    finally:
        if conn is not None:
            xcb.xcb_disconnect(conn)
