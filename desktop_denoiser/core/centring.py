"""Placing a found digit in the 28 x 28 frame: the last stages of :func:`.preprocess.analyse`.

An MNIST-like 28 x 28 input only gets an integer shift (:func:`pass_through`); anything else is
resampled so its bounding box fits 20 px and its centre of mass lands on (14, 14)
(:func:`centre_digit`), then, when clean, re-centred once and peak-normalised.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Tuple

import numpy as np
from scipy import ndimage as ndi

from .geometry import EIGHT, MNIST_BOX, MNIST_CENTRE, MNIST_SIZE, Filler, centre_of_mass, median, resample, shift
from .strokes import MIN_BOX

# Pass-through of inputs already 28 x 28: bounding box max side within this range.
PASS_MIN_BOX, PASS_MAX_BOX = 14, 23
# Pass-through: the centre of mass must be this far from MNIST_CENTRE before a 1-px shift.
PASS_DEADBAND = 0.75
# Noisy pass-through: the centre of mass is uncertain by this many px, so only the offset beyond
# it is shifted (nothing below NOISY_DEADBAND px).
NOISY_SLACK = 1.5
NOISY_DEADBAND = NOISY_SLACK + 1.0
# Pass-through keeps the input's own values when its black level is at most PASS_BLACK and its
# ink level at least PASS_WHITE (else the contrast is clearly off: grey paper, faint ink).
PASS_BLACK, PASS_WHITE = 0.1, 0.6
# The centre-of-mass weights of a clean digit include this many pixels around its mask.
COM_GROW = 2
# Clean inputs: the centre of mass after resampling is corrected when off by more than this (px).
RECENTRE_TOLERANCE = 0.1
# Peak normalisation: this percentile of the pixels above PEAK_FRACTION of the maximum is
# brought to 1.0 (when it is above MIN_PEAK).
PEAK_PERCENTILE = 99
PEAK_FRACTION = 0.1
MIN_PEAK = 1e-6
# Noisy borders are filled with samples of the background; with fewer background pixels than
# this, of the whole image.
FILL_MIN_SAMPLES = 16


class Placement(NamedTuple):
    """The 28 x 28 result and the window of the working image it was resampled from."""

    image: np.ndarray
    cy: float  # centre of mass, working-image pixels
    cx: float
    top: float  # top-left corner of the window, working-image pixels
    left: float
    step: float  # working-image pixels per output pixel


def is_passthrough(shape: Tuple[int, int], factor: int, noisy: bool, side: float) -> bool:
    """A 28 x 28 input whose digit already has MNIST's size passes through (integer shift only).

    A noisy 28 x 28 input always passes: its bounding box cannot be measured reliably, and
    resampling would blur the noise the denoiser is meant to see.
    """
    return tuple(shape) == (MNIST_SIZE, MNIST_SIZE) and factor == 1 and (noisy or PASS_MIN_BOX <= side <= PASS_MAX_BOX)


def pass_through(ink, ink01, com_mask, near, lo: float, hi: float, noisy: bool):
    """(image, centre of mass, (dy, dx)) of a pass-through input: an integer shift only.

    ``ink`` is the raw ink map, ``ink01`` its contrast stretch, ``lo`` / ``hi`` its black and ink
    levels, ``near`` the pixels near the ink (the rest is background).
    """
    cy, cx = centre_of_mass(com_weights(ink01, com_mask, noisy))
    dy = deadband_round(MNIST_CENTRE[0] - cy, noisy)
    dx = deadband_round(MNIST_CENTRE[1] - cx, noisy)
    # Keep the input's own values unless its contrast is clearly off (grey paper, faint ink).
    src = ink if (lo <= PASS_BLACK and hi >= PASS_WHITE) else ink01
    fill = filler(src, near, noisy, background=0.0)
    out = shift(src.astype(np.float32), dy, dx, fill)
    return np.clip(out, 0.0, 1.0).astype(np.float32), (cy, cx), (dy, dx)


def centre_digit(ink01: np.ndarray, com_mask: np.ndarray, side: float, near: np.ndarray, noisy: bool) -> Placement:
    """Scale the bounding box (longer ``side``) to 20 px and put the centre of mass at (14, 14).

    Clean inputs are then re-centred once and peak-normalised (:func:`recentre`, :func:`peak`).
    """
    cy, cx = centre_of_mass(com_weights(ink01, com_mask, noisy))
    step = max(side, MIN_BOX) / MNIST_BOX  # source pixels per output pixel
    top = cy + 0.5 - (MNIST_CENTRE[0] + 0.5) * step
    left = cx + 0.5 - (MNIST_CENTRE[1] + 0.5) * step
    fill = filler(ink01, near, noisy, background=float(np.median(ink01[~near])) if (~near).any() else 0.0)
    placed = Placement(resample(ink01, top, left, step, fill), cy, cx, top, left, step)
    if not noisy:
        placed = recentre(placed, ink01, fill)
        placed = placed._replace(image=peak(placed.image))
    return placed._replace(image=np.clip(placed.image, 0.0, 1.0).astype(np.float32))


def recentre(p: Placement, ink01: np.ndarray, fill: Filler) -> Placement:
    """Re-check the centre of mass after resampling (area averaging and the clipped border can
    move it by a fraction of a pixel); resample once more if it is off by over the tolerance."""
    ocy, ocx = centre_of_mass(p.image)
    off = abs(ocy - MNIST_CENTRE[0]) > RECENTRE_TOLERANCE or abs(ocx - MNIST_CENTRE[1]) > RECENTRE_TOLERANCE
    if not (np.isfinite(ocy) and off):
        return p
    dy, dx = (ocy - MNIST_CENTRE[0]) * p.step, (ocx - MNIST_CENTRE[1]) * p.step
    top, left = p.top + dy, p.left + dx
    return Placement(resample(ink01, top, left, p.step, fill), p.cy + dy, p.cx + dx, top, left, p.step)


def peak(out: np.ndarray) -> np.ndarray:
    """Bring the ink peak (the 99th percentile of the ink pixels) to 1.0."""
    mx = float(out.max())
    if mx > 0:
        sel = out[out > PEAK_FRACTION * mx]
        p = float(np.percentile(sel, PEAK_PERCENTILE)) if sel.size else mx
        if p > MIN_PEAK:
            out = out / p
    return out


def com_weights(ink01: np.ndarray, mask: np.ndarray, noisy: bool) -> np.ndarray:
    """The weights the centre of mass is taken on."""
    if noisy:
        # Ink above the local noise level, only inside the digit's mask, so noise elsewhere does
        # not drag the centre towards the middle of the image.
        bg = median(ink01[~mask]) if (~mask).any() else 0.0
        return np.clip(ink01 - bg, 0.0, None) * mask
    grown = ndi.binary_dilation(mask, structure=EIGHT, iterations=COM_GROW)
    return ink01 * grown


def deadband_round(d: float, noisy: bool) -> int:
    """Integer shift for an offset ``d`` of the centre of mass, reluctant to move a digit.

    Clean: round, but leave offsets under PASS_DEADBAND alone. Noisy: the estimate of the centre
    of mass itself is uncertain by a pixel or two under heavy noise, so shift only by what is
    certainly needed (``floor(|d| - NOISY_SLACK)``: nothing below NOISY_DEADBAND px).
    """
    a = abs(d)
    if noisy:
        n = math.floor(a - NOISY_SLACK) if a >= NOISY_DEADBAND else 0
    else:
        n = max(1, math.floor(a + 0.5)) if a >= PASS_DEADBAND else 0
    return int(math.copysign(n, d)) if n else 0


def filler(src: np.ndarray, near: np.ndarray, noisy: bool, background: float = 0.0) -> Filler:
    """Noisy: fill uncovered borders with samples of the background noise; clean: ``background``."""
    if noisy:
        samples = src[~near]
        if samples.size < FILL_MIN_SAMPLES:
            samples = src.ravel()
        return Filler(samples=np.asarray(samples, dtype=np.float32))
    return Filler(value=float(background))
