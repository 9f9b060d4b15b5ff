"""The model store: ``NAME.keras`` plus ``NAME.json`` metadata, in the bundled folder and the
user's data folder.

* Saves are atomic (temporary file in the same folder, then rename), model first, metadata
  second; a failure leaves the previous files intact.
* New models go to the bundled folder when it is writable (a source checkout, where the
  shipped models are trained) and to the user's data folder otherwise (an installed app).
* A corrupt or foreign file gives a :class:`ModelFileError` with one clear sentence; listing
  the store never fails because of one bad file (the entry carries the error instead).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import re
import zipfile
from pathlib import Path
from typing import Any, Optional

from . import atomic, paths
from .errors import ModelFileError, SaveError

FORMAT = "desktop-denoiser-model/1"
DEFAULT_DENOISER = "unet-mixed"
DEFAULT_CLASSIFIER = "classifier"
EXPECTED_OUTPUT = {"denoiser": (None, 28, 28, 1), "classifier": (None, 10)}


@dataclasses.dataclass
class ModelEntry:
    name: str
    path: Path
    meta: dict
    source: str  # "bundled" or "user"
    error: Optional[str] = None

    @property
    def kind(self) -> str:
        return self.meta.get("kind", "unknown")

    @property
    def architecture(self) -> str:
        return self.meta.get("architecture", "?")

    def summary(self) -> str:
        """One line for lists: name, architecture, noise and the headline figure."""
        if self.error:
            return f"{self.name}  [unusable: {self.error}]"
        m = self.meta.get("metrics", {})
        parts = [self.name, self.architecture]
        if self.kind == "denoiser":
            parts.append(f"noise {self.meta.get('noise_label', '?')}")
            if "test_psnr" in m:
                parts.append(f"PSNR {m['test_psnr']:.2f} dB")
            if "test_accuracy_denoised" in m:
                parts.append(f"acc {100 * m['test_accuracy_denoised']:.2f}%")
        elif "test_accuracy" in m:
            parts.append(f"acc {100 * m['test_accuracy']:.2f}%")
        return "  ".join(parts)


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "-", name.strip()).strip("-.")
    return cleaned or "model"


def _read_meta(json_path: Path) -> Optional[dict]:
    if not json_path.exists():
        return None
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"The metadata file {json_path.name} is malformed ({exc.__class__.__name__}).") from None
    if not isinstance(meta, dict) or meta.get("kind") not in EXPECTED_OUTPUT:
        raise ModelFileError(f"The metadata file {json_path.name} is not Desktop Denoiser metadata.")
    return meta


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


class ModelStore:
    def __init__(self, bundled_dir: Optional[Path] = None, user_dir: Optional[Path] = None):
        self.bundled_dir = Path(bundled_dir) if bundled_dir else paths.bundled_models_dir()
        self.user_dir = Path(user_dir) if user_dir else paths.user_models_dir()

    @property
    def write_dir(self) -> Path:
        """Where new models go: the bundled folder of a source checkout if writable (that is where
        the shipped models are trained), else the user's folder (always, for an installed app)."""
        bundled = self.bundled_dir
        if paths.is_writable_dir(bundled) and not paths.is_installed_location(bundled):
            return bundled
        return self.user_dir

    def _folders(self):
        yield self.bundled_dir, "bundled"
        if self.user_dir.resolve() != self.bundled_dir.resolve():
            yield self.user_dir, "user"

    def entries(self, kind: Optional[str] = None) -> list[ModelEntry]:
        """All models, bundled first then the user's, sorted by name; a name in the user's
        folder shadows the same name in the bundled one."""
        found: dict[str, ModelEntry] = {}
        for folder, source in self._folders():
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.keras")):
                if path.name.startswith("."):
                    continue  # temporary file of a save in progress
                found[path.stem] = self._entry(path, source)
        items = sorted(found.values(), key=lambda e: (e.source != "bundled", e.name))
        return [e for e in items if kind is None or e.kind == kind]

    @staticmethod
    def _entry(path: Path, source: str) -> ModelEntry:
        try:
            meta = _read_meta(path.with_suffix(".json"))
            error = None
        except ModelFileError as exc:
            meta, error = {}, str(exc)
        if meta is None:
            meta = {"name": path.stem, "kind": "unknown", "note": "no metadata file"}
        return ModelEntry(path.stem, path, meta, source, error)

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
        names = ", ".join(e.name for e in self.entries()) or "none"
        raise ModelFileError(f"No model named '{name_or_path}' (available: {names}).")

    def load(self, name_or_path: str, kind: Optional[str] = None) -> LoadedModel:
        entry = self.find(name_or_path)
        if entry.error:
            raise ModelFileError(entry.error)
        model, found = load_keras(entry.path, kind)
        if entry.meta.get("kind") in (None, "unknown"):
            entry.meta = {**entry.meta, "kind": found, "architecture": entry.meta.get("architecture", model.name)}
        elif entry.meta["kind"] != found:
            raise ModelFileError(f"{entry.path.name}: its metadata says {entry.meta['kind']} but the model is a {found}.")
        return LoadedModel(model, entry)

    def default(self, kind: str) -> Optional[ModelEntry]:
        """The preferred model of a kind: the shipped default if present, else the newest."""
        wanted = DEFAULT_DENOISER if kind == "denoiser" else DEFAULT_CLASSIFIER
        usable = [e for e in self.entries(kind) if not e.error]
        for entry in usable:
            if entry.name == wanted:
                return entry
        return max(usable, key=lambda e: e.meta.get("created", ""), default=None)

    def save(self, model, meta: dict, name: str, folder: Optional[Path] = None, overwrite: bool = False) -> ModelEntry:
        """Atomically write ``name.keras`` and ``name.json``; returns the new entry."""
        folder = Path(folder) if folder else self.write_dir
        name = _safe_name(name) if overwrite else self._unique_in(folder, _safe_name(name))
        target = folder / f"{name}.keras"
        meta = {**meta, "name": name, "format": FORMAT}
        try:
            text = json.dumps(meta, indent=2, sort_keys=True, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise SaveError(f"The metadata for {name} cannot be written ({exc}).") from None
        # both files are written in full before either is renamed into place
        with atomic.atomic_path(target) as tmp_model, atomic.atomic_path(target.with_suffix(".json")) as tmp_meta:
            model.save(tmp_model, include_optimizer=False)
            tmp_meta.write_text(text + "\n", encoding="utf-8")
        return ModelEntry(name, target, meta, "bundled" if folder == self.bundled_dir else "user")

    def update_metadata(self, entry: ModelEntry, changes: dict) -> ModelEntry:
        """Atomically rewrite a model's metadata with ``changes`` merged in."""
        meta = {**entry.meta, **changes}
        try:
            text = json.dumps(meta, indent=2, sort_keys=True, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise SaveError(f"The metadata for {entry.name} cannot be written ({exc}).") from None
        atomic.write_text(entry.path.with_suffix(".json"), text + "\n")
        return dataclasses.replace(entry, meta=meta)

    def _unique_in(self, folder: Path, base: str) -> str:
        taken = {e.name for e in self.entries()}
        if folder.is_dir():
            taken |= {p.stem for p in folder.glob("*.keras")}
        if base not in taken:
            return base
        i = 2
        while f"{base}-{i}" in taken:
            i += 1
        return f"{base}-{i}"

    def import_file(self, path: str | Path) -> ModelEntry:
        """Copy a checked ``.keras`` file (and its metadata, if any) into the write folder."""
        path = Path(path)
        model, kind = load_keras(path)
        meta = _read_meta(path.with_suffix(".json")) or {"kind": kind, "architecture": model.name}
        meta = {**meta, "kind": kind, "imported_from": str(path)}
        return self.save(model, meta, path.stem)

    def delete(self, name: str) -> None:
        entry = self.find(name)
        if entry.source == "bundled" and self.write_dir != self.bundled_dir:
            raise SaveError(f"{name} ships with the app and cannot be deleted.")
        for p in (entry.path, entry.path.with_suffix(".json")):
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
