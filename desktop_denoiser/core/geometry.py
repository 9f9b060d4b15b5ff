"""The MNIST convention's geometry: resampling, shifting and measuring digit images.

Pure numpy/Pillow helpers shared by the preprocessing (:mod:`.preprocess`) and the way back
(:func:`from_mnist`, :func:`apply_geometry`); nothing here decides anything about a digit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Optional, Tuple, Union

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # pragma: no cover - typing only (preprocess imports this module)
    from .preprocess import Analysis

MNIST_SIZE = 28
MNIST_BOX = 20
#: Target centre of mass, as (row, column) array indices (MNIST's own convention).
MNIST_CENTRE = (14.0, 14.0)
LIGHT_ON_DARK = "light-on-dark"
DARK_ON_LIGHT = "dark-on-light"

# Seed of the local generator that fills uncovered borders with background noise samples:
# fixed, so the preprocessing stays deterministic.
_RNG_SEED = 20240531
# Largest value of 8-bit and 16-bit pixels (to scale integer images to [0, 1]).
U8_MAX = 255.0
U16_MAX = 65535.0
# Connectivity of ink components: 8-neighbours (also the structuring element of dilations).
EIGHT = np.ones((3, 3), dtype=bool)
# Guards a division by the summed area weights of an output cell (never zero in practice).
_MIN_WEIGHT_SUM = 1e-12

Box = Tuple[int, int, int, int]


# ----------------------------------------------------------------------------------------------
# Area averaging, shifts and resampling


def reduce_area(plane: np.ndarray, f: int) -> np.ndarray:
    """Area-average a float32 plane by an integer factor (partial edge blocks averaged too)."""
    if f <= 1:
        return np.ascontiguousarray(plane, dtype=np.float32)
    return np.asarray(Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32)).reduce(f), dtype=np.float32)


class Filler:
    """Background used where the source window leaves the image."""

    def __init__(self, value: float = 0.0, samples: Optional[np.ndarray] = None):
        self.value = value
        self.samples = samples

    def canvas(self, shape) -> np.ndarray:
        if self.samples is None or self.samples.size == 0:
            return np.full(shape, self.value, dtype=np.float32)
        rng = np.random.default_rng(_RNG_SEED)
        return rng.choice(self.samples, size=shape).astype(np.float32)


def as_filler(fill) -> Filler:
    """``fill`` itself if it is a :class:`Filler`, else a constant filler of that value."""
    return fill if isinstance(fill, Filler) else Filler(value=float(fill))


def shift(a: np.ndarray, dy: int, dx: int, fill) -> np.ndarray:
    """Integer shift (no interpolation); uncovered pixels come from ``fill``."""
    if dy == 0 and dx == 0:
        return a.astype(np.float32, copy=True)
    h, w = a.shape
    out = as_filler(fill).canvas((h, w))
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if abs(dy) < h and abs(dx) < w:
        out[yd, xd] = a[ys, xs]
    return out


def axis_weights(start: float, step: float, n: int):
    """Area weights of the output cells along one axis.

    Output cell j covers source [start + j*step, start + (j+1)*step) (continuous coordinates,
    source pixel i covering [i, i+1)). When upscaling (step < 1) the averaging box is one
    source pixel wide, which is exactly linear interpolation. Returns (first_index, W) with W of
    shape (n, k) over source indices first_index .. first_index + k - 1.
    """
    width = max(step, 1.0)
    c = start + (np.arange(n) + 0.5) * step
    a = c - width / 2.0
    b = c + width / 2.0
    i0 = int(math.floor(a[0]))
    i1 = int(math.ceil(b[-1]))
    idx = np.arange(i0, i1, dtype=np.float64)
    ov = np.clip(np.minimum(b[:, None], idx[None, :] + 1.0) - np.maximum(a[:, None], idx[None, :]), 0.0, None)
    ov /= np.maximum(ov.sum(axis=1, keepdims=True), _MIN_WEIGHT_SUM)
    return i0, ov


def resample(src: np.ndarray, top: float, left: float, step: float, fill, n: int = MNIST_SIZE) -> np.ndarray:
    """Map the square window (top, left, side n*step) of ``src`` onto n x n with area averaging."""
    y0, Wy = axis_weights(top, step, n)
    x0, Wx = axis_weights(left, step, n)
    y1, x1 = y0 + Wy.shape[1], x0 + Wx.shape[1]
    h, w = src.shape
    if y0 >= 0 and x0 >= 0 and y1 <= h and x1 <= w:
        win = src[y0:y1, x0:x1]
    else:
        win = as_filler(fill).canvas((y1 - y0, x1 - x0))
        sy0, sy1 = max(y0, 0), min(y1, h)
        sx0, sx1 = max(x0, 0), min(x1, w)
        if sy0 < sy1 and sx0 < sx1:
            win[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = src[sy0:sy1, sx0:sx1]
    # einsum rather than @: no BLAS threads, which are slow to start on a busy machine.
    out = np.einsum("ij,jk->ik", np.einsum("ij,jk->ik", Wy, win.astype(np.float64)), Wx.T)
    return out.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Measurements


def quantiles(a: np.ndarray, qs) -> Tuple[float, ...]:
    """Percentiles ``qs`` (0-100) of ``a``, like ``np.percentile(..., method="linear")``.

    One ``np.partition`` call for all of them: several times faster than ``np.percentile`` /
    ``np.median`` on the small arrays the preprocessing mostly handles.
    """
    flat = np.asarray(a).ravel()
    n = flat.size
    if n == 0:
        return tuple(0.0 for _ in qs)
    pos = np.asarray(qs, dtype=np.float64) / 100.0 * (n - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    part = np.partition(flat, np.unique(np.concatenate([lo, hi])))
    frac = pos - lo
    vals = part[lo] + (part[hi] - part[lo]) * frac
    return tuple(float(v) for v in vals)


def median(a: np.ndarray) -> float:
    """The median of ``a`` (by :func:`quantiles`; 0.0 for an empty array)."""
    return quantiles(a, (50.0,))[0]


def bbox_of(mask: np.ndarray) -> Box:
    """(left, top, right, bottom) of a non-empty mask, right/bottom exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def box_side(b: Box) -> float:
    """The longer side of a (left, top, right, bottom) box."""
    return float(max(b[2] - b[0], b[3] - b[1]))


def scale_box(b: Box, f: int, W: int, H: int) -> Box:
    """A box at working resolution (factor ``f``) in pixels of the W x H input, clipped to it."""
    return (b[0] * f, b[1] * f, min(b[2] * f, W), min(b[3] * f, H))


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary ink mask, about 2 * area / perimeter.

    The perimeter is the number of 4-neighbour ink/background edges times pi/4 (the mean ratio of
    Euclidean to city-block length over all orientations).
    """
    m = np.asarray(mask, dtype=bool)
    area = int(m.sum())
    if area == 0:
        return 0.0
    p = np.pad(m, 1)
    edges = int(np.count_nonzero(p[1:, :] != p[:-1, :]) + np.count_nonzero(p[:, 1:] != p[:, :-1]))
    return 8.0 * area / (math.pi * max(edges, 1))


def centre_of_mass(weights: np.ndarray) -> Tuple[float, float]:
    """(row, column) centre of mass in array-index coordinates; the array centre if all zero."""
    w = np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    h, wd = w.shape
    if not np.isfinite(total) or total <= 0:
        return ((h - 1) / 2.0, (wd - 1) / 2.0)
    cy = float(w.sum(axis=1) @ np.arange(h)) / total
    cx = float(w.sum(axis=0) @ np.arange(wd)) / total
    return cy, cx


# ----------------------------------------------------------------------------------------------
# The way back, and the same geometry applied to another array


def from_mnist(
    img28,
    size: Union[int, Tuple[int, int], None] = None,
    polarity: str = LIGHT_ON_DARK,
    smooth: bool = False,
) -> Image.Image:
    """Turn an MNIST-style array back into a displayable 8-bit greyscale PIL image.

    ``size`` is an int (square) or (width, height); ``None`` keeps the array's size. Scaling is
    NEAREST (pixel-exact) by default, or smooth (bicubic) with ``smooth=True``. With
    ``polarity="dark-on-light"`` the result is inverted (dark ink on white).
    """
    if polarity not in (LIGHT_ON_DARK, DARK_ON_LIGHT):
        raise ValueError(f"polarity must be {LIGHT_ON_DARK!r} or {DARK_ON_LIGHT!r}, not {polarity!r}")
    a = np.asarray(img28)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"expected a 2-D image array, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        scale = U8_MAX if a.dtype != np.bool_ else 1.0
        a = a.astype(np.float32) / (U16_MAX if a.dtype == np.uint16 else scale)
    a = np.clip(np.nan_to_num(a.astype(np.float32), nan=0.0), 0.0, 1.0)
    if polarity == DARK_ON_LIGHT:
        a = 1.0 - a
    im = Image.fromarray(np.rint(a * U8_MAX).astype(np.uint8), mode="L")
    if size is not None:
        if isinstance(size, (int, np.integer)):
            size = (int(size), int(size))
        size = (int(size[0]), int(size[1]))
        if size[0] <= 0 or size[1] <= 0:
            raise ValueError(f"size must be positive, not {size}")
        if size != im.size:
            im = im.resize(size, Image.BICUBIC if smooth else Image.NEAREST)
    return im


def apply_geometry(array, analysis: "Analysis", fill: float = 0.0) -> np.ndarray:
    """Apply the crop/scale/shift that ``analysis`` chose to another array of the input's size.

    Useful to treat a clean version of a noisy input exactly like the noisy one (tests, and
    showing the clean reference next to the denoised result). ``array`` is (H, W) float; no
    polarity change or contrast stretch is applied.
    """
    a = np.asarray(array, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {a.shape}")
    if analysis.empty:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    if analysis.passthrough:
        dy, dx = analysis.shift
        return shift(a, dy, dx, fill)
    top, left, side = analysis.window
    return resample(a, top, left, side / MNIST_SIZE, fill)
