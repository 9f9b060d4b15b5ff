"""The model store: ``NAME.keras`` plus ``NAME.json`` metadata, in the bundled folder and the
user's data folder.

* A save first reserves its name (:meth:`ModelStore.reserve`, a lock of :mod:`reservation`),
  from the start of a training until its figures are written. Two runs never get the same name
  (the second gets ``NAME-2``), and a name or folder that cannot be used is refused before any
  work.
* Saves are atomic: both files are written in full beside their targets, then renamed into
  place, the metadata first and the model last. A model exists when its ``.keras`` is in place,
  and by then its metadata is too; the metadata names the run (``run_id``), so a later rewrite
  of the figures can never land on another run's model.
* What a killed or failed save leaves (hidden temporary files, a metadata file without its
  model, a stale lock, Keras's temporary folder) is removed on failure and, after a kill, by
  the next program that opens the store (:mod:`store_cleanup`).
* New models go to the user's data folder, never into the bundled one by themselves (in a
  source checkout that is the git-tracked ``trained_models/``). A store made with ``write_to``
  writes there instead (``train --out``), and with ``overwrite`` replaces a model of the same
  name there (``train --bundled`` re-creating the shipped models); nothing else ever replaces
  a model: a taken name becomes ``NAME-2``.
* A corrupt or foreign file gives a :class:`ModelFileError` with one clear sentence; listing
  the store never fails because of one bad file (the entry carries the error instead), and a
  broken model in the user's folder does not hide a working bundled one of the same name.
  Metadata fields of the wrong type are dropped on load (shown as unknown), never a crash.

The files themselves (checking and loading a ``.keras``, writing the metadata) are in
:mod:`model_files`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path
from typing import Any, Optional

from . import atomic, paths
from .errors import ModelFileError, SaveError
from .figures import TEXT_KEYS, ModelFigures
from .model_files import (  # noqa: F401 - FORMAT, KERAS_*, load_keras and now_iso are importable from here
    EXPECTED_OUTPUT, FORMAT, KERAS_MEMBERS, KERAS_TEMP_PREFIX, dumps, file_key, keras_file_problem, load_keras, now_iso,
    write_pair,
)
from .reservation import (  # noqa: F401 - check_name, MAX_NAME_LENGTH, LOCK_* and Reservation are importable from here
    LOCK_SUFFIX, LOCK_WAIT, MAX_NAME_LENGTH, Reservation, check_name, holding, lock,
)
from .store_cleanup import clean_folder, clean_keras_temp_dirs, remove_leftovers

DEFAULT_DENOISER = "unet-mixed"
DEFAULT_CLASSIFIER = "classifier"


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

    @property
    def figures(self) -> ModelFigures:
        """Its test figures, as recorded in its metadata."""
        return ModelFigures.of_entry(self)

    def summary(self) -> str:
        """One line for lists: name, architecture, noise and the headline figure."""
        if self.error:
            return f"{self.name}  [unusable: {self.error}]"
        parts = [self.name, self.architecture]
        if self.kind == "denoiser":
            parts.append(f"noise {self.meta.get('noise_label', '?')}")
        if self.figures.short():
            parts.append(self.figures.short())
        if self.ignored:
            parts.append(f"[unknown: {', '.join(self.ignored)}]")
        return "  ".join(parts)


# ------------------------------------------------------------------------------------------
# metadata: read, checked field by field

_TEXT_FIELDS = {"name", "architecture", "architecture_summary", "noise_label", "created", "note", "device",
                "stop_reason", "format", "run_id", "app_version", "tensorflow", "keras", "python", "imported_from"}
_INT_FIELDS = {"parameters", "epochs_requested", "epochs_trained", "best_epoch"}
_NUMBER_FIELDS = {"train_loss", "val_loss", "training_seconds", "images_per_s"}
_TEXT_METRICS = TEXT_KEYS  # the figures that are text (figures.py owns the keys)


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


@dataclasses.dataclass
class LoadedModel:
    model: Any
    entry: ModelEntry



class ModelStore:
    """The bundled models and the user's, and where new models go.

    ``write_to``: the folder new models go to, there or nowhere (default: the user's folder; a
    folder of its own is also read, before the others). ``overwrite``: a new model replaces one
    of the same name in that folder (atomically, both halves) instead of taking ``NAME-2``: only
    for re-creating the shipped models (``train --bundled``), never by default."""

    def __init__(self, bundled_dir: Optional[Path] = None, user_dir: Optional[Path] = None,
                 write_to: Optional[Path] = None, overwrite: bool = False):
        self.bundled_dir = Path(bundled_dir) if bundled_dir else paths.bundled_models_dir()
        self.user_dir = Path(user_dir) if user_dir else paths.user_models_dir()
        self.write_to = Path(write_to) if write_to else None  # where new models must go (no fallback)
        self.overwrite = overwrite
        self._cleaned = False
        self._failed: dict[tuple, str] = {}  # files that failed to load: (path, size, mtime) -> why

    @property
    def write_dir(self) -> Path:
        """Where new models go: ``write_to`` when set, else the user's folder. Never the bundled
        folder by itself, even a writable one: in a source checkout that is the git-tracked
        ``trained_models/``, written to only on purpose (``train --bundled``)."""
        return self.write_to if self.write_to is not None else self.user_dir

    def _own_folder(self) -> Optional[Path]:
        """``write_to`` when it is neither the bundled nor the user's folder (``train --out``)."""
        if self.write_to is None or any(_same(self.write_to, d) for d in (self.bundled_dir, self.user_dir)):
            return None
        return self.write_to

    def _folders(self):
        """``(folder, source)``, the lowest priority first: a model shadows one of the same name
        in an earlier folder. The folder new models go to comes last, so a name finds the model
        just saved under it. A store that writes elsewhere than the user's folder (``train
        --out`` or ``--bundled``) puts the shipped models before the user's: what it trains is
        measured with the shipped classifier, not with one the user trained under its name."""
        if self.write_to is None or _same(self.write_to, self.user_dir):
            order = [(self.bundled_dir, "bundled"), (self.user_dir, "user")]
        else:
            order = [(self.user_dir, "user"), (self.bundled_dir, "bundled"), (self.write_to, "user")]
        seen: list[Path] = []
        for folder, source in order:
            if not any(_same(folder, s) for s in seen):
                seen.append(folder)
                yield folder, source

    # cleaning up after killed saves ----------------------------------------------------------

    def clean_up(self) -> list[Path]:
        """Remove what unfinished saves left in the store's folders (temporary files, metadata
        without its model, stale reservations) and Keras's temporary folders of ended
        processes; returns what was removed. A save in progress (its reservation held) is left
        alone. Runs by itself the first time a store is listed or saved to."""
        self._cleaned = True
        removed: list[Path] = []
        for folder in {*(f for f, _ in self._folders()), *([self.write_to] if self.write_to else [])}:
            removed.extend(clean_folder(folder))
        removed.extend(clean_keras_temp_dirs())
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
            error = keras_file_problem(path) or self._failed.get(file_key(path))
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
            key = file_key(entry.path)
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

    def reserve(self, name: Optional[str], folder: Optional[Path] = None, unique: Optional[bool] = None) -> Reservation:
        """Reserve a name for a model about to be trained or saved, before any work: the name
        asked for, or ``NAME-2``, ``NAME-3``... when a model or another run already has it
        (``unique=False``: exactly that name, waiting for another save of it to end; the
        default is the store's ``overwrite``). A ConfigError for a bad name and a SaveError for
        a folder that cannot be written, now. Release it (or use it as a context manager) when
        the model and its figures are saved."""
        if unique is None:
            unique = not self.overwrite
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
            res = lock(folder, base, wait=LOCK_WAIT)
            if res is None:
                raise SaveError(f"Another program is saving {base} in {folder}; try again when it has finished.")
            remove_leftovers(folder, base)
            return res
        # a folder of its own (train --out) is a collection by itself: only its names are taken
        # (its models shadow the others in this store, and are used from that folder later)
        own = self._own_folder()
        taken = {e.name for e in self.entries() if own is None or e.path.parent == own}
        for i in itertools.count(1):
            candidate = base if i == 1 else f"{base}-{i}"
            if candidate in taken:
                continue
            res = lock(folder, candidate, wait=0.25, requested=base)
            if res is None:
                continue  # another run is training a model of this name
            if (folder / f"{candidate}.keras").exists():
                res.release()  # saved by another run since we looked
                continue
            remove_leftovers(folder, candidate)  # of a save of this name that was killed
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
        meta = {**meta, "name": name, "format": FORMAT, "run_id": reservation.run_id}
        text = dumps(meta, name)
        write_pair(model, text, target)
        return ModelEntry(name, target, meta, "bundled" if folder == self.bundled_dir else "user")

    def update_metadata(self, entry: ModelEntry, changes: dict) -> ModelEntry:
        """Atomically rewrite a model's metadata with ``changes`` merged in. Refused (SaveError)
        when the files on disk are no longer the run ``entry`` describes."""
        json_path = entry.path.with_suffix(".json")
        meta = {**entry.meta, **changes}
        text = dumps(meta, entry.name)
        with holding(entry.path.parent, entry.path.stem):
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
        with holding(entry.path.parent, entry.path.stem):
            for p in (entry.path, entry.path.with_suffix(".json")):  # the model first: no half is ever listed
                try:
                    p.unlink(missing_ok=True)
                except OSError as exc:
                    raise SaveError(f"Could not delete {p}: {exc.strerror}") from None


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()
