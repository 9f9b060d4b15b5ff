"""The work on one image file of ``desktop-denoiser denoise``, the same for one file as for a
folder: decode and preprocess (:func:`prepare_file`, the image half of a frame), and encode and write the output PNG
(:func:`write`), atomically and never replacing a file unless asked.

The worker processes of :func:`filebatch.run` run the tasks at the end, by chunks of files:
this module imports neither the store nor TensorFlow, so a spawned worker starts quickly.
"""

from __future__ import annotations

import signal
import struct
import zlib
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from . import atomic, frame, imageio, preprocess
from .errors import ImageError, SaveError
from .file_plan import FAILED, SKIPPED, WRITTEN
from .noise import NoiseSpec


def prepare_file(source: Path, noise: Optional[NoiseSpec] = None, seed: int = 0) -> frame.Prepared:
    """The image half of a file's frame (:func:`frame.prepare`): decode, bring to the MNIST
    convention, add the noise. Raises ImageError for an unreadable file. The analysis is left
    out: a worker process sends this back to the parent, which only needs the arrays."""
    prepared = frame.prepare(imageio.load_image(source), noise=noise, seed=seed)
    prepared.analysis = None
    return prepared


def prepare(source: Path, noise: Optional[NoiseSpec] = None, seed: int = 0) -> np.ndarray:
    """:func:`prepare_file`'s noisy digit: a (28, 28) float32 array in [0, 1], what the denoiser sees."""
    return prepare_file(source, noise, seed).noisy


def output_pixels(reconstruction: np.ndarray, size: int = 28) -> np.ndarray:
    """The uint8 pixels written for a (28, 28) reconstruction in [0, 1], at ``size``."""
    if size == 28:
        return imageio.to_uint8(reconstruction)
    return np.asarray(preprocess.from_mnist(reconstruction, size), np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    """A greyscale (H, W) uint8 array as the bytes of an 8-bit PNG (a tenth of Pillow's time
    for a 28×28 image, which matters at thousands of files a second)."""
    a = np.ascontiguousarray(pixels, np.uint8)
    h, w = a.shape
    raw = np.zeros((h, w + 1), np.uint8)  # each row starts with its filter type, 0 (none)
    raw[:, 1:] = a

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def write(targets: Sequence[Path], pixels: Sequence[np.ndarray], overwrite: bool = False) -> list[tuple[str, Optional[str]]]:
    """Write output PNGs atomically, with one flush to disk for the lot; never replaces a file
    unless ``overwrite``. Returns ``(status, message)`` per file."""
    items = []
    for t, p in zip(targets, pixels):
        try:
            items.append((t, encode_png(p)))
        except MemoryError:
            items.append((t, None))
    ok = [(t, data) for t, data in items if data is not None]
    results = iter(atomic.create_files(ok, replace=overwrite))
    out = []
    for t, data in items:
        r = next(results) if data is not None else SaveError(f"Could not save {t}: not enough memory.")
        if r is True:
            out.append((WRITTEN, None))
        elif r is False:
            out.append((SKIPPED, f"{t} already exists (--overwrite replaces it)"))
        else:
            out.append((FAILED, str(r)))
    return out


# worker-process tasks (module-level so that a spawned process can import them) ----------------


def init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle


def prepare_chunk(sources: list[str], noise: Optional[NoiseSpec], seed: int):
    """:func:`prepare_file` for each source: ``(prepared, errors)``, one of each per source (None
    and the error, for a file that cannot be read)."""
    prepared, errors = [], []
    for s in sources:
        try:
            prepared.append(prepare_file(Path(s), noise, seed))
            errors.append(None)
        except ImageError as exc:
            prepared.append(None)
            errors.append(str(exc))
        except MemoryError:
            prepared.append(None)
            errors.append(f"Cannot open {Path(s).name}: not enough memory.")
    return prepared, errors


def write_chunk(targets: list[str], images: np.ndarray, size: int, overwrite: bool):
    """``images``: the batch's uint8 pixels at 28×28, else its (N, 28, 28) reconstructions."""
    pixels = images if size == 28 else [output_pixels(r, size) for r in images]
    return write([Path(t) for t in targets], pixels, overwrite)

