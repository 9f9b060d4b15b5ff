"""The model store: ``NAME.keras`` plus ``NAME.json`` metadata, in the bundled folder and the
user's data folder.

* A save first reserves its name (:meth:`ModelStore.reserve`): an exclusive lock on a hidden
  ``.NAME.lock`` file in the folder, taken when a training starts and held until its figures
  are written. Two runs never get the same name (the second gets ``NAME-2``), and a name or
  folder that cannot be used is refused before any work. The lock is the operating system's
  (``flock``): it ends with its process, even one that was killed.
* Saves are atomic: both files are written in full beside their targets, then renamed into
  place, the metadata first and the model last. A model exists when its ``.keras`` is in place,
  and by then its metadata is too; the metadata names the run (``run_id``), so a later rewrite
  of the figures can never land on another run's model.
* What a killed or failed save leaves (hidden temporary files, a metadata file without its
  model, a stale lock, Keras's temporary folder) is removed on failure and, after a kill, by
  the next program that opens the store.
* New models go to the bundled folder when it is writable (a source checkout, where the
  shipped models are trained) and to the user's data folder otherwise (an installed app).
* A corrupt or foreign file gives a :class:`ModelFileError` with one clear sentence; listing
  the store never fails because of one bad file (the entry carries the error instead), and a
  broken model in the user's folder does not hide a working bundled one of the same name.
  Metadata fields of the wrong type are dropped on load (shown as unknown), never a crash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import errno
import itertools
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
import weakref
import zipfile
from pathlib import Path
from typing import Any, Optional

from . import atomic, paths
from .errors import ConfigError, ModelFileError, SaveError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FORMAT = "desktop-denoiser-model/1"
DEFAULT_DENOISER = "unet-mixed"
DEFAULT_CLASSIFIER = "classifier"
EXPECTED_OUTPUT = {"denoiser": (None, 28, 28, 1), "classifier": (None, 10)}
MAX_NAME_LENGTH = 100  # characters of a model name (file names must stay well under 255 bytes)
LOCK_SUFFIX = ".lock"  # .NAME.lock: the reservation of NAME in its folder
LOCK_WAIT = 10.0  # seconds a rewrite or an overwrite waits for another save of the same name
KERAS_TEMP_PREFIX = "desktop-denoiser-keras-"  # + PID-: Keras's temporary folders of our saves
KERAS_MEMBERS = ("config.json", "metadata.json")  # every .keras file holds these
@dataclasses.dataclass
class ModelEntry:
    name: str
    path: Path
    meta: dict
    source: str  # "bundled" or "user"
    error: Optional[str] = None
    ignored: tuple = ()  # metadata fields dropped on load because of a wrong type or value

    @property
    def kind(self) -> str:
        kind = self.meta.get("kind", "unknown")
        return kind if isinstance(kind, str) else "unknown"

    @property
    def architecture(self) -> str:
        arch = self.meta.get("architecture", "?")
        return arch if isinstance(arch, str) else "?"

    def summary(self) -> str:
        """One line for lists: name, architecture, noise and the headline figure."""
        if self.error:
            return f"{self.name}  [unusable: {self.error}]"
        m = self.meta.get("metrics")
        m = m if isinstance(m, dict) else {}
        parts = [self.name, self.architecture]
        if self.kind == "denoiser":
            parts.append(f"noise {self.meta.get('noise_label', '?')}")
            if _is_number(m.get("test_psnr")):
                parts.append(f"PSNR {m['test_psnr']:.2f} dB")
            if _is_number(m.get("test_accuracy_denoised")):
                parts.append(f"acc {100 * m['test_accuracy_denoised']:.2f}%")
        elif _is_number(m.get("test_accuracy")):
            parts.append(f"acc {100 * m['test_accuracy']:.2f}%")
        if self.ignored:
            parts.append(f"[unknown: {', '.join(self.ignored)}]")
        return "  ".join(parts)


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


# ------------------------------------------------------------------------------------------
# metadata: read, checked field by field

_TEXT_FIELDS = {"name", "architecture", "architecture_summary", "noise_label", "created", "note", "device",
                "stop_reason", "format", "run_id", "app_version", "tensorflow", "keras", "python", "imported_from"}
_INT_FIELDS = {"parameters", "epochs_requested", "epochs_trained", "best_epoch"}
_NUMBER_FIELDS = {"train_loss", "val_loss", "training_seconds", "images_per_s"}
_TEXT_METRICS = {"test_noise", "classifier"}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _good_noise(value) -> bool:
    params = value.get("params", {}) if isinstance(value, dict) else None
    return (isinstance(value, dict) and isinstance(value.get("kind"), str) and isinstance(params, dict)
            and all(isinstance(k, str) and _is_number(v) for k, v in params.items()))


def _normalised(meta: dict) -> tuple[dict, tuple]:
    """``meta`` with every field of a wrong type or value dropped (it is then unknown), and the
    names of the dropped fields. ``None`` for a figure is unknown too (not reported)."""
    out, ignored = {}, []
    for key, value in meta.items():
        if value is None and key != "metrics":
            continue
        if key in _TEXT_FIELDS:
            ok = isinstance(value, str)
        elif key in _INT_FIELDS:
            ok = _is_number(value) and float(value).is_integer()
            value = int(value) if ok else value
        elif key in _NUMBER_FIELDS:
            ok = _is_number(value)
        elif key == "noise":
            ok = _good_noise(value)
        elif key == "history":
            ok = isinstance(value, list)
        elif key == "config":
            ok = isinstance(value, dict)
            if ok:
                value = dict(value)
                for sub, good in (("mnist", lambda v: isinstance(v, str)), ("noise", _good_noise)):
                    if value.get(sub) is not None and not good(value[sub]):
                        del value[sub]
                        ignored.append(f"config.{sub}")
        elif key == "metrics":
            ok = isinstance(value, dict)
            if ok:
                figures = {}
                for name, figure in value.items():
                    if figure is None:
                        continue
                    if (isinstance(figure, str) if name in _TEXT_METRICS else _is_number(figure)):
                        figures[name] = figure
                    else:
                        ignored.append(f"metrics.{name}")
                value = figures
        else:
            ok = True  # fields we do not read are kept as they are
        if ok:
            out[key] = value
        else:
            ignored.append(key)
    return out, tuple(sorted(ignored))


def _read_meta_checked(json_path: Path) -> tuple[Optional[dict], tuple]:
    if not json_path.exists():
        return None, ()
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"The metadata file {json_path.name} is malformed ({exc.__class__.__name__}).") from None
    if not isinstance(meta, dict) or meta.get("kind") not in EXPECTED_OUTPUT:
        raise ModelFileError(f"The metadata file {json_path.name} is not Desktop Denoiser metadata.")
    return _normalised(meta)


def _read_meta(json_path: Path) -> Optional[dict]:
    return _read_meta_checked(json_path)[0]


def _our_metadata(json_path: Path) -> bool:
    """True for a metadata file written by a save of this store (it names the format)."""
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


_checked_files: dict[tuple, Optional[str]] = {}  # (path, size, mtime) -> problem, see _keras_file_problem


def _file_key(path: Path) -> Optional[tuple]:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _keras_file_problem(path: Path) -> Optional[str]:
    """A cheap check of a ``.keras`` file without TensorFlow (a zip holding a Keras config, every
    member intact); the problem in one sentence, or None. Remembered per file version."""
    key = _file_key(path)
    if key is not None and key in _checked_files:
        return _checked_files[key]
    problem = None
    try:
        if not zipfile.is_zipfile(path):
            problem = f"{path.name} is not a valid Keras model file (corrupt or truncated)."
        else:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                missing = [m for m in KERAS_MEMBERS if m not in names]
                if missing:
                    problem = f"{path.name} could not be loaded as a Keras model (it holds no {missing[0]})."
                elif z.testzip() is not None:
                    problem = f"{path.name} is not a valid Keras model file (corrupt or truncated)."
                elif not isinstance(json.loads(z.read("config.json")), dict):
                    problem = f"{path.name} could not be loaded as a Keras model (its config is not a Keras config)."
    except (OSError, zipfile.BadZipFile, ValueError, RuntimeError, EOFError, NotImplementedError) as exc:
        problem = f"{path.name} could not be loaded as a Keras model ({type(exc).__name__})."
    if key is not None:
        _checked_files[key] = problem
    return problem


def load_keras(path: str | Path, kind: Optional[str] = None):
    """Load and check a ``.keras`` file; returns ``(model, kind)``. Raises ModelFileError."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file not found: {path}")
    if path.suffix != ".keras":
        raise ModelFileError(f"{path.name} is not a .keras model file.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path.name} is not a valid Keras model file (corrupt or truncated).")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - any failure of a foreign file becomes one message
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ModelFileError(f"{path.name} could not be loaded as a Keras model ({reason}).") from None
    shape_in = tuple(model.input_shape) if not isinstance(model.input_shape, list) else None
    if shape_in != (None, 28, 28, 1):
        raise ModelFileError(f"{path.name} takes input of shape {model.input_shape}; models here take 28×28×1 images.")
    shape_out = tuple(model.output_shape) if not isinstance(model.output_shape, list) else None
    found = next((k for k, shape in EXPECTED_OUTPUT.items() if shape == shape_out), None)
    if found is None or (kind is not None and found != kind):
        want = kind or "denoiser or classifier"
        raise ModelFileError(f"{path.name} gives output of shape {model.output_shape}, not a {want}.")
    return model, found


@dataclasses.dataclass
class LoadedModel:
    model: Any
    entry: ModelEntry


# ------------------------------------------------------------------------------------------
# reservations: one run at a time per name and folder

_held: "weakref.WeakValueDictionary[str, Reservation]" = weakref.WeakValueDictionary()  # lock file -> ours on it
_held_lock = threading.Lock()


def _key(lock_path: Path) -> str:
    return os.path.abspath(lock_path)


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


def _lock(folder: Path, name: str, wait: float = 0.0, requested: Optional[str] = None) -> Optional[Reservation]:
    """Reserve ``name`` in ``folder``; None when another run holds it for longer than ``wait``
    seconds. A SaveError when the folder cannot be written to."""
    path = folder / f".{name}{LOCK_SUFFIX}"
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
def _holding(folder: Path, name: str):
    """Hold ``name``'s reservation in ``folder`` for a rewrite (reusing this process's own)."""
    with _held_lock:
        own = _held.get(_key(folder / f".{name}{LOCK_SUFFIX}"))
    if own is not None and own.held:
        yield own
        return
    res = _lock(folder, name, wait=LOCK_WAIT)
    if res is None:
        raise SaveError(f"Another program is saving {name} in {folder}; try again when it has finished.")
    with res:
        yield res


def _leftovers(folder: Path, name: str) -> list[Path]:
    """What an unfinished save of ``name`` may have left in ``folder``: its temporary files and
    a metadata file without its model. Only call it holding ``name``'s reservation."""
    found = []
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            m = re.fullmatch(atomic.TEMPORARY_PATTERN, p.name)
            if m and m["stem"] == name and m["suffix"] in (".keras", ".json"):
                found.append(p)
    meta = folder / f"{name}.json"
    if meta.is_file() and not (folder / f"{name}.keras").exists() and _our_metadata(meta):
        found.append(meta)
    return found


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


_keras_dirs_cleaned = False


def _clean_keras_temp_dirs() -> list[Path]:
    """Remove the temporary folders Keras made for saves of processes that have ended (a save
    that was killed, or one that failed inside Keras)."""
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


_keras_patch_lock = threading.Lock()


@contextlib.contextmanager
def _keras_temp_dirs_removed():
    """While a model is saved on this thread, Keras's temporary folders are named for this
    process and removed afterwards: Keras leaks them when a save fails (and a kill leaves them
    for :func:`_clean_keras_temp_dirs`)."""
    try:
        from keras.src.saving import saving_lib

        original = saving_lib.get_temp_dir
    except (ImportError, AttributeError):  # another Keras: nothing to do
        yield
        return
    made, me = [], threading.get_ident()

    def get_temp_dir():
        if threading.get_ident() != me:
            return original()
        path = tempfile.mkdtemp(prefix=f"{KERAS_TEMP_PREFIX}{os.getpid()}-")
        made.append(path)
        return path

    with _keras_patch_lock:
        saving_lib.get_temp_dir = get_temp_dir
        try:
            yield
        finally:
            saving_lib.get_temp_dir = original
            for path in made:
                shutil.rmtree(path, ignore_errors=True)


def _os_error(exc: BaseException) -> Optional[OSError]:
    """The OSError behind ``exc`` (Keras and h5py sometimes wrap it), if any."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


def _finite(obj):
    """``obj`` with NaN and infinite figures replaced by None (JSON has no NaN)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return _finite(obj.item())
    except ImportError:  # pragma: no cover
        pass
    return obj


def _dumps(meta: dict, name: str) -> str:
    try:
        return json.dumps(_finite(meta), indent=2, sort_keys=True, default=_json_default) + "\n"
    except (TypeError, ValueError) as exc:
        raise SaveError(f"The metadata for {name} cannot be written ({exc}).") from None


class ModelStore:
    def __init__(self, bundled_dir: Optional[Path] = None, user_dir: Optional[Path] = None,
                 write_to: Optional[Path] = None):
        self.bundled_dir = Path(bundled_dir) if bundled_dir else paths.bundled_models_dir()
        self.user_dir = Path(user_dir) if user_dir else paths.user_models_dir()
        self.write_to = Path(write_to) if write_to else None  # where new models must go (no fallback)
        self._cleaned = False
        self._failed: dict[tuple, str] = {}  # files that failed to load: (path, size, mtime) -> why

    @property
    def write_dir(self) -> Path:
        """Where new models go: ``write_to`` when set, else the bundled folder of a source
        checkout if writable (that is where the shipped models are trained), else the user's
        folder (always, for an installed app)."""
        if self.write_to is not None:
            return self.write_to
        bundled = self.bundled_dir
        if paths.is_writable_dir(bundled) and not paths.is_installed_location(bundled):
            return bundled
        return self.user_dir

    def _folders(self):
        yield self.bundled_dir, "bundled"
        if self.user_dir.resolve() != self.bundled_dir.resolve():
            yield self.user_dir, "user"

    # cleaning up after killed saves ----------------------------------------------------------

    def clean_up(self) -> list[Path]:
        """Remove what unfinished saves left in the store's folders (temporary files, metadata
        without its model, stale reservations) and Keras's temporary folders of ended
        processes; returns what was removed. A save in progress (its reservation held) is left
        alone. Runs by itself the first time a store is listed or saved to."""
        self._cleaned = True
        removed: list[Path] = []
        for folder in {*(f for f, _ in self._folders()), *([self.write_to] if self.write_to else [])}:
            if not folder.is_dir() or paths.is_installed_location(folder):
                continue
            names = set()
            try:
                listing = list(folder.iterdir())
            except OSError:
                continue
            for p in listing:
                m = re.fullmatch(atomic.TEMPORARY_PATTERN, p.name)
                if p.name.startswith(".") and p.name.endswith(LOCK_SUFFIX):
                    names.add(p.name[1:-len(LOCK_SUFFIX)])
                elif m and m["suffix"] in (".keras", ".json"):
                    names.add(m["stem"])
                elif p.suffix == ".json" and not p.with_suffix(".keras").exists() and _our_metadata(p):
                    names.add(p.stem)
            for name in sorted(names):
                try:
                    res = _lock(folder, name)
                except SaveError:
                    break  # not ours to clean (a read-only folder)
                if res is None:
                    continue  # a save in progress
                with res:
                    for p in _leftovers(folder, name):
                        atomic.remove_quietly(p)
                        removed.append(p)
        removed.extend(_clean_keras_temp_dirs())
        return removed

    def _ensure_clean(self) -> None:
        if not self._cleaned:
            self.clean_up()

    # listing ---------------------------------------------------------------------------------

    def entries(self, kind: Optional[str] = None) -> list[ModelEntry]:
        """All models, bundled first then the user's, sorted by name; a name in the user's
        folder shadows the same name in the bundled one, unless the user's is unusable and the
        bundled one is not (both are listed then, the usable one first)."""
        self._ensure_clean()
        found: dict[str, ModelEntry] = {}
        shadowed_by_broken: list[ModelEntry] = []
        for folder, source in self._folders():
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.keras")):
                if path.name.startswith("."):
                    continue  # temporary file of a save in progress
                entry = self._entry(path, source)
                before = found.get(entry.name)
                if before is not None and entry.error and not before.error:
                    shadowed_by_broken.append(entry)  # reported, but the working one stays
                    continue
                found[entry.name] = entry
        items = sorted([*found.values(), *shadowed_by_broken], key=lambda e: (e.source != "bundled", e.name))
        return [e for e in items if kind is None or e.kind == kind]

    def _entry(self, path: Path, source: str) -> ModelEntry:
        ignored: tuple = ()
        try:
            meta, ignored = _read_meta_checked(path.with_suffix(".json"))
            error = None
        except ModelFileError as exc:
            meta, error = {}, str(exc)
        if meta is None:
            meta = {"name": path.stem, "kind": "unknown", "note": "no metadata file"}
        if error is None:
            error = _keras_file_problem(path) or self._failed.get(_file_key(path))
        return ModelEntry(path.stem, path, meta, source, error, ignored)

    def find(self, name_or_path: str) -> ModelEntry:
        candidate = Path(name_or_path)
        if candidate.suffix == ".keras" or candidate.is_file():
            if not candidate.is_file():
                raise ModelFileError(f"Model file not found: {candidate}")
            folder = candidate.resolve().parent
            source = next((src for d, src in self._folders() if d.is_dir() and d.resolve() == folder), "file")
            return self._entry(candidate, source)
        for entry in self.entries():
            if entry.name == name_or_path:
                return entry
        names = ", ".join(sorted({e.name for e in self.entries()})) or "none"
        raise ModelFileError(f"No model named '{name_or_path}' (available: {names}).")

    def load(self, name_or_path: str, kind: Optional[str] = None) -> LoadedModel:
        entry = self.find(name_or_path)
        if entry.error:
            raise ModelFileError(entry.error)
        try:
            model, found = load_keras(entry.path)
        except ModelFileError as exc:
            key = _file_key(entry.path)
            if key is not None:
                self._failed[key] = str(exc)  # from now on listed as unusable: never the default again
            raise
        if kind is not None and found != kind:
            raise ModelFileError(f"{entry.path.name} gives output of shape {model.output_shape}, not a {kind}.")
        if entry.meta.get("kind") in (None, "unknown"):
            entry.meta = {**entry.meta, "kind": found, "architecture": entry.meta.get("architecture", model.name)}
        elif entry.meta["kind"] != found:
            raise ModelFileError(f"{entry.path.name}: its metadata says {entry.meta['kind']} but the model is a {found}.")
        return LoadedModel(model, entry)

    def default(self, kind: str) -> Optional[ModelEntry]:
        """The preferred usable model of a kind: the shipped default if present and usable, else
        the newest usable one (a broken file is skipped, never chosen)."""
        wanted = DEFAULT_DENOISER if kind == "denoiser" else DEFAULT_CLASSIFIER
        usable = [e for e in self.entries(kind) if not e.error]
        for entry in usable:
            if entry.name == wanted:
                return entry
        return max(usable, key=lambda e: e.meta.get("created", ""), default=None)

    # saving ----------------------------------------------------------------------------------

    def reserve(self, name: Optional[str], folder: Optional[Path] = None, unique: bool = True) -> Reservation:
        """Reserve a name for a model about to be trained or saved, before any work: the name
        asked for, or ``NAME-2``, ``NAME-3``... when a model or another run already has it
        (``unique=False``: exactly that name, waiting for another save of it to end). A
        ConfigError for a bad name and a SaveError for a folder that cannot be written, now.
        Release it (or use it as a context manager) when the model and its figures are saved."""
        base = check_name(name)
        folder = Path(folder) if folder else self.write_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise SaveError(f"Cannot save models in {folder}: it is not a folder.") from None
        except OSError as exc:
            raise SaveError(f"Cannot create the folder {folder}: {exc.strerror or exc}") from None
        if not folder.is_dir():
            raise SaveError(f"Cannot save models in {folder}: it is not a folder.")
        self._ensure_clean()
        if not unique:
            res = _lock(folder, base, wait=LOCK_WAIT)
            if res is None:
                raise SaveError(f"Another program is saving {base} in {folder}; try again when it has finished.")
            for p in _leftovers(folder, base):
                atomic.remove_quietly(p)
            return res
        taken = {e.name for e in self.entries()}
        for i in itertools.count(1):
            candidate = base if i == 1 else f"{base}-{i}"
            if candidate in taken:
                continue
            res = _lock(folder, candidate, wait=0.25, requested=base)
            if res is None:
                continue  # another run is training a model of this name
            if (folder / f"{candidate}.keras").exists():
                res.release()  # saved by another run since we looked
                continue
            for p in _leftovers(folder, candidate):  # of a save of this name that was killed
                atomic.remove_quietly(p)
            return res
        raise AssertionError("unreachable")  # pragma: no cover

    def save(self, model, meta: dict, name: Optional[str] = None, folder: Optional[Path] = None, overwrite: bool = False,
             reservation: Optional[Reservation] = None) -> ModelEntry:
        """Atomically write ``NAME.keras`` and ``NAME.json``; returns the new entry. Under
        ``reservation`` (see :meth:`reserve`) with its name and folder, else with a name
        reserved now (a free one unless ``overwrite``)."""
        if reservation is None:
            with self.reserve(name, folder, unique=not overwrite) as res:
                return self.save(model, meta, reservation=res)
        if not reservation.held:
            raise SaveError(f"The reservation of {reservation.name} has ended; nothing was saved.")
        name, folder = reservation.name, reservation.folder
        target = folder / f"{name}.keras"
        json_target = target.with_suffix(".json")
        meta = {**meta, "name": name, "format": FORMAT, "run_id": reservation.run_id}
        text = _dumps(meta, name)
        tmp_model = atomic.temporary_beside(target)
        try:
            tmp_meta = atomic.temporary_beside(json_target)
        except SaveError:
            atomic.remove_quietly(tmp_model)
            raise
        try:
            try:
                with _keras_temp_dirs_removed():
                    model.save(tmp_model, include_optimizer=False)
            except Exception as exc:  # noqa: BLE001 - a disk problem becomes one message, bugs pass
                cause = _os_error(exc)
                if cause is None:
                    raise
                raise SaveError(f"Could not save {target}: {cause.strerror or cause}") from None
            try:
                tmp_meta.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise SaveError(f"Could not save {json_target}: {exc.strerror or exc}") from None
            atomic.flush_to_disk(tmp_model, target)
            atomic.flush_to_disk(tmp_meta, json_target)
            if target.exists():  # overwriting: the old pair stops being a model before the new one moves in
                try:
                    target.unlink()
                except OSError as exc:
                    raise SaveError(f"Could not replace {target}: {exc.strerror or exc}") from None
            atomic.move_into_place(tmp_meta, json_target)  # metadata first: the model appears complete
            atomic.move_into_place(tmp_model, target)
        finally:
            atomic.remove_quietly(tmp_model)
            atomic.remove_quietly(tmp_meta)
        return ModelEntry(name, target, meta, "bundled" if folder == self.bundled_dir else "user")

    def update_metadata(self, entry: ModelEntry, changes: dict) -> ModelEntry:
        """Atomically rewrite a model's metadata with ``changes`` merged in. Refused (SaveError)
        when the files on disk are no longer the run ``entry`` describes."""
        json_path = entry.path.with_suffix(".json")
        meta = {**entry.meta, **changes}
        text = _dumps(meta, entry.name)
        with _holding(entry.path.parent, entry.path.stem):
            run = entry.meta.get("run_id")
            if run is not None:
                try:
                    current = json.loads(json_path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    current = None
                if not entry.path.is_file() or not isinstance(current, dict) or current.get("run_id") != run:
                    raise SaveError(f"{entry.name} was replaced or deleted since it was saved; its metadata was not changed.")
            atomic.write_text(json_path, text)
        return dataclasses.replace(entry, meta=meta)

    def import_file(self, path: str | Path) -> ModelEntry:
        """Copy a checked ``.keras`` file (and its metadata, if any) into the write folder."""
        path = Path(path)
        model, kind = load_keras(path)
        meta = _read_meta(path.with_suffix(".json")) or {"kind": kind, "architecture": model.name}
        meta = {**meta, "kind": kind, "imported_from": str(path)}
        return self.save(model, meta, path.stem)

    def delete(self, name: str) -> None:
        entry = next((e for e in self.entries() if e.name == name and e.source == "user"), None) or self.find(name)
        if entry.source == "bundled" and self.write_dir != self.bundled_dir:
            raise SaveError(f"{name} ships with the app and cannot be deleted.")
        with _holding(entry.path.parent, entry.path.stem):
            for p in (entry.path, entry.path.with_suffix(".json")):  # the model first: no half is ever listed
                try:
                    p.unlink(missing_ok=True)
                except OSError as exc:
                    raise SaveError(f"Could not delete {p}: {exc.strerror}") from None


def _json_default(obj):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
