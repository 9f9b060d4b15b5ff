"""Model names: the name a model is stored under (:func:`check_name`), and its reservation,
one run at a time per name and folder.

A reservation of ``NAME`` in a folder is an exclusive lock on the hidden file ``.NAME.lock``
there, taken when a training starts and held until its model and figures are written. The lock
is the operating system's (``flock``): it ends with its process, even one that was killed, so
a lock file nobody holds is stale and free to take. :meth:`ModelStore.reserve` picks the name
(``NAME-2`` when it is taken); this module only takes, holds and releases locks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import re
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Optional

from . import atomic
from .errors import ConfigError, SaveError
from .model_files import now_iso

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

MAX_NAME_LENGTH = 100  # characters of a model name (file names must stay well under 255 bytes)
LOCK_SUFFIX = ".lock"  # .NAME.lock: the reservation of NAME in its folder
LOCK_WAIT = 10.0  # seconds a rewrite or an overwrite waits for another save of the same name


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "-", name.strip()).strip("-.")
    return cleaned or "model"


def check_name(name: Optional[str]) -> str:
    """The name a model called ``name`` is stored under (unsafe characters replaced); a
    ConfigError when it cannot be one. Call it before any work."""
    if name is not None and not isinstance(name, str):
        raise ConfigError("The model name must be text.")
    safe = _safe_name(name or "")
    if len(safe) > MAX_NAME_LENGTH:
        raise ConfigError(f"The model name is too long ({len(safe)} characters; at most {MAX_NAME_LENGTH}).")
    return safe


_held: "weakref.WeakValueDictionary[str, Reservation]" = weakref.WeakValueDictionary()  # lock file -> ours on it
_held_lock = threading.Lock()


def lock_path(folder: Path, name: str) -> Path:
    return folder / f".{name}{LOCK_SUFFIX}"


def _key(path: Path) -> str:
    return os.path.abspath(path)


def _try_lock_fd(fd: int) -> bool:
    """An exclusive, non-blocking lock on an open file; False when someone else holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:  # pragma: no cover - Windows
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES, errno.EDEADLK):
            return False
        return True  # a file system without locks: reservations are best effort there


@dataclasses.dataclass
class Reservation:
    """The exclusive right to save ``name`` in ``folder`` (see :meth:`ModelStore.reserve`);
    a context manager that releases it."""

    folder: Path
    name: str
    requested: str  # the name asked for (``name`` is ``requested-N`` when it was taken)
    run_id: str
    lock_path: Path
    fd: Optional[int]

    def release(self) -> None:
        with _held_lock:
            if _held.get(_key(self.lock_path)) is self:
                del _held[_key(self.lock_path)]
        fd, self.fd = self.fd, None
        if fd is None:
            return
        if os.name == "nt":  # pragma: no cover - an open file cannot be removed there
            os.close(fd)
            atomic.remove_quietly(self.lock_path)
        else:  # removed while still held: whoever opened it meanwhile sees it is gone and retries
            atomic.remove_quietly(self.lock_path)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __enter__(self) -> "Reservation":
        return self

    def __del__(self):  # a reservation dropped without release: release it now
        with contextlib.suppress(Exception):
            self.release()

    def __exit__(self, *exc) -> None:
        self.release()


def lock(folder: Path, name: str, wait: float = 0.0, requested: Optional[str] = None) -> Optional[Reservation]:
    """Reserve ``name`` in ``folder``; None when another run holds it for longer than ``wait``
    seconds. A SaveError when the folder cannot be written to."""
    path = lock_path(folder, name)
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SaveError(f"Cannot write to {folder}: {exc.strerror or exc}") from None
        if _try_lock_fd(fd):
            try:
                st, now = os.fstat(fd), os.stat(path)
                same = (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino)
            except OSError:
                same = False
            if same:
                res = Reservation(folder, name, requested or name, uuid.uuid4().hex, path, fd)
                with contextlib.suppress(OSError):  # who holds it, for people looking (not read by us)
                    os.ftruncate(fd, 0)
                    os.write(fd, json.dumps({"pid": os.getpid(), "run_id": res.run_id, "since": now_iso()}).encode())
                with _held_lock:
                    _held[_key(path)] = res
                return res
            os.close(fd)  # its previous holder removed it as we opened it: take the new one
            continue
        os.close(fd)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


@contextlib.contextmanager
def holding(folder: Path, name: str):
    """Hold ``name``'s reservation in ``folder`` for a rewrite (reusing this process's own)."""
    with _held_lock:
        own = _held.get(_key(lock_path(folder, name)))
    if own is not None and own.held:
        yield own
        return
    res = lock(folder, name, wait=LOCK_WAIT)
    if res is None:
        raise SaveError(f"Another program is saving {name} in {folder}; try again when it has finished.")
    with res:
        yield res
