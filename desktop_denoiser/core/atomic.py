"""Atomic file writes: write a temporary file beside the target, then rename it over.

A crash, a full disk or a permission problem never leaves a half-written target, and the old
file stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

from .errors import SaveError

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once at import: mkstemp makes 0600 files, saved files should follow the umask


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success rename it onto ``target``.

    ``suffix`` defaults to the target's own suffix (Keras insists on ``.keras``, Pillow
    picks the format from it). On any error the temporary file is removed and a
    :class:`SaveError` with a clear message is raised; the target is untouched.
    """
    tmp = temporary_beside(target, suffix)
    try:
        yield tmp
        flush_to_disk(tmp, target)
        move_into_place(tmp, target)
    except SaveError:
        _remove_quietly(tmp)
        raise
    except OSError as exc:  # the caller's write into ``tmp`` failed (a full disk, ...)
        _remove_quietly(tmp)
        raise SaveError(f"Could not save {target}: {exc.strerror or exc}") from exc
    except BaseException:
        _remove_quietly(tmp)
        raise


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    """Atomically write ``data`` to ``target``."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    """Atomically write UTF-8 ``text`` to ``target``."""
    write_bytes(target, text.encode("utf-8"))


def write_with(target: str | os.PathLike, writer: Callable[[Path], None], suffix: str | None = None) -> None:
    """Atomically create ``target`` by calling ``writer(temporary_path)``."""
    with atomic_path(target, suffix=suffix) as tmp:
        writer(tmp)


def create_bytes(target: str | os.PathLike, data: bytes, replace: bool = False) -> bool:
    """Atomically write ``data`` to ``target`` as :func:`write_bytes` does, except that unless
    ``replace`` an existing ``target`` is never replaced: nothing is written and False is
    returned. See :func:`create_files`."""
    (result,) = create_files([(target, data)], replace)
    if isinstance(result, SaveError):
        raise result
    return result


def create_files(items: Sequence[tuple[str | os.PathLike, bytes]], replace: bool = False) -> list:
    """Atomically write several files, each as :func:`create_bytes` would, with one flush to
    disk for them all (a flush per small file costs more than writing it; the folder of a
    thousand denoised digits is written at disk speed this way).

    Each file is complete on disk before it appears under its name. Unless ``replace``, a
    target that exists is left alone: the complete temporary file is hard-linked to the
    target, which fails if a file of that name exists by then, so a file created meanwhile by
    someone else is safe too (where hard links are not supported, e.g. FAT, the check and the
    rename are two steps). Returns, per item: True (written), False (it existed; nothing
    written) or the :class:`SaveError` that says why it could not be written."""
    results: list = [None] * len(items)
    tmps: list[Optional[Path]] = [None] * len(items)
    fsync_each = len(items) < 4 or not hasattr(os, "sync")
    try:
        folders = _write_temporaries(items, replace, fsync_each, results, tmps)
        if not fsync_each:
            _sync_folders(folders)
        for i, (target, _) in enumerate(items):
            if results[i] is None and tmps[i] is not None:
                results[i], moved = _publish(tmps[i], Path(target), replace)
                if moved:
                    tmps[i] = None
    finally:
        for tmp in tmps:
            if tmp is not None:
                _remove_quietly(tmp)
    return results


def _write_temporaries(items, replace: bool, fsync_each: bool, results: list, tmps: list) -> set[Path]:
    """The first half of :func:`create_files`: each item's bytes in a temporary file beside its
    target (``tmps``), or its result already known (``results``: False when it exists, a
    SaveError when it cannot be written). Returns the folders written to."""
    folders: set[Path] = set()
    for i, (target, data) in enumerate(items):
        target = Path(target)
        if not replace and os.path.lexists(target):
            results[i] = False
            continue
        folder = target.parent if str(target.parent) else Path(".")
        try:
            if folder not in folders:
                folder.mkdir(parents=True, exist_ok=True)
                folders.add(folder)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=folder)
        except OSError as exc:
            results[i] = SaveError(f"Cannot write to {folder}: {exc.strerror or exc}")
            continue
        tmps[i] = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if fsync_each:
                    fh.flush()
                    os.fsync(fh.fileno())
        except OSError as exc:
            results[i] = SaveError(f"Could not save {target}: {exc.strerror or exc}")
    return folders


def _publish(tmp: Path, target: Path, replace: bool) -> tuple:
    """The second half: give a complete temporary file its name. Returns (True, written;
    False, the target exists and is left alone; or a SaveError) and whether ``tmp`` was moved."""
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        if replace:
            os.replace(tmp, target)
            return True, True
        try:
            os.link(tmp, target)
            return True, False
        except FileExistsError:
            return False, False
        except OSError:
            if os.path.lexists(target):
                return False, False
            os.replace(tmp, target)  # no hard links on this file system
            return True, True
    except OSError as exc:
        return SaveError(f"Could not save {target}: {exc.strerror or exc}"), False


def _sync_folders(folders) -> None:
    """Flush the file systems that hold ``folders`` to disk: ``syncfs`` on Linux (only those
    file systems), else ``sync`` (all of them)."""
    syncfs = _syncfs()
    done = set()
    for folder in folders:
        try:
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            syncfs = None
            break
        try:
            dev = os.fstat(fd).st_dev
            if syncfs is not None and dev not in done:
                if syncfs(fd) != 0:
                    syncfs = None
                    break
                done.add(dev)
        finally:
            os.close(fd)
    if syncfs is None:
        os.sync()


@functools.lru_cache(maxsize=1)
def _syncfs():
    """libc's ``syncfs`` (Linux), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).syncfs
    except (ImportError, OSError, AttributeError):
        return None


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


# ------------------------------------------------------------------------------------------
# the steps of an atomic write, for a save of several files that commits them together
# (the model store: both files are complete on disk before either is renamed into place)

TEMPORARY_PATTERN = r"\.(?P<stem>.+)\.[A-Za-z0-9_]{8}\.tmp(?P<suffix>\.[^.]*)?"  # what mkstemp makes here


def temporary_beside(target: str | os.PathLike, suffix: str | None = None) -> Path:
    """A new, empty temporary file in ``target``'s folder (``.STEM.XXXXXXXX.tmp.SUFFIX``:
    hidden, never taken for the target; SUFFIX is the target's unless given). SaveError naming
    the folder when it cannot be made."""
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    suffix = target.suffix if suffix is None else suffix
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{suffix}", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise SaveError(f"Cannot write to {folder}: {exc.strerror or exc}") from exc
    return Path(tmp_name)


def flush_to_disk(tmp: Path, target: str | os.PathLike) -> None:
    """Make the complete temporary file ``tmp`` durable, with the umask's permissions; a
    SaveError names ``target`` (the file whose save failed)."""
    try:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
    except OSError as exc:
        raise SaveError(f"Could not save {target}: {exc.strerror or exc}") from exc


def move_into_place(tmp: Path, target: str | os.PathLike) -> None:
    """Rename ``tmp`` onto ``target`` (atomic in one folder); a SaveError names ``target``."""
    try:
        os.replace(tmp, target)
    except OSError as exc:
        raise SaveError(f"Could not save {target}: {exc.strerror or exc}") from exc


def remove_quietly(path: str | os.PathLike) -> None:
    """Remove a file if it is there; never raises."""
    _remove_quietly(Path(path))
