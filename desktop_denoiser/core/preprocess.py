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

Everything is vectorised numpy/scipy, pure and deterministic (the only randomness, used to fill
the border of noisy images with background noise, comes from a fixed-seed local generator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from .errors import ImageError

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

MNIST_SIZE = 28
MNIST_BOX = 20
#: Target centre of mass, as (row, column) array indices (MNIST's own convention).
MNIST_CENTRE = (14.0, 14.0)
LIGHT_ON_DARK = "light-on-dark"
DARK_ON_LIGHT = "dark-on-light"

# Working resolution: larger inputs are area-averaged down to at most this many pixels a side.
WORK_MAX_SIDE = 512
# Below this raw contrast (ink maximum - background median) an image is considered empty.
EMPTY_CONTRAST = 0.05
# Connected components smaller than this fraction of the largest one are dropped as specks.
SPECK_FRACTION = 0.12
# Noise std (relative to the ink contrast) above which an image is treated as noisy.
NOISE_THRESHOLD = 0.06
# ... and when more than this fraction of the background pixels deviate by over 10 % of it.
NOISE_SPREAD = 0.03
# Stroke width at 28 x 28 (MNIST: median 2.3, 1st-99th percentile 1.3-4.3 with our estimator).
THIN_STROKE, THIN_TARGET = 2.0, 2.5  # MNIST: median 2.36 px, quartiles 2.0 and 2.9 (this estimator)
THICK_STROKE, THICK_TARGET = 4.5, 3.2
# Lighting trends are levelled only in images at least this large, with background noise below.
FLATTEN_MIN_SIDE = 32
FLATTEN_MAX_NOISE = 0.04
# Smallest bounding box side used for scaling (a single dot is not blown up to 20 px).
MIN_BOX = 4.0
# Pass-through of inputs already 28 x 28: bounding box max side within this range.
PASS_MIN_BOX, PASS_MAX_BOX = 14, 23
# Pass-through: the centre of mass must be this far from MNIST_CENTRE before a 1-px shift.
PASS_DEADBAND = 0.75
_RNG_SEED = 20240531
_EIGHT = np.ones((3, 3), dtype=bool)

ImageLike = Union[Image.Image, np.ndarray]


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
    gray, used_alpha, f, (H0, W0) = _prepare(image)
    h, w = gray.shape
    if h == 0 or w == 0:
        return _empty(LIGHT_ON_DARK, used_alpha, (W0, H0), f)
    # --- polarity, decided on a smoothed copy so pixel noise averages out --------------------
    sigma = max(1.0, min(h, w) / 56.0)
    sm = ndi.gaussian_filter(gray, sigma, mode="nearest")
    polarity = _polarity(sm)
    ink = gray if polarity == LIGHT_ON_DARK else 1.0 - gray
    sm_ink = sm if polarity == LIGHT_ON_DARK else 1.0 - sm
    # --- uneven lighting (a photo of paper with a shadow or vignette) is levelled -------------
    # A strong lighting trend can fool the polarity test, so both hypotheses are levelled and
    # the one whose levelled image then agrees with itself is kept.
    flattened = False
    for hyp in (polarity, DARK_ON_LIGHT if polarity == LIGHT_ON_DARK else LIGHT_ON_DARK):
        flat, ok = _flatten(gray if hyp == LIGHT_ON_DARK else 1.0 - gray, multiplicative=hyp == DARK_ON_LIGHT)
        if not ok:
            continue
        sm_flat = ndi.gaussian_filter(flat, sigma, mode="nearest")
        if _polarity(sm_flat) == LIGHT_ON_DARK:  # the ink of this hypothesis is indeed bright
            polarity, ink, sm_ink, flattened = hyp, flat, sm_flat, True
            break

    lo, med, hi_all = _quantiles(ink, (1.0, 50.0, 99.5))
    if float(ink.max()) - med < EMPTY_CONTRAST:
        polarity = DARK_ON_LIGHT if float(_quantiles(gray, (50.0,))[0]) > 0.5 else LIGHT_ON_DARK
        return _empty(polarity, used_alpha, (W0, H0), f)

    # --- locate the digit on the smoothed ink map --------------------------------------------
    m_s, p99_s = _quantiles(sm_ink, (50.0, 99.0))
    max_s = float(sm_ink.max())
    if p99_s - m_s < 0.2 * (max_s - m_s):
        p99_s = max_s  # very sparse ink (a dot, a short hair-thin line): under 1% of the image
    coarse = _keep_main(sm_ink > m_s + 0.5 * (p99_s - m_s))
    if not coarse.any():
        return _empty(polarity, used_alpha, (W0, H0), f)

    # --- noise: std of the raw pixels away from the ink ----------------------------------------
    reach = int(math.ceil(2.0 * sigma)) + 1
    near = ndi.distance_transform_edt(~coarse) <= reach
    away = ink[~near]
    hi = max(hi_all, _quantiles(ink[coarse], (99.0,))[0])
    if hi - lo < 0.5 * (float(ink[coarse].max()) - lo):  # ink too sparse for percentiles (a dot)
        hi = float(ink[coarse].max())
    if away.size < 16:
        away = ink[~coarse] if (~coarse).any() else ink.ravel()
    background = _quantiles(away, (50.0,))[0]
    contrast = hi - lo
    if contrast < EMPTY_CONTRAST:
        return _empty(polarity, used_alpha, (W0, H0), f)
    noise_level = float(away.std()) / contrast
    # Noise is spread over the background; a stray mark or a stroke missed by the mask is not:
    # require both a large std and many deviating pixels.
    deviating = float(np.mean(np.abs(away - background) > 0.1 * contrast))
    noisy = noise_level > NOISE_THRESHOLD and deviating > NOISE_SPREAD

    # --- contrast stretch: background -> 0, ink -> 1 ------------------------------------------
    # Noisy: raw 1st / 99.5th percentiles. Clean: the background level itself, so grey (or
    # textured) paper becomes exactly 0.
    base = lo if (noisy or away.size < 0.05 * ink.size) else max(lo, background)
    span = max(hi - base, 1e-6)
    ink01 = np.clip((ink - base) / span, 0.0, 1.0).astype(np.float32)

    if noisy:
        mask = coarse
        # A slightly lower threshold gives a steadier centre of mass under heavy noise.
        com_mask = _keep_main(sm_ink > m_s + 0.35 * (p99_s - m_s))
    else:
        peak = _quantiles(ink01[coarse], (99.0,))[0] if coarse.any() else 1.0
        fine = (ink01 > 0.5 * peak) & near
        fine = _keep_main(fine)
        mask = fine if fine.any() else coarse
        com_mask = mask

    bbox = found_bbox = _bbox(mask)  # the digit as found (reported), before stroke changes
    B = float(max(bbox[2] - bbox[0], bbox[3] - bbox[1]))
    width_src = stroke_width(mask) if not noisy else None

    # --- pass-through for inputs that already are MNIST-like 28 x 28 digits -----------------
    # A noisy 28 x 28 input always passes: its bounding box cannot be measured reliably, and
    # resampling would blur the noise the denoiser is meant to see.
    if (H0, W0) == (MNIST_SIZE, MNIST_SIZE) and f == 1 and (noisy or PASS_MIN_BOX <= B <= PASS_MAX_BOX):
        weights = _com_weights(ink01, com_mask, noisy)
        cy, cx = centre_of_mass(weights)
        dy = _deadband_round(MNIST_CENTRE[0] - cy, noisy)
        dx = _deadband_round(MNIST_CENTRE[1] - cx, noisy)
        # Keep the input's own values unless its contrast is clearly off (grey paper, faint ink).
        src = ink if (lo <= 0.1 and hi >= 0.6) else ink01
        fill = _filler(src, near, noisy, background=0.0)
        out = _shift(src.astype(np.float32), dy, dx, fill)
        return Analysis(
            image=np.clip(out, 0.0, 1.0).astype(np.float32),
            polarity=polarity,
            used_alpha=used_alpha,
            bbox=_bbox_to_input(bbox, f, W0, H0),
            noisy=noisy,
            empty=False,
            noise_level=noise_level,
            centre=(cy, cx),
            stroke_width=None if width_src is None else width_src * MNIST_BOX / max(B, MIN_BOX),
            passthrough=True,
            shift=(dy, dx),
            input_size=(W0, H0),
            work_scale=f,
            flattened=flattened,
        )

    # --- stroke width normalisation (clean inputs only) ---------------------------------------
    adjust = "none"
    w28 = None
    if width_src is not None:
        Beff = max(B, MIN_BOX)
        w28 = width_src * MNIST_BOX / Beff
        if w28 < THIN_STROKE:
            r = (THIN_TARGET * Beff / MNIST_BOX - width_src) / (2.0 * (1.0 - THIN_TARGET / MNIST_BOX))
            if r >= 0.5:
                ink01, mask = _thicken(ink01, mask, r)
                adjust = "thickened"
        elif w28 > THICK_STROKE:
            r = (width_src - THICK_TARGET * Beff / MNIST_BOX) / (2.0 * (1.0 - THICK_TARGET / MNIST_BOX))
            r = min(r, 0.35 * width_src)
            if r >= 0.5:
                ink01, mask = _thin(ink01, mask, r)
                adjust = "thinned"
        if adjust != "none":
            bbox = _bbox(mask)
            B = float(max(bbox[2] - bbox[0], bbox[3] - bbox[1]))
            com_mask = mask

    # --- geometry: scale the bounding box to 20 px, centre of mass to (14, 14) ------------------
    weights = _com_weights(ink01, com_mask, noisy)
    cy, cx = centre_of_mass(weights)
    step = max(B, MIN_BOX) / MNIST_BOX  # source pixels per output pixel
    top = cy + 0.5 - (MNIST_CENTRE[0] + 0.5) * step
    left = cx + 0.5 - (MNIST_CENTRE[1] + 0.5) * step
    fill = _filler(ink01, near, noisy, background=float(np.median(ink01[~near])) if (~near).any() else 0.0)
    out = _resample(ink01, top, left, step, fill)

    if not noisy:
        # Clean input: the centre of mass after resampling is re-checked once (area averaging
        # and the clipped border can move it by a fraction of a pixel).
        ocy, ocx = centre_of_mass(out)
        if np.isfinite(ocy) and (abs(ocy - MNIST_CENTRE[0]) > 0.1 or abs(ocx - MNIST_CENTRE[1]) > 0.1):
            cy += (ocy - MNIST_CENTRE[0]) * step
            cx += (ocx - MNIST_CENTRE[1]) * step
            top += (ocy - MNIST_CENTRE[0]) * step
            left += (ocx - MNIST_CENTRE[1]) * step
            out = _resample(ink01, top, left, step, fill)
        # ... and the ink peak is brought to 1.0 (the 99th percentile of ink pixels).
        mx = float(out.max())
        if mx > 0:
            sel = out[out > 0.1 * mx]
            p = float(np.percentile(sel, 99)) if sel.size else mx
            if p > 1e-6:
                out = out / p
    out = np.clip(out, 0.0, 1.0).astype(np.float32)

    return Analysis(
        image=out,
        polarity=polarity,
        used_alpha=used_alpha,
        bbox=_bbox_to_input(found_bbox, f, W0, H0),
        noisy=noisy,
        empty=False,
        noise_level=noise_level,
        centre=(cy * f + (f - 1) / 2.0, cx * f + (f - 1) / 2.0),
        stroke_width=w28,
        stroke_adjust=adjust,
        passthrough=False,
        window=(top * f, left * f, MNIST_SIZE * step * f),
        input_size=(W0, H0),
        work_scale=f,
        flattened=flattened,
    )


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
        scale = 255.0 if a.dtype != np.bool_ else 1.0
        a = a.astype(np.float32) / (65535.0 if a.dtype == np.uint16 else scale)
    a = np.clip(np.nan_to_num(a.astype(np.float32), nan=0.0), 0.0, 1.0)
    if polarity == DARK_ON_LIGHT:
        a = 1.0 - a
    im = Image.fromarray(np.rint(a * 255.0).astype(np.uint8), mode="L")
    if size is not None:
        if isinstance(size, (int, np.integer)):
            size = (int(size), int(size))
        size = (int(size[0]), int(size[1]))
        if size[0] <= 0 or size[1] <= 0:
            raise ValueError(f"size must be positive, not {size}")
        if size != im.size:
            im = im.resize(size, Image.BICUBIC if smooth else Image.NEAREST)
    return im


def apply_geometry(array, analysis: Analysis, fill: float = 0.0) -> np.ndarray:
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
        return _shift(a, dy, dx, fill)
    top, left, side = analysis.window
    return _resample(a, top, left, side / MNIST_SIZE, fill)


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
# Input conversion


def _prepare(image) -> Tuple[np.ndarray, bool, int, Tuple[int, int]]:
    """Return (grey float32 [0, 1] at working resolution, used_alpha, factor, (H, W) of input)."""
    if isinstance(image, Image.Image):
        lum, alpha, f, shape = _planes_from_pil(image)
    else:
        lum, alpha, f, shape = _planes_from_array(image)
    if alpha is None:
        return lum, False, f, shape
    gray, used = _composite(lum, alpha)
    return gray, used, f, shape


def _factor(h: int, w: int) -> int:
    return max(1, int(math.ceil(max(h, w) / WORK_MAX_SIDE)))


def _reduce(plane: np.ndarray, f: int) -> np.ndarray:
    """Area-average a float32 plane by an integer factor (partial edge blocks averaged too)."""
    if f <= 1:
        return np.ascontiguousarray(plane, dtype=np.float32)
    return np.asarray(Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32)).reduce(f), dtype=np.float32)


def _reduced_u8(im: Image.Image, f: int) -> np.ndarray:
    """An 8-bit PIL image area-averaged by ``f`` in C (rounding error <= 0.5/255), as float32 0..1."""
    if f > 1:
        im = im.reduce(f)
    return np.asarray(im, dtype=np.float32) / 255.0


_WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def _planes_from_pil(im: Image.Image):
    """(grey or premultiplied grey, alpha or None, factor, (H, W)) of a PIL image of any mode."""
    W, H = im.size
    f = _factor(H, W)
    mode = im.mode
    if W == 0 or H == 0:
        return np.zeros((H, W), np.float32), None, 1, (H, W)
    if mode in _WIDE_MODES:
        return _planes_from_array(np.asarray(im))
    if mode in ("La", "RGBa"):  # already premultiplied
        a = _reduced_u8(im, f)
        lum = a[..., 0] if mode == "La" else a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
        alpha = a[..., -1]
        if float(alpha.min()) >= 1.0:
            alpha = None
        return np.ascontiguousarray(lum, dtype=np.float32), alpha, f, (H, W)
    has_alpha = mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    if has_alpha:
        try:
            rgba = im.convert("RGBA")
        except (ValueError, OSError) as exc:
            raise ImageError(f"Images of mode {mode} are not supported.") from exc
        amin, _ = rgba.getchannel("A").getextrema()
        if amin < 255:
            a = _reduced_u8(rgba.convert("RGBa"), f)  # premultiplied, so area averaging is exact
            lum = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
            return lum.astype(np.float32), np.ascontiguousarray(a[..., 3]), f, (H, W)
        im, mode = rgba.convert("RGB"), "RGB"
    if mode != "L":
        try:
            im = im.convert("L")
        except (ValueError, OSError):
            try:
                im = im.getchannel({"HSV": 2}.get(mode, 0))  # LAB: lightness; HSV: value
            except Exception as exc:  # noqa: BLE001
                raise ImageError(f"Images of mode {mode} are not supported.") from exc
            if im.mode != "L":
                raise ImageError(f"Images of mode {mode} are not supported.")
    return _reduced_u8(im, f), None, f, (H, W)


def _unit_scale(dtype: np.dtype, mn: float, mx: float) -> Tuple[float, float]:
    """(offset, factor) mapping values of this dtype/range to [0, 1]: unit = (v - offset) * factor."""
    if dtype == np.uint8:
        return 0.0, 1.0 / 255.0
    if dtype.kind == "u" and dtype.itemsize == 2:
        return 0.0, 1.0 / 65535.0
    if dtype == np.bool_:
        return 0.0, 1.0
    if dtype.kind == "f" and mn >= -1e-3 and mx <= 1.0 + 1e-3:
        return 0.0, 1.0
    if mn >= 0 and mx <= 255.0:
        return 0.0, 1.0 / 255.0
    if mn >= 0 and mx <= 65535.0:
        return 0.0, 1.0 / 65535.0
    if mx - mn <= 0:
        return mn, 0.0
    return mn, 1.0 / (mx - mn)


def _planes_from_array(arr):
    """(grey or premultiplied grey, alpha or None, factor, (H, W)) of a numpy array."""
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
        channels = 1
    elif a.ndim == 3 and a.shape[2] in (2, 3, 4):
        channels = a.shape[2]
    else:
        raise ImageError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4), not {a.shape}.")
    H, W = a.shape[:2]
    if a.size == 0:
        return np.zeros((H, W), np.float32), None, 1, (H, W)
    if a.dtype == np.uint8:  # Pillow does the heavy lifting in C
        return _planes_from_pil(Image.fromarray(np.ascontiguousarray(a)))
    f = _factor(H, W)

    def plane(c: int) -> np.ndarray:
        p = (a if channels == 1 else a[..., c]).astype(np.float32)  # contiguous copy
        if a.dtype.kind == "f":
            bad = ~np.isfinite(p)
            if bad.any():
                p[bad] = 0.0
        return p

    def luminance(planes) -> np.ndarray:
        if len(planes) == 1:
            return planes[0]
        lum = planes[0] * 0.299
        lum += planes[1] * 0.587
        lum += planes[2] * 0.114
        return lum

    n_colour = 3 if channels >= 3 else 1
    alpha = plane(channels - 1) if channels in (2, 4) else None
    if alpha is not None:
        a_off, a_fac = _unit_scale(a.dtype, float(alpha.min()), float(alpha.max()))
        if a.dtype.kind == "f" and float(alpha.max()) <= 1.0 + 1e-3:
            a_off, a_fac = 0.0, 1.0
        alpha -= a_off
        alpha *= a_fac
        np.clip(alpha, 0.0, 1.0, out=alpha)
        if float(alpha.min()) >= 1.0:
            alpha = None

    if alpha is None:
        # Everything here is linear, so area-average each channel first (in C) and do the rest
        # on the small planes: a 4000 x 3000 float image costs one copy per channel.
        colour = [_reduce(plane(c), f) for c in range(n_colour)]
        offset, factor = _unit_scale(
            a.dtype, min(float(p.min()) for p in colour), max(float(p.max()) for p in colour)
        )
        lum = (luminance(colour) - offset) * factor  # new array (reduced planes are read-only)
        return np.clip(lum, 0.0, 1.0).astype(np.float32), None, f, (H, W)

    colour = [plane(c) for c in range(n_colour)]
    offset, factor = _unit_scale(
        a.dtype, min(float(p.min()) for p in colour), max(float(p.max()) for p in colour)
    )
    lum = luminance(colour)
    lum -= offset
    lum *= factor
    np.clip(lum, 0.0, 1.0, out=lum)
    lum *= alpha  # premultiply before area averaging
    return _reduce(lum, f), _reduce(alpha, f), f, (H, W)


def _composite(lum_premult: np.ndarray, alpha: np.ndarray) -> Tuple[np.ndarray, bool]:
    """Composite a premultiplied grey plane over a background that contrasts with the ink.

    A digit painted on a transparent background is composited over the opposite of its own
    colour (black ink -> white, white ink -> black), so an RGBA image whose RGB is constant and
    whose alpha carries the digit works. A picture that has its own opaque background (real
    contrast inside the opaque part, e.g. a scanned patch on a transparent canvas) is
    composited over that background's colour (the median of the opaque pixels).
    """
    alpha = np.clip(alpha, 0.0, 1.0)
    if float(alpha.min()) >= 0.996:
        return np.clip(lum_premult, 0.0, 1.0).astype(np.float32), False
    opaque = alpha > 0.5
    if not opaque.any():
        opaque = alpha > 0.0
    if not opaque.any():  # entirely transparent: nothing to see
        return np.ones_like(lum_premult, dtype=np.float32), True
    colour = lum_premult[opaque] / alpha[opaque]
    spread = float(np.percentile(colour, 99) - np.percentile(colour, 1))
    if spread > 0.25:
        bg = float(np.median(colour))
    else:
        bg = 1.0 if float(colour.mean()) < 0.5 else 0.0
    gray = lum_premult + (1.0 - alpha) * bg
    return np.clip(gray, 0.0, 1.0).astype(np.float32), True


# ----------------------------------------------------------------------------------------------
# Analysis helpers


def _quantiles(a: np.ndarray, qs) -> Tuple[float, ...]:
    """Percentiles ``qs`` (0-100) of ``a``, like ``np.percentile(..., method="linear")``.

    One ``np.partition`` call for all of them: several times faster than ``np.percentile`` /
    ``np.median`` on the small arrays this module mostly handles.
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


def _polarity(sm: np.ndarray) -> str:
    """Polarity of a (smoothed) grey image: is the ink the bright or the dark tail?

    Ink is bright when the 99th percentile is at least as far above the median as the 1st
    percentile is below it. Smoothing first matters: on noisy images the raw tails are noise.
    """
    lo_s, m, hi_s = _quantiles(sm, (1.0, 50.0, 99.0))
    if hi_s - lo_s < 1e-6:  # (near) uniform: the background is whatever the image is
        return DARK_ON_LIGHT if m > 0.5 else LIGHT_ON_DARK
    return LIGHT_ON_DARK if (hi_s - m) >= (m - lo_s) else DARK_ON_LIGHT


def _flatten(ink: np.ndarray, multiplicative: bool = False) -> Tuple[np.ndarray, bool]:
    """Remove a smooth lighting trend (quadratic surface) from the background of an ink map.

    ``ink`` is bright ink on a dark background. The surface is fitted by least squares to a
    subsample of background pixels (first the darker 60 %, then three times those not far
    above the fit, i.e. not ink), and removed so the background is level: divided out when
    ``multiplicative`` (dark ink on lit paper, where light scales paper and ink alike),
    subtracted otherwise. It is applied only when its range is visible (over 0.06), plausible
    (under 0.9: a wild extrapolation is a bad fit, not light) and far larger than its own
    statistical uncertainty.
    Small (< 32 px) and noisy images are left alone: there the digit itself, with the noise,
    would be mistaken for a trend (and a noisy 28 x 28 MNIST digit must pass through unchanged).
    """
    gray = ink
    h, w = gray.shape
    if min(h, w) < FLATTEN_MIN_SIDE:
        return gray, False
    stride = max(1, int(math.ceil(math.sqrt(h * w / 4096.0))))
    ys, xs = np.mgrid[0:h:stride, 0:w:stride]
    v = gray[::stride, ::stride].ravel().astype(np.float64)
    yn = ys.ravel() / max(h - 1, 1) - 0.5
    xn = xs.ravel() / max(w - 1, 1) - 0.5
    A = np.stack([np.ones_like(yn), yn, xn, yn * yn, yn * xn, xn * xn], axis=1)
    keep = v <= np.percentile(v, 60)
    coef = None
    resid_sd = 0.0
    for _ in range(4):
        if keep.sum() < 24:
            return gray, False
        # Normal equations with einsum: tiny, and free of BLAS threading (np.linalg.lstsq can
        # take tens of milliseconds on a busy machine).
        Ak = A[keep]
        try:
            coef = np.linalg.solve(np.einsum("ni,nj->ij", Ak, Ak), np.einsum("ni,n->i", Ak, v[keep]))
        except np.linalg.LinAlgError:
            return gray, False
        r = v - np.einsum("ni,i->n", A, coef)
        mad = float(np.median(np.abs(r[keep] - np.median(r[keep]))))
        resid_sd = 1.4826 * mad
        if resid_sd > 2.0 * FLATTEN_MAX_NOISE:  # noisy: leave it (and stop early)
            return gray, False
        keep = r <= max(2.5 * resid_sd, 0.02)
    if coef is None:
        return gray, False
    Y = (np.arange(h) / max(h - 1, 1) - 0.5)[:, None]
    X = (np.arange(w) / max(w - 1, 1) - 0.5)[None, :]
    surface = coef[0] + coef[1] * Y + coef[2] * X + coef[3] * Y * Y + coef[4] * Y * X + coef[5] * X * X
    rng_ = float(surface.max() - surface.min())
    uncertainty = resid_sd * math.sqrt(6.0 / max(int(keep.sum()), 1))
    if resid_sd > FLATTEN_MAX_NOISE or rng_ < 0.06 or rng_ > 0.9 or rng_ < 8.0 * uncertainty:
        return gray, False
    level = float(np.median(surface))
    if multiplicative:
        # Dark ink on lit paper: light multiplies paper and ink alike, so divide it out.
        paper = np.maximum(1.0 - surface, 0.05)
        flat = 1.0 - (1.0 - gray) / paper * (1.0 - level)
    else:
        flat = gray - surface + level
    return np.clip(flat, 0.0, 1.0).astype(np.float32), True


def _empty(polarity: str, used_alpha: bool, input_size, f: int) -> Analysis:
    return Analysis(
        image=np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32),
        polarity=polarity,
        used_alpha=used_alpha,
        bbox=None,
        noisy=False,
        empty=True,
        input_size=tuple(int(v) for v in input_size),
        work_scale=f,
    )


def _keep_main(mask: np.ndarray) -> np.ndarray:
    """Drop connected components much smaller than the largest one (8-connectivity)."""
    labels, n = ndi.label(mask, structure=_EIGHT)
    if n <= 1:
        return mask.astype(bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = sizes >= SPECK_FRACTION * sizes.max()
    keep[0] = False
    return keep[labels]


def _bbox(mask: np.ndarray) -> Tuple[int, int, int, int]:
    """(left, top, right, bottom), right/bottom exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _bbox_to_input(b, f: int, W: int, H: int) -> Tuple[int, int, int, int]:
    return (b[0] * f, b[1] * f, min(b[2] * f, W), min(b[3] * f, H))


def _com_weights(ink01: np.ndarray, mask: np.ndarray, noisy: bool) -> np.ndarray:
    if noisy:
        # Ink above the local noise level, only inside the digit's mask, so noise elsewhere does
        # not drag the centre towards the middle of the image.
        bg = _quantiles(ink01[~mask], (50.0,))[0] if (~mask).any() else 0.0
        return np.clip(ink01 - bg, 0.0, None) * mask
    grown = ndi.binary_dilation(mask, structure=_EIGHT, iterations=2)
    return ink01 * grown


def _deadband_round(d: float, noisy: bool) -> int:
    """Integer shift for an offset ``d`` of the centre of mass, reluctant to move a digit.

    Clean: round, but leave offsets under PASS_DEADBAND alone. Noisy: the estimate of the centre
    of mass itself is uncertain by a pixel or two under heavy noise, so shift only by what is
    certainly needed (``floor(|d| - 1.5)``: nothing below 2.5 px).
    """
    a = abs(d)
    if noisy:
        n = math.floor(a - 1.5) if a >= 2.5 else 0
    else:
        n = max(1, math.floor(a + 0.5)) if a >= PASS_DEADBAND else 0
    return int(math.copysign(n, d)) if n else 0


def _thicken(ink01: np.ndarray, mask: np.ndarray, r: float):
    """Grey dilation by a disc of radius ``r`` (via the distance transform), anti-aliased edge."""
    dist, (iy, ix) = ndi.distance_transform_edt(~mask, return_indices=True)
    grown = ink01[iy, ix] * np.clip(r + 0.5 - dist, 0.0, 1.0)
    return np.maximum(ink01, grown).astype(np.float32), dist <= r


def _thin(ink01: np.ndarray, mask: np.ndarray, r: float):
    """Erosion by a disc of radius ``r``; halves ``r`` if it would remove most of the ink."""
    inside = ndi.distance_transform_edt(mask)
    for _ in range(3):
        keep = np.clip(inside - r, 0.0, 1.0)
        new_mask = inside > r + 0.5
        if new_mask.sum() >= 0.3 * mask.sum():
            return (ink01 * keep).astype(np.float32), new_mask
        r /= 2.0
    return ink01, mask


class _Filler:
    """Background used where the source window leaves the image."""

    def __init__(self, value: float = 0.0, samples: Optional[np.ndarray] = None):
        self.value = value
        self.samples = samples

    def canvas(self, shape) -> np.ndarray:
        if self.samples is None or self.samples.size == 0:
            return np.full(shape, self.value, dtype=np.float32)
        rng = np.random.default_rng(_RNG_SEED)
        return rng.choice(self.samples, size=shape).astype(np.float32)


def _filler(src: np.ndarray, near: np.ndarray, noisy: bool, background: float = 0.0) -> _Filler:
    if noisy:
        samples = src[~near]
        if samples.size < 16:
            samples = src.ravel()
        return _Filler(samples=np.asarray(samples, dtype=np.float32))
    return _Filler(value=float(background))


def _as_filler(fill) -> _Filler:
    return fill if isinstance(fill, _Filler) else _Filler(value=float(fill))


def _shift(a: np.ndarray, dy: int, dx: int, fill) -> np.ndarray:
    """Integer shift (no interpolation); uncovered pixels come from ``fill``."""
    if dy == 0 and dx == 0:
        return a.astype(np.float32, copy=True)
    h, w = a.shape
    out = _as_filler(fill).canvas((h, w))
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if abs(dy) < h and abs(dx) < w:
        out[yd, xd] = a[ys, xs]
    return out


def _axis_weights(start: float, step: float, n: int):
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
    ov /= np.maximum(ov.sum(axis=1, keepdims=True), 1e-12)
    return i0, ov


def _resample(src: np.ndarray, top: float, left: float, step: float, fill, n: int = MNIST_SIZE) -> np.ndarray:
    """Map the square window (top, left, side n*step) of ``src`` onto n x n with area averaging."""
    y0, Wy = _axis_weights(top, step, n)
    x0, Wx = _axis_weights(left, step, n)
    y1, x1 = y0 + Wy.shape[1], x0 + Wx.shape[1]
    h, w = src.shape
    if y0 >= 0 and x0 >= 0 and y1 <= h and x1 <= w:
        win = src[y0:y1, x0:x1]
    else:
        win = _as_filler(fill).canvas((y1 - y0, x1 - x0))
        sy0, sy1 = max(y0, 0), min(y1, h)
        sx0, sx1 = max(x0, 0), min(x1, w)
        if sy0 < sy1 and sx0 < sx1:
            win[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = src[sy0:sy1, sx0:sx1]
    # einsum rather than @: no BLAS threads, which are slow to start on a busy machine.
    out = np.einsum("ij,jk->ik", np.einsum("ij,jk->ik", Wy, win.astype(np.float64)), Wx.T)
    return out.astype(np.float32)
