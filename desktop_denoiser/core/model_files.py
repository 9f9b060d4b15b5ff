"""The two files of a stored model, below the store: ``NAME.keras`` checked and loaded, and
``NAME.json`` written.

* :func:`keras_file_problem` checks a ``.keras`` file without TensorFlow (listing the store
  must stay cheap and never fail because of one bad file); :func:`load_keras` loads one and
  checks that it is a model of ours (28×28×1 in, a digit image or ten classes out).
* :func:`dumps` is the metadata as written: NaN and infinite figures become ``null`` (JSON has
  no NaN), numpy scalars and paths plain values, anything else one SaveError.
* :func:`keras_temp_dirs_removed` names Keras's temporary folders of a save for this process
  and removes them after it (Keras leaks them when a save fails; :mod:`store_cleanup` removes
  those of a process that was killed).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Optional

from . import atomic
from .errors import ModelFileError, SaveError

FORMAT = "desktop-denoiser-model/1"
EXPECTED_OUTPUT = {"denoiser": (None, 28, 28, 1), "classifier": (None, 10)}
KERAS_TEMP_PREFIX = "desktop-denoiser-keras-"  # + PID-: Keras's temporary folders of our saves
KERAS_MEMBERS = ("config.json", "metadata.json")  # every .keras file holds these


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def our_metadata(json_path: Path) -> bool:
    """True for a metadata file written by a save of this store (it names the format)."""
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


# ------------------------------------------------------------------------------------------
# .keras files: a cheap check, and the real load

_checked_files: dict[tuple, Optional[str]] = {}  # (path, size, mtime) -> problem, see keras_file_problem


def file_key(path: Path) -> Optional[tuple]:
    """What names one version of a file: ``(path, size, mtime)``; None when it is gone."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def keras_file_problem(path: Path) -> Optional[str]:
    """A cheap check of a ``.keras`` file without TensorFlow (a zip holding a Keras config, every
    member intact); the problem in one sentence, or None. Remembered per file version."""
    key = file_key(path)
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


# ------------------------------------------------------------------------------------------
# writing: Keras's temporary folders, the OSError behind a failed save, the metadata text, the pair

_keras_patch_lock = threading.Lock()


@contextlib.contextmanager
def keras_temp_dirs_removed():
    """While a model is saved on this thread, Keras's temporary folders are named for this
    process and removed afterwards: Keras leaks them when a save fails (and a kill leaves them
    for :func:`store_cleanup.clean_keras_temp_dirs`)."""
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


def os_error(exc: BaseException) -> Optional[OSError]:
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


def dumps(meta: dict, name: str) -> str:
    """The text of ``name``'s metadata file; a SaveError when ``meta`` cannot be written."""
    try:
        return json.dumps(_finite(meta), indent=2, sort_keys=True, default=_json_default) + "\n"
    except (TypeError, ValueError) as exc:
        raise SaveError(f"The metadata for {name} cannot be written ({exc}).") from None


def write_pair(model, text: str, target: Path) -> None:
    """Atomically write the model ``target`` (``NAME.keras``) and the metadata ``text`` beside it
    (``NAME.json``): both in full beside their targets, flushed to disk, then renamed into
    place, the metadata first and the model last, so that a model in place always has its
    metadata. A model of that name already there stops being one before the new one moves in:
    a kill in between leaves no model (and metadata the next start removes), never a pair of
    two runs. Nothing is left behind on failure (a SaveError naming the file)."""
    json_target = target.with_suffix(".json")
    tmp_model = atomic.temporary_beside(target)
    try:
        tmp_meta = atomic.temporary_beside(json_target)
    except SaveError:
        atomic.remove_quietly(tmp_model)
        raise
    try:
        try:
            with keras_temp_dirs_removed():
                model.save(tmp_model, include_optimizer=False)
        except Exception as exc:  # noqa: BLE001 - a disk problem becomes one message, bugs pass
            cause = os_error(exc)
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
