"""Bring any digit image into the MNIST convention, and back.

Every input of the app (canvas drawings, opened files, pasted images, the CLI, tests) goes
through :func:`to_mnist` / :func:`analyse`; :func:`from_mnist` is the way back for display and
export.

The MNIST convention: a (28, 28) float32 array in [0, 1], light ink (1.0) on a dark background
(0.0), the digit scaled so its bounding box fits a 20 x 20 box (aspect ratio kept) and placed so
its centre of mass is at array index (14, 14) -- the mean centre of mass of the real MNIST test
digits, measured with ``scipy.ndimage.center_of_mass``, is (13.99, 14.00).

Noisy images are this app's usual input, so every decision that could be thrown off by pixel
noise (polarity, where the digit is, where its centre is) is taken on a Gaussian-smoothed copy
or on a mask of connected ink, and stroke-width and peak normalisation are only applied to clean
inputs. Uneven lighting (photos of paper) is levelled by a robust quadratic fit to the
background. An input that already is an MNIST-like 28 x 28 digit passes through unchanged apart
from an integer shift (no resampling blur).

:func:`analyse` is a short pipeline of named stages: decoding to a grey plane (:mod:`.planes`),
polarity and lighting (:mod:`.lighting`), then, here, locating the digit, measuring the ink and
noise levels, the contrast stretch and the digit's main component and bounding box, and last
either pass-through or stroke normalisation (:mod:`.strokes`) and centring (:mod:`.centring`).
Resampling, measurements and the way back live in :mod:`.geometry`.

Everything is vectorised numpy/scipy, pure and deterministic (the only randomness, used to fill
the border of noisy images with background noise, comes from a fixed-seed local generator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
from scipy import ndimage as ndi

from .centring import centre_digit, is_passthrough, pass_through
from .geometry import (
    DARK_ON_LIGHT,
    EIGHT,
    LIGHT_ON_DARK,
    MNIST_BOX,
    MNIST_CENTRE,
    MNIST_SIZE,
    Box,
    apply_geometry,
    bbox_of,
    box_side,
    centre_of_mass,
    from_mnist,
    median,
    quantiles,
    scale_box,
    stroke_width,
)
from .lighting import Ink, blank_polarity, level_lighting, orient, smoothing_sigma
from .planes import Decoded, ImageLike, decode
from .strokes import normalise_strokes, width_at_28

# Thresholds that now live with their stages, still importable from here as before.
from .centring import PASS_DEADBAND, PASS_MAX_BOX, PASS_MIN_BOX  # noqa: F401
from .lighting import FLATTEN_MAX_NOISE, FLATTEN_MIN_SIDE  # noqa: F401
from .planes import WORK_MAX_SIDE  # noqa: F401
from .strokes import MIN_BOX, THICK_STROKE, THICK_TARGET, THIN_STROKE, THIN_TARGET  # noqa: F401

__all__ = [
    "MNIST_SIZE",
    "MNIST_BOX",
    "MNIST_CENTRE",
    "LIGHT_ON_DARK",
    "DARK_ON_LIGHT",
    "Analysis",
    "analyse",
    "to_mnist",
    "from_mnist",
    "apply_geometry",
    "stroke_width",
    "centre_of_mass",
]

# Below this raw contrast (ink maximum - background median) an image is considered empty.
EMPTY_CONTRAST = 0.05
# Connected components smaller than this fraction of the largest one are dropped as specks.
SPECK_FRACTION = 0.12
# Percentiles of the raw ink map taken as its black level and its ink level (robust min / max).
LOW_PERCENTILE, HIGH_PERCENTILE = 1.0, 99.5
# Percentile taken as "the ink" inside a region (the smoothed map, the digit's own pixels).
INK_PERCENTILE = 99.0
# Locating: the smoothed ink is cut halfway between its median and its ink percentile ...
COARSE_CUT = 0.5
# ... unless that percentile is below this fraction of the way to the maximum (under 1 % of the
# image is ink: a dot, a short hair-thin line); then the maximum is used instead.
SPARSE_INK = 0.2
# Noisy inputs: the centre of mass is taken on a lower cut, steadier under heavy noise.
NOISY_COM_CUT = 0.35
# Pixels within this many smoothing sigmas (plus NEAR_MARGIN px) of the ink count as "near" it;
# the rest is the background used to measure noise.
NEAR_SIGMAS, NEAR_MARGIN = 2.0, 1
# Fewest background pixels the noise is measured on (else all pixels outside the ink are used).
MIN_BACKGROUND_SAMPLES = 16
# The ink level is the maximum when percentiles span under this fraction of it (sparse ink).
SPARSE_CONTRAST = 0.5
# Noise std (relative to the ink contrast) above which an image is treated as noisy.
NOISE_THRESHOLD = 0.06
# ... and when more than this fraction of the background pixels deviate by over NOISE_DEVIATION.
NOISE_SPREAD = 0.03
NOISE_DEVIATION = 0.1  # of the contrast
# Clean inputs are stretched from their background level unless the background (pixels away
# from the ink) is under this fraction of the image: then from the black level.
MIN_BACKGROUND_FRACTION = 0.05
# Smallest contrast span divided by (guards the stretch against a zero span).
MIN_SPAN = 1e-6
# Clean inputs: the digit mask is the ink above this fraction of the digit's ink percentile.
FINE_CUT = 0.5


@dataclass(frozen=True)
class Analysis:
    """What :func:`analyse` found, and the MNIST-style result.

    ``image``: the (28, 28) float32 result in [0, 1] (all zero when ``empty``).
    ``polarity``: of the input, "light-on-dark" or "dark-on-light" (then it was inverted).
    ``used_alpha``: transparency was present and the image was composited over a background.
    ``noisy``: pixel noise was detected (``noise_level`` = background std / ink contrast); then
    no stroke-width or peak normalisation is done. ``empty``: nothing drawn / one colour.
    ``stroke_width``: estimated stroke width at the 28 x 28 scale before any change;
    ``stroke_adjust``: "none", "thickened" or "thinned". ``flattened``: uneven lighting was
    levelled. ``passthrough``: a 28 x 28 MNIST-like input kept as is apart from ``shift``.
    ``work_scale``: the integer factor large inputs were area-averaged by for the analysis.

    Coordinates are in pixels of the *input* image: ``bbox`` is (left, top, right, bottom) with
    right/bottom exclusive (like PIL); ``centre`` is the (row, column) centre of mass of the
    digit; ``window`` is (top, left, side) of the square input region that was mapped onto the
    28 x 28 output (``None`` for pass-through and empty inputs); ``shift`` is the (rows, columns)
    integer shift used by pass-through; ``input_size`` is (width, height).
    """

    image: np.ndarray
    polarity: str
    used_alpha: bool
    bbox: Optional[Tuple[int, int, int, int]]
    noisy: bool
    empty: bool
    noise_level: float = 0.0
    centre: Optional[Tuple[float, float]] = None
    stroke_width: Optional[float] = None
    stroke_adjust: str = "none"
    passthrough: bool = False
    shift: Optional[Tuple[int, int]] = None
    window: Optional[Tuple[float, float, float]] = None
    input_size: Tuple[int, int] = (0, 0)
    work_scale: int = 1
    flattened: bool = False

    @property
    def inverted(self) -> bool:
        """True when the input was dark ink on a light background (so it was inverted)."""
        return self.polarity == DARK_ON_LIGHT


# ----------------------------------------------------------------------------------------------
# Public API


def to_mnist(image: ImageLike) -> np.ndarray:
    """Return ``image`` as a (28, 28) float32 MNIST-style digit (see :func:`analyse`)."""
    return analyse(image).image


def analyse(image: ImageLike) -> Analysis:
    """Convert any digit image to the MNIST convention and report what was detected.

    Accepts a PIL image of any mode and size, or a numpy array (H, W), (H, W, 2|3|4) of uint8,
    uint16, bool or float in [0, 1]. Never raises for odd content (empty, one colour, a single
    dot); raises :class:`ImageError` only for things that are not images (wrong shape/type).
    """
    src = decode(image)
    if src.gray.shape[0] == 0 or src.gray.shape[1] == 0:
        return _empty(LIGHT_ON_DARK, src)
    sigma = smoothing_sigma(src.gray.shape)
    ink = level_lighting(src.gray, orient(src.gray, sigma), sigma)
    lo, med, hi = quantiles(ink.raw, (LOW_PERCENTILE, 50.0, HIGH_PERCENTILE))
    if float(ink.raw.max()) - med < EMPTY_CONTRAST:
        return _empty(blank_polarity(src.gray), src)
    where = locate(ink.smooth)
    levels = None if where is None else measure_levels(ink.raw, where.coarse, sigma, lo, hi)
    if levels is None:
        return _empty(ink.polarity, src)
    ink01 = stretch(ink.raw, levels)
    digit = find_digit(ink01, ink.smooth, where, levels)
    width_src = None if levels.noisy else stroke_width(digit.mask)
    found = _found(src, ink, levels, digit.bbox)  # the digit as found, before stroke changes
    if is_passthrough(src.shape, src.factor, levels.noisy, digit.side):
        out, centre, moved = pass_through(ink.raw, ink01, digit.com_mask, levels.near, levels.lo, levels.hi, levels.noisy)
        width = None if width_src is None else width_at_28(width_src, digit.side)
        return Analysis(image=out, centre=centre, stroke_width=width, passthrough=True, shift=moved, **found)
    strokes = normalise_strokes(digit.ink01, digit.mask, width_src, digit.side)
    if strokes.adjust != "none":  # the changed strokes are also what the centre is taken on
        digit = make_digit(strokes.ink01, strokes.mask, strokes.mask)
    placed = centre_digit(digit.ink01, digit.com_mask, digit.side, levels.near, levels.noisy)
    f = src.factor
    return Analysis(
        image=placed.image,
        centre=(placed.cy * f + (f - 1) / 2.0, placed.cx * f + (f - 1) / 2.0),
        stroke_width=strokes.width28,
        stroke_adjust=strokes.adjust,
        passthrough=False,
        window=(placed.top * f, placed.left * f, MNIST_SIZE * placed.step * f),
        **found,
    )


def _empty(polarity: str, src: Decoded) -> Analysis:
    H, W = src.shape
    return Analysis(
        image=np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32),
        polarity=polarity,
        used_alpha=src.used_alpha,
        bbox=None,
        noisy=False,
        empty=True,
        input_size=(int(W), int(H)),
        work_scale=src.factor,
    )


def _found(src: Decoded, ink: Ink, levels: "Levels", bbox: Box) -> dict:
    """The :class:`Analysis` fields that pass-through and resampled results share."""
    H, W = src.shape
    return dict(
        polarity=ink.polarity,
        used_alpha=src.used_alpha,
        bbox=scale_box(bbox, src.factor, W, H),
        noisy=levels.noisy,
        empty=False,
        noise_level=levels.noise_level,
        input_size=(W, H),
        work_scale=src.factor,
        flattened=ink.flattened,
    )


# ----------------------------------------------------------------------------------------------
# Stages: locating the digit, ink and noise levels, contrast stretch, main component


@dataclass(frozen=True)
class Location:
    """Where the ink is, on the smoothed ink map: the main connected component above a cut."""

    coarse: np.ndarray  # bool mask of the main component
    median: float  # median of the smoothed ink map (its background)
    top: float  # its ink level (a high percentile, or the maximum for sparse ink)

    def cut(self, fraction: float) -> float:
        """The level ``fraction`` of the way from the background to the ink."""
        return _between(self.median, self.top, fraction)


def _between(lo: float, hi: float, fraction: float) -> float:
    return lo + fraction * (hi - lo)


def locate(smooth: np.ndarray) -> Optional[Location]:
    """The main connected ink component of the smoothed ink map, or None if there is none."""
    m_s, p99_s = quantiles(smooth, (50.0, INK_PERCENTILE))
    max_s = float(smooth.max())
    if p99_s - m_s < SPARSE_INK * (max_s - m_s):
        p99_s = max_s  # very sparse ink (a dot, a short hair-thin line): under 1% of the image
    coarse = keep_main(smooth > _between(m_s, p99_s, COARSE_CUT))
    return Location(coarse, m_s, p99_s) if coarse.any() else None


@dataclass(frozen=True)
class Levels:
    """Black, ink and background levels of the raw ink map, and its noise."""

    near: np.ndarray  # bool: pixels near the ink (the rest is background)
    away: np.ndarray  # raw ink-map values of the background pixels
    lo: float  # black level
    hi: float  # ink level
    background: float  # median of ``away``
    noise_level: float  # std of ``away`` / contrast
    noisy: bool


def measure_levels(ink: np.ndarray, coarse: np.ndarray, sigma: float, lo: float, hi_all: float) -> Optional[Levels]:
    """Levels and noise of the raw ``ink`` map around the ``coarse`` digit mask.

    ``lo`` / ``hi_all`` are the black and ink levels of the whole map. Returns None when the
    contrast is below :data:`EMPTY_CONTRAST` (nothing to see).
    """
    reach = int(math.ceil(NEAR_SIGMAS * sigma)) + NEAR_MARGIN
    near = ndi.distance_transform_edt(~coarse) <= reach
    away = ink[~near]
    hi = max(hi_all, quantiles(ink[coarse], (INK_PERCENTILE,))[0])
    if hi - lo < SPARSE_CONTRAST * (float(ink[coarse].max()) - lo):  # ink too sparse for percentiles (a dot)
        hi = float(ink[coarse].max())
    if away.size < MIN_BACKGROUND_SAMPLES:
        away = ink[~coarse] if (~coarse).any() else ink.ravel()
    background = median(away)
    contrast = hi - lo
    if contrast < EMPTY_CONTRAST:
        return None
    noise_level = float(away.std()) / contrast
    # Noise is spread over the background; a stray mark or a stroke missed by the mask is not:
    # require both a large std and many deviating pixels.
    deviating = float(np.mean(np.abs(away - background) > NOISE_DEVIATION * contrast))
    noisy = noise_level > NOISE_THRESHOLD and deviating > NOISE_SPREAD
    return Levels(near, away, lo, hi, background, noise_level, noisy)


def stretch(ink: np.ndarray, levels: Levels) -> np.ndarray:
    """Contrast stretch: background -> 0, ink -> 1 (float32, clipped).

    Noisy: from the black level (raw 1st percentile). Clean: from the background level itself,
    so grey (or textured) paper becomes exactly 0.
    """
    few = levels.away.size < MIN_BACKGROUND_FRACTION * ink.size
    base = levels.lo if (levels.noisy or few) else max(levels.lo, levels.background)
    span = max(levels.hi - base, MIN_SPAN)
    return np.clip((ink - base) / span, 0.0, 1.0).astype(np.float32)


@dataclass(frozen=True)
class Digit:
    """The digit on the stretched ink map: its mask, the mask its centre is taken on, its box."""

    ink01: np.ndarray
    mask: np.ndarray
    com_mask: np.ndarray
    bbox: Box  # (left, top, right, bottom) of ``mask``
    side: float  # the longer side of ``bbox``


def find_digit(ink01: np.ndarray, smooth: np.ndarray, where: Location, levels: Levels) -> Digit:
    """The digit's main component and bounding box.

    Noisy: the coarse mask from :func:`locate` (the centre on a lower cut of the smoothed map).
    Clean: the stretched ink above half its peak near the coarse mask, main component only.
    """
    if levels.noisy:
        mask = where.coarse
        com_mask = keep_main(smooth > where.cut(NOISY_COM_CUT))
    else:
        peak = quantiles(ink01[where.coarse], (INK_PERCENTILE,))[0] if where.coarse.any() else 1.0
        fine = keep_main((ink01 > FINE_CUT * peak) & levels.near)
        mask = fine if fine.any() else where.coarse
        com_mask = mask
    return make_digit(ink01, mask, com_mask)


def make_digit(ink01: np.ndarray, mask: np.ndarray, com_mask: np.ndarray) -> Digit:
    """A :class:`Digit` with the bounding box of ``mask``."""
    bbox = bbox_of(mask)
    return Digit(ink01, mask, com_mask, bbox, box_side(bbox))


# ----------------------------------------------------------------------------------------------
# Helpers


def keep_main(mask: np.ndarray) -> np.ndarray:
    """Drop connected components much smaller than the largest one (8-connectivity)."""
    labels, n = ndi.label(mask, structure=EIGHT)
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = sizes >= SPECK_FRACTION * sizes.max()
    keep[0] = False
    return keep[labels]
