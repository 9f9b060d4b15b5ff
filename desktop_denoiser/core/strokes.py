"""Stroke-width normalisation: hair-thin strokes are thickened and marker strokes thinned.

A stage of :func:`.preprocess.analyse`, for clean inputs only: the stroke width is estimated at
the 28 x 28 scale and brought into MNIST's usual range by a grey dilation or an erosion.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np
from scipy import ndimage as ndi

from .geometry import MNIST_BOX

# Smallest bounding box side used for scaling (a single dot is not blown up to 20 px).
MIN_BOX = 4.0
# Stroke width at 28 x 28 (MNIST: median 2.3, 1st-99th percentile 1.3-4.3 with our estimator).
THIN_STROKE, THIN_TARGET = 2.0, 2.5  # MNIST: median 2.36 px, quartiles 2.0 and 2.9 (this estimator)
THICK_STROKE, THICK_TARGET = 4.5, 3.2
# Strokes are changed only when the radius of the change is at least this (source px).
MIN_STROKE_CHANGE = 0.5
# Thinning removes at most this fraction of the stroke width from each side.
MAX_THIN_FRACTION = 0.35
# Thinning must keep at least this fraction of the ink; else its radius is halved, at most
# THIN_ATTEMPTS times in all before the strokes are left as they are.
THIN_MIN_KEEP = 0.3
THIN_ATTEMPTS = 3


class StrokeChange(NamedTuple):
    """What :func:`normalise_strokes` did: the new ink map and mask, and how it changed them."""

    ink01: np.ndarray
    mask: np.ndarray
    adjust: str  # "none", "thickened" or "thinned"
    width28: Optional[float]  # the stroke width at the 28 x 28 scale before any change


def width_at_28(width_src: float, side: float) -> float:
    """A stroke width in source pixels, at the 28 x 28 scale of a digit whose box side is ``side``."""
    return width_src * MNIST_BOX / max(side, MIN_BOX)


def normalise_strokes(ink01: np.ndarray, mask: np.ndarray, width_src: Optional[float], side: float) -> StrokeChange:
    """Thicken strokes thinner than THIN_STROKE (at 28 x 28) to THIN_TARGET, thin those thicker
    than THICK_STROKE to THICK_TARGET; ``width_src`` None (a noisy input) changes nothing."""
    if width_src is None:
        return StrokeChange(ink01, mask, "none", None)
    Beff = max(side, MIN_BOX)
    w28 = width_src * MNIST_BOX / Beff
    # The radius r of the change, from w + 2r = target * (B + 2r) / 20 (the box grows by 2r too).
    if w28 < THIN_STROKE:
        r = (THIN_TARGET * Beff / MNIST_BOX - width_src) / (2.0 * (1.0 - THIN_TARGET / MNIST_BOX))
        if r >= MIN_STROKE_CHANGE:
            return StrokeChange(*thicken(ink01, mask, r), "thickened", w28)
    elif w28 > THICK_STROKE:
        r = (width_src - THICK_TARGET * Beff / MNIST_BOX) / (2.0 * (1.0 - THICK_TARGET / MNIST_BOX))
        r = min(r, MAX_THIN_FRACTION * width_src)
        if r >= MIN_STROKE_CHANGE:
            return StrokeChange(*thin(ink01, mask, r), "thinned", w28)
    return StrokeChange(ink01, mask, "none", w28)


def thicken(ink01: np.ndarray, mask: np.ndarray, r: float):
    """Grey dilation by a disc of radius ``r`` (via the distance transform), anti-aliased edge."""
    dist, (iy, ix) = ndi.distance_transform_edt(~mask, return_indices=True)
    # Each pixel takes the value of its nearest ink pixel, faded over one pixel around radius r.
    grown = ink01[iy, ix] * np.clip(r + 0.5 - dist, 0.0, 1.0)
    return np.maximum(ink01, grown).astype(np.float32), dist <= r


def thin(ink01: np.ndarray, mask: np.ndarray, r: float):
    """Erosion by a disc of radius ``r``; halves ``r`` if it would remove most of the ink."""
    inside = ndi.distance_transform_edt(mask)
    for _ in range(THIN_ATTEMPTS):
        keep = np.clip(inside - r, 0.0, 1.0)
        new_mask = inside > r + 0.5
        if new_mask.sum() >= THIN_MIN_KEEP * mask.sum():
            return (ink01 * keep).astype(np.float32), new_mask
        r /= 2.0
    return ink01, mask
