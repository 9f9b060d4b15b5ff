"""Atomic file writes: write a temporary file beside the target, then rename it over.

A crash, a full disk or a permission problem never leaves a half-written target, and the old
file stays intact until the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

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
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    suffix = target.suffix if suffix is None else suffix
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{suffix}", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise SaveError(f"Cannot write to {folder}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except SaveError:
        _remove_quietly(tmp)
        raise
    except OSError as exc:
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


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
