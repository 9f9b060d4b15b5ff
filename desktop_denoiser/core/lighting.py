"""Polarity and lighting: which tail of a grey image is the ink, and levelling uneven light.

The first stages of :func:`.preprocess.analyse`: :func:`orient` decides the polarity on a
smoothed copy and turns the image into bright ink on a dark background; :func:`level_lighting`
removes a smooth lighting trend (a photo of paper with a shadow or vignette) when there is one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
from scipy import ndimage as ndi

from .geometry import DARK_ON_LIGHT, LIGHT_ON_DARK, median, quantiles

# Smoothing for the decisions pixel noise could throw off: a Gaussian of one sigma per this many
# pixels of the shorter side (a 512-px image: ~9 px), and never under SMOOTH_MIN_SIGMA px.
SMOOTH_SIDE_PER_SIGMA = 56.0
SMOOTH_MIN_SIGMA = 1.0
# Polarity compares the distances of the 1st and 99th percentiles (this and 100 - this) from the
# median of the smoothed image.
POLARITY_TAIL = 1.0
# A smoothed image whose tails are closer than this is uniform ...
UNIFORM_RANGE = 1e-6
# ... and it (or a blank image) is paper (dark-on-light) when its median is above this grey.
MID_GREY = 0.5
# Lighting trends are levelled only in images at least this large, with background noise below.
FLATTEN_MIN_SIDE = 32
FLATTEN_MAX_NOISE = 0.04
# The quadratic fit gives up early when the residual std exceeds this (clearly noisy).
FLATTEN_GIVE_UP_NOISE = 2.0 * FLATTEN_MAX_NOISE
# The fit uses a subsample of about this many pixels (a regular grid).
FLATTEN_SAMPLES = 4096.0
# The first fit is on the darker pixels (ink map: background) up to this percentile; each of the
# FLATTEN_ROUNDS fits in all then keeps the pixels within FLATTEN_INLIER_SDS residual stds (at
# least FLATTEN_MIN_BAND) above it, i.e. not ink, for the next ...
FLATTEN_START_PERCENTILE = 60
FLATTEN_ROUNDS = 4
FLATTEN_INLIER_SDS = 2.5
FLATTEN_MIN_BAND = 0.02
# ... and abandoned when fewer than this many pixels are left.
FLATTEN_MIN_SAMPLES = 24
# Median absolute deviation to standard deviation, for Gaussian residuals.
MAD_TO_SD = 1.4826
# The fitted trend is removed only when its range is visible (over FLATTEN_MIN_RANGE), plausible
# (under FLATTEN_MAX_RANGE: a wild extrapolation is a bad fit, not light) and over
# FLATTEN_MIN_SIGNIFICANCE times its own statistical uncertainty.
FLATTEN_MIN_RANGE = 0.06
FLATTEN_MAX_RANGE = 0.9
FLATTEN_MIN_SIGNIFICANCE = 8.0
# Dividing out light: paper is never taken as darker than this (avoids blowing up shadows).
FLATTEN_MIN_PAPER = 0.05


@dataclass(frozen=True)
class Ink:
    """The image as bright ink on a dark background (raw and smoothed), and how it got there."""

    polarity: str  # of the input
    raw: np.ndarray  # bright ink on dark
    smooth: np.ndarray  # the same, Gaussian-smoothed
    flattened: bool = False


def smoothing_sigma(shape: Tuple[int, int]) -> float:
    """Sigma (px) of the Gaussian the noise-sensitive decisions are taken on."""
    return max(SMOOTH_MIN_SIGMA, min(shape) / SMOOTH_SIDE_PER_SIGMA)


def polarity_of(sm: np.ndarray) -> str:
    """Polarity of a (smoothed) grey image: is the ink the bright or the dark tail?

    Ink is bright when the 99th percentile is at least as far above the median as the 1st
    percentile is below it. Smoothing first matters: on noisy images the raw tails are noise.
    """
    lo_s, m, hi_s = quantiles(sm, (POLARITY_TAIL, 50.0, 100.0 - POLARITY_TAIL))
    if hi_s - lo_s < UNIFORM_RANGE:  # (near) uniform: the background is whatever the image is
        return DARK_ON_LIGHT if m > MID_GREY else LIGHT_ON_DARK
    return LIGHT_ON_DARK if (hi_s - m) >= (m - lo_s) else DARK_ON_LIGHT


def blank_polarity(gray: np.ndarray) -> str:
    """Polarity reported for an image with nothing on it: light paper or a dark screen."""
    return DARK_ON_LIGHT if median(gray) > MID_GREY else LIGHT_ON_DARK


def orient(gray: np.ndarray, sigma: float) -> Ink:
    """Decide the polarity on a smoothed copy and return the image as bright ink on dark."""
    sm = ndi.gaussian_filter(gray, sigma, mode="nearest")
    polarity = polarity_of(sm)
    if polarity == LIGHT_ON_DARK:
        return Ink(polarity, gray, sm)
    return Ink(polarity, 1.0 - gray, 1.0 - sm)


def level_lighting(gray: np.ndarray, ink: Ink, sigma: float) -> Ink:
    """Level uneven lighting, if any: ``ink`` (from :func:`orient`) levelled, or ``ink`` itself.

    A strong lighting trend can fool the polarity test, so both hypotheses are levelled and
    the one whose levelled image then agrees with itself is kept.
    """
    other = DARK_ON_LIGHT if ink.polarity == LIGHT_ON_DARK else LIGHT_ON_DARK
    for hyp in (ink.polarity, other):
        flat, ok = flatten(gray if hyp == LIGHT_ON_DARK else 1.0 - gray, multiplicative=hyp == DARK_ON_LIGHT)
        if not ok:
            continue
        sm_flat = ndi.gaussian_filter(flat, sigma, mode="nearest")
        if polarity_of(sm_flat) == LIGHT_ON_DARK:  # the ink of this hypothesis is indeed bright
            return Ink(hyp, flat, sm_flat, True)
    return ink


# ----------------------------------------------------------------------------------------------
# Background flattening


def flatten(ink: np.ndarray, multiplicative: bool = False) -> Tuple[np.ndarray, bool]:
    """Remove a smooth lighting trend (quadratic surface) from the background of an ink map.

    ``ink`` is bright ink on a dark background. The surface is fitted by least squares to a
    subsample of background pixels (:func:`_fit_background`), and removed so the background is
    level: divided out when ``multiplicative`` (dark ink on lit paper, where light scales paper
    and ink alike), subtracted otherwise. It is applied only when its range is visible,
    plausible and far larger than its own statistical uncertainty.
    Small (< 32 px) and noisy images are left alone: there the digit itself, with the noise,
    would be mistaken for a trend (and a noisy 28 x 28 MNIST digit must pass through unchanged).
    """
    gray = ink
    h, w = gray.shape
    if min(h, w) < FLATTEN_MIN_SIDE:
        return gray, False
    fit = _fit_background(gray)
    if fit is None:
        return gray, False
    coef, resid_sd, n_kept = fit
    Y = (np.arange(h) / max(h - 1, 1) - 0.5)[:, None]
    X = (np.arange(w) / max(w - 1, 1) - 0.5)[None, :]
    surface = coef[0] + coef[1] * Y + coef[2] * X + coef[3] * Y * Y + coef[4] * Y * X + coef[5] * X * X
    rng_ = float(surface.max() - surface.min())
    uncertainty = resid_sd * math.sqrt(len(coef) / max(n_kept, 1))
    if (
        resid_sd > FLATTEN_MAX_NOISE
        or rng_ < FLATTEN_MIN_RANGE
        or rng_ > FLATTEN_MAX_RANGE
        or rng_ < FLATTEN_MIN_SIGNIFICANCE * uncertainty
    ):
        return gray, False
    level = float(np.median(surface))
    if multiplicative:
        # Dark ink on lit paper: light multiplies paper and ink alike, so divide it out.
        paper = np.maximum(1.0 - surface, FLATTEN_MIN_PAPER)
        flat = 1.0 - (1.0 - gray) / paper * (1.0 - level)
    else:
        flat = gray - surface + level
    return np.clip(flat, 0.0, 1.0).astype(np.float32), True


def _fit_background(gray: np.ndarray) -> Optional[Tuple[np.ndarray, float, int]]:
    """Robust quadratic fit to the background: (coefficients, residual std, pixels kept) or None.

    First fitted to the darker pixels of a subsample, then refitted to those not far above the
    fit (not ink); None when too few pixels are left, the system is singular, or it is noisy.
    """
    h, w = gray.shape
    stride = max(1, int(math.ceil(math.sqrt(h * w / FLATTEN_SAMPLES))))
    ys, xs = np.mgrid[0:h:stride, 0:w:stride]
    v = gray[::stride, ::stride].ravel().astype(np.float64)
    yn = ys.ravel() / max(h - 1, 1) - 0.5
    xn = xs.ravel() / max(w - 1, 1) - 0.5
    A = np.stack([np.ones_like(yn), yn, xn, yn * yn, yn * xn, xn * xn], axis=1)
    keep = v <= np.percentile(v, FLATTEN_START_PERCENTILE)
    for _ in range(FLATTEN_ROUNDS):
        if keep.sum() < FLATTEN_MIN_SAMPLES:
            return None
        # Normal equations with einsum: tiny, and free of BLAS threading (np.linalg.lstsq can
        # take tens of milliseconds on a busy machine).
        Ak = A[keep]
        try:
            coef = np.linalg.solve(np.einsum("ni,nj->ij", Ak, Ak), np.einsum("ni,n->i", Ak, v[keep]))
        except np.linalg.LinAlgError:
            return None
        r = v - np.einsum("ni,i->n", A, coef)
        mad = float(np.median(np.abs(r[keep] - np.median(r[keep]))))
        resid_sd = MAD_TO_SD * mad
        if resid_sd > FLATTEN_GIVE_UP_NOISE:  # noisy: leave it (and stop early)
            return None
        keep = r <= max(FLATTEN_INLIER_SDS * resid_sd, FLATTEN_MIN_BAND)
    return coef, resid_sd, int(keep.sum())
