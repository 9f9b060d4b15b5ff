"""Decode any image (a PIL image of any mode, or a numpy array of any dtype) to one grey plane.

:func:`decode` gives a float32 plane in [0, 1] at working resolution (large inputs area-averaged
down), with any transparency composited over a background that contrasts with the ink.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
from PIL import Image

from .errors import ImageError
from .geometry import U8_MAX, U16_MAX, reduce_area

ImageLike = Union[Image.Image, np.ndarray]

# Working resolution: larger inputs are area-averaged down to at most this many pixels a side.
WORK_MAX_SIDE = 512
# ITU-R BT.601 luma weights of R, G, B (the ones Pillow's convert("L") uses).
LUMA_R, LUMA_G, LUMA_B = 0.299, 0.587, 0.114
# Float values this far outside [0, 1] still count as [0, 1] data (rounding in the producer).
UNIT_TOLERANCE = 1e-3
# An alpha plane at least this opaque everywhere (254/255 and up) is treated as no alpha.
OPAQUE_ALPHA = 0.996
# Pixels with alpha above this form the opaque part whose colours are judged when compositing.
SOLID_ALPHA = 0.5
# Opaque colours spread over more than this (from the SPREAD_LOW to the SPREAD_HIGH percentile)
# mean the picture has its own background (a pasted scan): composite over that, not over the
# opposite of the ink.
OWN_BACKGROUND_SPREAD = 0.25
SPREAD_LOW, SPREAD_HIGH = 1, 99
# Mean colour of the opaque part below this: dark ink, composited over white (else over black).
DARK_INK_MEAN = 0.5
# PIL modes holding more than 8 bits a sample: decoded through numpy.
_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


class Planes(NamedTuple):
    """A decoded image before compositing: grey (premultiplied when there is alpha), alpha or None,
    the working-resolution factor and the (H, W) of the input."""

    lum: np.ndarray
    alpha: Optional[np.ndarray]
    factor: int
    shape: Tuple[int, int]


class Decoded(NamedTuple):
    """The grey float32 [0, 1] plane at working resolution, whether alpha was composited, the
    working-resolution factor and the (H, W) of the input."""

    gray: np.ndarray
    used_alpha: bool
    factor: int
    shape: Tuple[int, int]


def decode(image: ImageLike) -> Decoded:
    """Return (grey float32 [0, 1] at working resolution, used_alpha, factor, (H, W) of input)."""
    if isinstance(image, Image.Image):
        lum, alpha, f, shape = planes_from_pil(image)
    else:
        lum, alpha, f, shape = planes_from_array(image)
    if alpha is None:
        return Decoded(lum, False, f, shape)
    gray, used = composite(lum, alpha)
    return Decoded(gray, used, f, shape)


def work_factor(h: int, w: int) -> int:
    """The integer factor an h x w input is area-averaged by for the analysis."""
    return max(1, int(math.ceil(max(h, w) / WORK_MAX_SIDE)))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., 0] * LUMA_R + rgb[..., 1] * LUMA_G + rgb[..., 2] * LUMA_B


def _reduced_u8(im: Image.Image, f: int) -> np.ndarray:
    """An 8-bit PIL image area-averaged by ``f`` in C (rounding error <= 0.5/255), as float32 0..1."""
    if f > 1:
        im = im.reduce(f)
    return np.asarray(im, dtype=np.float32) / U8_MAX


# ----------------------------------------------------------------------------------------------
# PIL images


def planes_from_pil(im: Image.Image) -> Planes:
    """(grey or premultiplied grey, alpha or None, factor, (H, W)) of a PIL image of any mode."""
    W, H = im.size
    f = work_factor(H, W)
    mode = im.mode
    if W == 0 or H == 0:
        return Planes(np.zeros((H, W), np.float32), None, 1, (H, W))
    if mode in _WIDE_MODES:
        return planes_from_array(np.asarray(im))
    if mode in ("La", "RGBa"):  # already premultiplied
        a = _reduced_u8(im, f)
        lum = a[..., 0] if mode == "La" else _luma(a)
        alpha = a[..., -1]
        if float(alpha.min()) >= 1.0:
            alpha = None
        return Planes(np.ascontiguousarray(lum, dtype=np.float32), alpha, f, (H, W))
    if mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
        try:
            rgba = im.convert("RGBA")
        except (ValueError, OSError) as exc:
            raise ImageError(f"Images of mode {mode} are not supported.") from exc
        amin, _ = rgba.getchannel("A").getextrema()
        if amin < U8_MAX:
            a = _reduced_u8(rgba.convert("RGBa"), f)  # premultiplied, so area averaging is exact
            return Planes(_luma(a).astype(np.float32), np.ascontiguousarray(a[..., 3]), f, (H, W))
        im, mode = rgba.convert("RGB"), "RGB"
    if mode != "L":
        im = _grey_pil(im, mode)
    return Planes(_reduced_u8(im, f), None, f, (H, W))


def _grey_pil(im: Image.Image, mode: str) -> Image.Image:
    """``im`` as an "L" image: converted, or for modes Pillow cannot convert, one channel."""
    try:
        return im.convert("L")
    except (ValueError, OSError):
        pass
    try:
        channel = im.getchannel({"HSV": 2}.get(mode, 0))  # LAB: lightness; HSV: value
    except Exception as exc:  # noqa: BLE001
        raise ImageError(f"Images of mode {mode} are not supported.") from exc
    if channel.mode != "L":
        raise ImageError(f"Images of mode {mode} are not supported.")
    return channel


# ----------------------------------------------------------------------------------------------
# numpy arrays


def unit_scale(dtype: np.dtype, mn: float, mx: float) -> Tuple[float, float]:
    """(offset, factor) mapping values of this dtype/range to [0, 1]: unit = (v - offset) * factor."""
    if dtype == np.uint8:
        return 0.0, 1.0 / U8_MAX
    if dtype.kind == "u" and dtype.itemsize == 2:
        return 0.0, 1.0 / U16_MAX
    if dtype == np.bool_:
        return 0.0, 1.0
    if dtype.kind == "f" and mn >= -UNIT_TOLERANCE and mx <= 1.0 + UNIT_TOLERANCE:
        return 0.0, 1.0
    if mn >= 0 and mx <= U8_MAX:
        return 0.0, 1.0 / U8_MAX
    if mn >= 0 and mx <= U16_MAX:
        return 0.0, 1.0 / U16_MAX
    if mx - mn <= 0:
        return mn, 0.0
    return mn, 1.0 / (mx - mn)


def _checked_array(arr) -> Tuple[np.ndarray, int]:
    """``arr`` as an (H, W) or (H, W, 2|3|4) real numeric array, and its number of channels."""
    try:
        a = np.asarray(arr)
    except Exception as exc:  # noqa: BLE001
        raise ImageError("The image data could not be read as an array.") from exc
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise ImageError(f"Image arrays must be numeric, not {a.dtype}.")
    if np.iscomplexobj(a):
        raise ImageError("Image arrays must be real-valued.")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return a, 1
    if a.ndim == 3 and a.shape[2] in (2, 3, 4):
        return a, a.shape[2]
    raise ImageError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4), not {a.shape}.")


def _channel(a: np.ndarray, channels: int, c: int) -> np.ndarray:
    """Channel ``c`` as a contiguous float32 copy, non-finite values set to 0."""
    p = (a if channels == 1 else a[..., c]).astype(np.float32)  # contiguous copy
    if a.dtype.kind == "f":
        bad = ~np.isfinite(p)
        if bad.any():
            p[bad] = 0.0
    return p


def _luminance(planes) -> np.ndarray:
    if len(planes) == 1:
        return planes[0]
    lum = planes[0] * LUMA_R
    lum += planes[1] * LUMA_G
    lum += planes[2] * LUMA_B
    return lum


def _unit_alpha(a: np.ndarray, channels: int) -> Optional[np.ndarray]:
    """The alpha channel scaled to [0, 1], or None when there is none or it is all opaque."""
    if channels not in (2, 4):
        return None
    alpha = _channel(a, channels, channels - 1)
    a_off, a_fac = unit_scale(a.dtype, float(alpha.min()), float(alpha.max()))
    if a.dtype.kind == "f" and float(alpha.max()) <= 1.0 + UNIT_TOLERANCE:
        a_off, a_fac = 0.0, 1.0
    alpha -= a_off
    alpha *= a_fac
    np.clip(alpha, 0.0, 1.0, out=alpha)
    return None if float(alpha.min()) >= 1.0 else alpha


def _colour_scale(dtype: np.dtype, colour) -> Tuple[float, float]:
    return unit_scale(dtype, min(float(p.min()) for p in colour), max(float(p.max()) for p in colour))


def planes_from_array(arr) -> Planes:
    """(grey or premultiplied grey, alpha or None, factor, (H, W)) of a numpy array."""
    a, channels = _checked_array(arr)
    H, W = a.shape[:2]
    if a.size == 0:
        return Planes(np.zeros((H, W), np.float32), None, 1, (H, W))
    if a.dtype == np.uint8:  # Pillow does the heavy lifting in C
        return planes_from_pil(Image.fromarray(np.ascontiguousarray(a)))
    f = work_factor(H, W)
    n_colour = 3 if channels >= 3 else 1
    alpha = _unit_alpha(a, channels)

    if alpha is None:
        # Everything here is linear, so area-average each channel first (in C) and do the rest
        # on the small planes: a 4000 x 3000 float image costs one copy per channel.
        colour = [reduce_area(_channel(a, channels, c), f) for c in range(n_colour)]
        offset, factor = _colour_scale(a.dtype, colour)
        lum = (_luminance(colour) - offset) * factor  # new array (reduced planes are read-only)
        return Planes(np.clip(lum, 0.0, 1.0).astype(np.float32), None, f, (H, W))

    colour = [_channel(a, channels, c) for c in range(n_colour)]
    offset, factor = _colour_scale(a.dtype, colour)
    lum = _luminance(colour)
    lum -= offset
    lum *= factor
    np.clip(lum, 0.0, 1.0, out=lum)
    lum *= alpha  # premultiply before area averaging
    return Planes(reduce_area(lum, f), reduce_area(alpha, f), f, (H, W))


# ----------------------------------------------------------------------------------------------
# Transparency


def composite(lum_premult: np.ndarray, alpha: np.ndarray) -> Tuple[np.ndarray, bool]:
    """Composite a premultiplied grey plane over a background that contrasts with the ink.

    A digit painted on a transparent background is composited over the opposite of its own
    colour (black ink -> white, white ink -> black), so an RGBA image whose RGB is constant and
    whose alpha carries the digit works. A picture that has its own opaque background (real
    contrast inside the opaque part, e.g. a scanned patch on a transparent canvas) is
    composited over that background's colour (the median of the opaque pixels).
    """
    alpha = np.clip(alpha, 0.0, 1.0)
    if float(alpha.min()) >= OPAQUE_ALPHA:
        return np.clip(lum_premult, 0.0, 1.0).astype(np.float32), False
    opaque = alpha > SOLID_ALPHA
    if not opaque.any():
        opaque = alpha > 0.0
    if not opaque.any():  # entirely transparent: nothing to see
        return np.ones_like(lum_premult, dtype=np.float32), True
    colour = lum_premult[opaque] / alpha[opaque]
    spread = float(np.percentile(colour, SPREAD_HIGH) - np.percentile(colour, SPREAD_LOW))
    if spread > OWN_BACKGROUND_SPREAD:
        bg = float(np.median(colour))
    else:
        bg = 1.0 if float(colour.mean()) < DARK_INK_MEAN else 0.0
    gray = lum_premult + (1.0 - alpha) * bg
    return np.clip(gray, 0.0, 1.0).astype(np.float32), True
