"""Image-quality and classification metrics (numpy/scipy, vectorised over a batch)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _batch(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 4 and a.shape[-1] == 1:
        a = a[..., 0]
    return a[None] if a.ndim == 2 else a


def mse(clean, other) -> np.ndarray:
    """Per-image mean squared error."""
    c, o = _batch(clean), _batch(other)
    return np.mean((c - o) ** 2, axis=(1, 2))


def psnr(clean, other, data_range: float = 1.0) -> np.ndarray:
    """Per-image PSNR in dB (capped at 100 dB for identical images)."""
    m = mse(clean, other)
    return np.minimum(10.0 * np.log10(data_range**2 / np.maximum(m, 1e-10)), 100.0)


def ssim(clean, other, data_range: float = 1.0, sigma: float = 1.5) -> np.ndarray:
    """Per-image SSIM (Wang et al. 2004) with an 11-tap Gaussian window, sigma 1.5."""
    x, y = _batch(clean), _batch(other)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    blur = lambda a: ndimage.gaussian_filter(a, sigma=(0, sigma, sigma), truncate=3.5, mode="reflect")  # noqa: E731
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return np.mean(num / den, axis=(1, 2))


def accuracy(probabilities, labels) -> float:
    """Fraction of rows whose arg-max equals the label."""
    p = np.asarray(probabilities)
    return float(np.mean(np.argmax(p, axis=-1) == np.asarray(labels)))
