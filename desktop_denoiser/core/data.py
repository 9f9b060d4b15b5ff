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


def _load_npz(path: Path) -> Mnist:
    if not path.is_file():
        raise DatasetError(f"MNIST file not found: {path}; {HOW_TO_GET}.")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
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
    for name in ("x_train", "x_test"):
        a = arrays[name]
        if a.ndim != 3 or a.shape[1:] != (28, 28):
            raise DatasetError(f"{source}: {name} has shape {a.shape}, expected (N, 28, 28).")
    for x, y in (("x_train", "y_train"), ("x_test", "y_test")):
        if len(arrays[x]) != len(arrays[y]):
            raise DatasetError(f"{source}: {x} and {y} differ in length.")
    return Mnist(
        arrays["x_train"].astype(np.uint8, copy=False),
        arrays["y_train"].astype(np.int64),
        arrays["x_test"].astype(np.uint8, copy=False),
        arrays["y_test"].astype(np.int64),
        source,
    )


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
