"""Reading and writing image files safely.

Every problem with an input file (missing, a folder, empty, not an image, corrupt, truncated,
too large, an unsupported format) is raised as :class:`~desktop_denoiser.core.errors.ImageError`
with one sentence naming the file; nothing else escapes :func:`load_image` and
:func:`image_from_bytes`. Writing goes through :mod:`desktop_denoiser.core.atomic`, so a failed
save never leaves a partial file and never damages the file being replaced.

Pillow's global state is left alone apart from ``Image.MAX_IMAGE_PIXELS``, which is set to
:data:`MAX_PIXELS` so Pillow's own decompression-bomb guard agrees with ours.
``ImageFile.LOAD_TRUNCATED_IMAGES`` is never touched (it must stay ``False`` so a truncated
file is an error rather than a silently grey image).
"""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
import zlib
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

from .atomic import write_with
from .errors import ImageError, SaveError

__all__ = [
    "MAX_PIXELS",
    "MAX_FILE_BYTES",
    "load_image",
    "image_from_bytes",
    "save_png",
    "to_uint8",
]

#: Images with more pixels than this (width * height, from the header) are refused.
MAX_PIXELS = 50_000_000
#: Files larger than this are refused before being read (no digit image is anywhere near it).
MAX_FILE_BYTES = 512 * 1024 * 1024

# Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that; keep it consistent with ours.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Formats whose "decoder" runs an external program (Ghostscript) are never opened.
_UNSAFE_FORMATS = frozenset({"EPS"})

# Everything Pillow's decoders are known to raise on malformed data.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    struct.error,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
    AttributeError,
    RuntimeError,
    zlib.error,
    UnicodeError,
    AssertionError,
)

PathLike = Union[str, os.PathLike]


def _allowed_formats() -> list[str]:
    Image.init()
    return [fmt for fmt in Image.OPEN if fmt not in _UNSAFE_FORMATS]


def load_image(path: PathLike) -> Image.Image:
    """Open an image file and fully decode it (first frame of animations).

    Returns a detached :class:`PIL.Image.Image` (no open file handle). Raises
    :class:`ImageError` for every kind of failure.
    """
    try:
        p = Path(path)
        name = p.name or str(path)
    except TypeError as exc:
        raise ImageError(f"Cannot open {path!r}: it is not a file path.") from exc
    try:
        if p.is_dir():  # before os.open, which on Windows says "permission denied" for a folder
            raise ImageError(f"Cannot open {name}: it is a folder, not an image file.")
        data = _read_regular_file(p, name)
    except ImageError:
        raise
    except FileNotFoundError as exc:
        raise ImageError(f"Cannot open {name}: the file does not exist.") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"Cannot open {name}: it is a folder, not an image file.") from exc
    except PermissionError as exc:
        raise ImageError(f"Cannot open {name}: permission denied.") from exc
    except MemoryError as exc:
        raise ImageError(f"Cannot open {name}: not enough memory to read the file.") from exc
    except (OSError, ValueError) as exc:  # ENAMETOOLONG, embedded NUL, I/O error, ...
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise ImageError(f"Cannot open {name}: {reason}.") from exc
    return image_from_bytes(data, name=name)


_FILE_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _read_regular_file(p: Path, name: str) -> bytes:
    """The bytes of ``p``, which must be a regular file of at most MAX_FILE_BYTES.

    Opened with O_NONBLOCK so that a FIFO cannot block in ``open()``; the check on the open
    descriptor (fstat) cannot be raced by swapping the path. Devices such as ``/dev/zero`` are
    refused before a byte is read, and the read is bounded in any case.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(p, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ImageError(f"Cannot open {name}: it is a folder, not an image file.")
        if not stat.S_ISREG(st.st_mode):
            kind = next((what for test, what in _FILE_KINDS if test(st.st_mode)), "not a regular file")
            raise ImageError(f"Cannot open {name}: it is {kind}, not an image file.")
        if st.st_size > MAX_FILE_BYTES:
            raise ImageError(f"Cannot open {name}: the file is {st.st_size / 2**20:.0f} MB, far too large for a digit image.")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:  # grew while we read it
        raise ImageError(f"Cannot open {name}: the file is far too large for a digit image.")
    return data


def image_from_bytes(data: bytes, name: str = "clipboard") -> Image.Image:
    """Decode an image held in memory (e.g. pasted from the clipboard); same rules as :func:`load_image`."""
    try:
        return _decode(data, name)
    except ImageError:
        raise
    except MemoryError as exc:
        raise ImageError(f"Cannot open {name}: not enough memory to decode the image.") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            f"Cannot open {name}: the image has more than {MAX_PIXELS // 1_000_000} megapixels, "
            "which is refused as a possible decompression bomb."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - every decoder failure becomes one clear sentence
        raise ImageError(f"Cannot open {name}: the image data is corrupt or truncated.") from exc


def _decode(data: bytes, name: str) -> Image.Image:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageError(f"Cannot open {name}: no image data was given.")
    data = bytes(data)
    if len(data) == 0:
        raise ImageError(f"Cannot open {name}: the file is empty.")
    with warnings.catch_warnings():
        # Pillow's remarks about damaged files ("Invalid APNG", "Truncated File Read", ...) are
        # not for the person using the app: either the image loads or ImageError explains why.
        warnings.simplefilter("ignore")
        # Pillow signals oversize images with a warning; make it an error we can turn into ImageError.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=_allowed_formats())
        except Image.UnidentifiedImageError as exc:
            fmt = _sniff(data)
            if fmt:  # the signature is right, so the file is damaged rather than of another kind
                raise ImageError(f"Cannot open {name}: the {fmt} data is corrupt or truncated.") from exc
            raise ImageError(
                f"Cannot open {name}: it is not an image in a format this app can read (PNG, JPEG, BMP, GIF, TIFF, ...)."
            ) from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise
        except _DECODE_ERRORS as exc:
            raise ImageError(f"Cannot open {name}: the image header is corrupt.") from exc
        with im:
            _check_size(im, name)
            try:
                # A freshly opened file is on its first frame; load() decodes just that one, so
                # damage in later frames of an animation does not matter.
                im.load()
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise
            except MemoryError:
                raise
            except _DECODE_ERRORS as exc:
                raise ImageError(f"Cannot open {name}: the image data is corrupt or truncated.") from exc
            _check_size(im, name)  # some plugins only know the real size after decoding
            out = im.copy()  # detached from the file and from the other frames
        try:
            rotated = ImageOps.exif_transpose(out)  # phone photos: honour the orientation tag
            if rotated is not None:
                out = rotated
        except Exception:  # noqa: BLE001 - a broken EXIF block is not worth refusing the image
            pass
        _check_size(out, name)
    return out


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _sniff(data: bytes) -> str | None:
    """The format a file claims to be by its first bytes, or None."""
    for magic, fmt in _SIGNATURES:
        if data.startswith(magic):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def _check_size(im: Image.Image, name: str) -> None:
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageError(f"Cannot open {name}: the image has no pixels ({w}×{h}).")
    if w * h > MAX_PIXELS:
        raise ImageError(
            f"Cannot open {name}: the image is {w}×{h} pixels ({w * h / 1e6:.0f} megapixels), "
            f"more than the {MAX_PIXELS // 1_000_000}-megapixel limit."
        )


# ----------------------------------------------------------------------------------------------
# Writing


def to_uint8(array) -> np.ndarray:
    """Convert an image array to uint8.

    Floats are taken as [0, 1] (clipped, rounded half up; NaN becomes 0); uint8 is returned as is;
    bool becomes 0/255; uint16 is scaled from [0, 65535]; other integers are clipped to [0, 255].
    """
    a = np.asarray(array)
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * np.uint8(255)
    if a.dtype == np.uint16:
        return np.rint(a.astype(np.float32) / 257.0).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        return np.clip(a, 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        f = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        return np.floor(np.clip(f, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)  # round half up
    raise TypeError(f"cannot convert an array of type {a.dtype} to an 8-bit image")


_PNG_MODES = {"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}


def _as_png_image(obj) -> Image.Image:
    if isinstance(obj, Image.Image):
        if obj.mode in _PNG_MODES:
            return obj
        if obj.mode == "F":
            return Image.fromarray(to_uint8(np.asarray(obj)), mode="L")
        if "A" in obj.mode or "a" in obj.mode or "transparency" in obj.info:
            return obj.convert("RGBA")
        return obj.convert("RGB")
    a = np.asarray(obj)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or a.size == 0 or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise ValueError(f"an image must be (H, W), (H, W, 3) or (H, W, 4), not {a.shape}")
    if a.dtype == np.uint16 and a.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(a, dtype="<u2"))  # mode I;16
    # uint8 (H, W) -> L, (H, W, 2) -> LA, (H, W, 3) -> RGB, (H, W, 4) -> RGBA
    return Image.fromarray(np.ascontiguousarray(to_uint8(a)))


def _write_png(image: Image.Image, tmp: Path) -> None:
    """Write ``image`` as PNG to ``tmp`` (separate so tests can make it fail midway)."""
    image.save(tmp, format="PNG")


def save_png(path: PathLike, array_or_image) -> None:
    """Atomically write a PNG: a float array in [0, 1] (H, W), a uint8 array or a PIL image.

    The PNG is written to a temporary file in the same folder and renamed over ``path`` only
    when complete; on any failure the temporary file is removed, an existing ``path`` is left
    intact and :class:`SaveError` is raised.
    """
    target = Path(path)
    try:
        image = _as_png_image(array_or_image)
    except (ValueError, TypeError) as exc:
        raise SaveError(f"Could not save {target.name}: {exc}.") from exc
    try:
        write_with(target, lambda tmp: _write_png(image, tmp), suffix=".png")
    except SaveError:
        raise
    except MemoryError as exc:
        raise SaveError(f"Could not save {target.name}: not enough memory.") from exc
    except Exception as exc:  # noqa: BLE001 - the temporary file is already removed by atomic_path
        raise SaveError(f"Could not save {target.name}: {exc or type(exc).__name__}.") from exc
