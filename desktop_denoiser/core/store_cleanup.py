"""What an unfinished save leaves, and its removal.

A save that was killed or failed may leave, in its folder, hidden temporary files
(``.NAME.XXXXXXXX.tmp.keras`` / ``.tmp.json``), a metadata file without its model and a stale
``.NAME.lock``; and in the system's temporary folder, Keras's folder for the save. None of them
counts as a model. They are removed on failure by the save itself and, after a kill, by the
next program that opens the store (:meth:`ModelStore.clean_up`), but only while holding the
name's reservation: a save in progress is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from . import atomic, paths
from .errors import SaveError
from .model_files import KERAS_TEMP_PREFIX, our_metadata
from .reservation import LOCK_SUFFIX, lock


def leftovers(folder: Path, name: str) -> list[Path]:
    """What an unfinished save of ``name`` may have left in ``folder``: its temporary files and
    a metadata file without its model. Only call it holding ``name``'s reservation."""
    found = []
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            m = re.fullmatch(atomic.TEMPORARY_PATTERN, p.name)
            if m and m["stem"] == name and m["suffix"] in (".keras", ".json"):
                found.append(p)
    meta = folder / f"{name}.json"
    if meta.is_file() and not (folder / f"{name}.keras").exists() and our_metadata(meta):
        found.append(meta)
    return found


def remove_leftovers(folder: Path, name: str) -> None:
    """Remove :func:`leftovers` (holding ``name``'s reservation)."""
    for p in leftovers(folder, name):
        atomic.remove_quietly(p)


def _names_left_in(folder: Path) -> set[str]:
    """The names that something of an unfinished save may be left for in ``folder``."""
    names = set()
    try:
        listing = list(folder.iterdir())
    except OSError:
        return names
    for p in listing:
        m = re.fullmatch(atomic.TEMPORARY_PATTERN, p.name)
        if p.name.startswith(".") and p.name.endswith(LOCK_SUFFIX):
            names.add(p.name[1:-len(LOCK_SUFFIX)])
        elif m and m["suffix"] in (".keras", ".json"):
            names.add(m["stem"])
        elif p.suffix == ".json" and not p.with_suffix(".keras").exists() and our_metadata(p):
            names.add(p.stem)
    return names


def clean_folder(folder: Path) -> list[Path]:
    """Remove what unfinished saves left in ``folder`` (not in an installed app's folder, and
    not for a name whose save is in progress); returns what was removed."""
    removed: list[Path] = []
    if not folder.is_dir() or paths.is_installed_location(folder):
        return removed
    for name in sorted(_names_left_in(folder)):
        try:
            res = lock(folder, name)
        except SaveError:
            break  # not ours to clean (a read-only folder)
        if res is None:
            continue  # a save in progress
        with res:
            for p in leftovers(folder, name):
                atomic.remove_quietly(p)
                removed.append(p)
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


_keras_dirs_cleaned = False


def clean_keras_temp_dirs() -> list[Path]:
    """Remove the temporary folders Keras made for saves of processes that have ended (a save
    that was killed, or one that failed inside Keras). Once per process: a scan of the system's
    temporary folder is not free, and what a kill leaves later is for the next program."""
    global _keras_dirs_cleaned
    if _keras_dirs_cleaned or os.name != "posix":
        return []
    _keras_dirs_cleaned = True
    removed = []
    with contextlib.suppress(OSError):
        for p in Path(tempfile.gettempdir()).iterdir():
            m = re.fullmatch(re.escape(KERAS_TEMP_PREFIX) + r"(\d+)-.*", p.name)
            if m and int(m[1]) != os.getpid() and not _pid_alive(int(m[1])) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
    return removed
