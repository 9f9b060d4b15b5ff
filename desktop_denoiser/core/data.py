"""MNIST: find it, load it, split it deterministically.

Lookup order: an explicit path, else ``$DESKTOP_DENOISER_MNIST``, else Keras's own download
and cache (``keras.datasets.mnist.load_data``). An explicit path or variable that does not
work is an error at once (no silent download behind a typo).
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import DatasetError

ENV_VAR = "DESKTOP_DENOISER_MNIST"
HOW_TO_GET = (
    "download mnist.npz (the file keras.datasets.mnist.load_data() fetches) and pass it with "
    f"--mnist PATH or set {ENV_VAR}=PATH"
)


@dataclasses.dataclass(frozen=True)
class Mnist:
    x_train: np.ndarray  # (60000, 28, 28) uint8
    y_train: np.ndarray  # (60000,) uint8
    x_test: np.ndarray  # (10000, 28, 28) uint8
    y_test: np.ndarray
    source: str


@dataclasses.dataclass(frozen=True)
class Split:
    """Float images in [0, 1], shape (N, 28, 28), with their labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


_cache: dict[str, Mnist] = {}


def load_mnist(path: str | os.PathLike | None = None) -> Mnist:
    """Load MNIST (uint8 arrays). Raises :class:`DatasetError` with a how-to when none is found."""
    if path is None and os.environ.get(ENV_VAR):
        path = os.environ[ENV_VAR]
    key = str(Path(path).resolve()) if path is not None else "<keras>"
    if key in _cache:
        return _cache[key]
    if path is not None:
        data = _load_npz(Path(path))
    else:
        data = _load_with_keras()
    _cache[key] = data
    return data


ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _load_npz(path: Path) -> Mnist:
    if not path.is_file():
        raise DatasetError(f"MNIST file not found: {path}; {HOW_TO_GET}.")
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read ({exc.strerror or exc}); {HOW_TO_GET}.") from None
    if head.startswith(b"\x93NUMPY"):
        raise DatasetError(f"{path} is a single NumPy array (.npy), not an mnist.npz holding x_train, y_train, "
                           f"x_test and y_test; {HOW_TO_GET}.")
    if not head.startswith(b"PK"):
        raise DatasetError(f"{path} is not an mnist.npz (not a NumPy .npz archive); {HOW_TO_GET}.")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ARRAYS if k not in f.files]
            if missing:
                raise DatasetError(f"{path} is not an mnist.npz: it has no {', '.join(missing)} array; {HOW_TO_GET}.")
            arrays = {k: f[k] for k in ARRAYS}
    except ValueError as exc:
        if "pickle" in str(exc):  # object arrays: never unpickled (a file could run code that way)
            raise DatasetError(f"{path} is not an mnist.npz: it holds Python objects, not arrays of numbers; "
                               f"{HOW_TO_GET}.") from None
        raise DatasetError(f"{path} is not a readable mnist.npz ({exc}); {HOW_TO_GET}.") from None
    except (OSError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{path} is not a readable mnist.npz ({exc}); {HOW_TO_GET}.") from None
    return _validated(arrays, str(path))


def _load_with_keras() -> Mnist:
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # noqa: BLE001 - any failure of the download becomes one message
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(f"MNIST is not available (Keras's download failed: {reason}); {HOW_TO_GET}.") from None
    return _validated(dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test), "keras cache")


def _validated(arrays: dict[str, np.ndarray], source: str) -> Mnist:
    """The arrays as MNIST (uint8 images 0-255, integer labels 0-9), or a DatasetError saying
    what is wrong: checked before any training, nothing is cut or cast silently."""
    for name in ("x_train", "x_test"):
        a = arrays[name]
        if a.ndim != 3 or a.shape[1:] != (28, 28):
            raise DatasetError(f"{source}: {name} has shape {a.shape}, expected (N, 28, 28).")
    for x, y in (("x_train", "y_train"), ("x_test", "y_test")):
        if len(arrays[x]) != len(arrays[y]):
            raise DatasetError(f"{source}: {x} and {y} differ in length.")
        if len(arrays[x]) == 0:
            raise DatasetError(f"{source}: {x} holds no images.")
    return Mnist(
        _pixels(arrays["x_train"], "x_train", source),
        _labels(arrays["y_train"], "y_train", source),
        _pixels(arrays["x_test"], "x_test", source),
        _labels(arrays["y_test"], "y_test", source),
        source,
    )


def _pixels(a: np.ndarray, name: str, source: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise DatasetError(f"{source}: {name} holds {a.dtype} values, not pixel values 0-255.")
    lo, hi = a.min(), a.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise DatasetError(f"{source}: {name} holds NaN or infinite values, not pixel values 0-255.")
    if hi <= 1:
        raise DatasetError(f"{source}: {name} holds values from {lo:g} to {hi:g}, as if scaled to [0, 1]; mnist.npz "
                           "holds pixel values 0-255 (multiply by 255 and store them as uint8).")
    if lo < 0 or hi > 255:
        raise DatasetError(f"{source}: {name} holds values from {lo:g} to {hi:g}, outside the pixel values 0-255.")
    return np.rint(a).astype(np.uint8) if np.issubdtype(a.dtype, np.floating) else a.astype(np.uint8)


def _labels(y: np.ndarray, name: str, source: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(f"{source}: {name} has shape {y.shape}, expected one label per image (N,).")
    if np.issubdtype(y.dtype, np.floating):
        if not (np.isfinite(y).all() and (y == np.rint(y)).all()):
            raise DatasetError(f"{source}: {name} holds labels that are not whole numbers; MNIST labels are the digits 0-9.")
    elif not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{source}: {name} holds {y.dtype} values, not the digits 0-9.")
    lo, hi = y.min(), y.max()
    if lo < 0 or hi > 9:
        raise DatasetError(f"{source}: {name} holds labels from {lo:g} to {hi:g}; MNIST labels are the digits 0-9.")
    return y.astype(np.int64)


def to_float(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


def train_val_split(data: Mnist, val_fraction: float = 0.1, seed: int = 0, subset: int | None = None) -> Split:
    """Deterministic shuffled split of the training set (the shared file is grouped by class,
    so a plain tail split would validate on nines only). ``subset`` keeps that many training
    images (the validation part scales with it)."""
    n = len(data.x_train)
    order = np.random.default_rng(seed).permutation(n)
    if subset is not None:
        subset = int(subset)
        if subset < 10:
            raise DatasetError("The training subset must hold at least 10 images.")
        total = min(n, int(round(subset / (1.0 - val_fraction))))
        order = order[:total]
    n_val = max(1, int(round(len(order) * val_fraction)))
    val, train = order[:n_val], order[n_val:]
    return Split(to_float(data.x_train[train]), data.y_train[train], to_float(data.x_train[val]), data.y_train[val])
