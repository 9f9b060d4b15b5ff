"""Classical denoisers for comparison: median, Gaussian, non-local means, total variation.

The benchmark tables tune them (:func:`tune`); the lab's Compare view shows them beside the
networks. Each takes a batch (N, 28, 28) in [0, 1]."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import ndimage


def median3(images: np.ndarray) -> np.ndarray:
    """3×3 median filter of every image (vectorised over the batch)."""
    return ndimage.median_filter(np.asarray(images, np.float32), size=(1, 3, 3))


def gaussian(images: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(np.asarray(images, np.float32), sigma=(0, sigma, sigma))


def noise_sigma(images: np.ndarray) -> np.ndarray:
    """Per-image noise standard deviation (Immerkær 1996: a Laplacian-difference mask), vectorised."""
    x = np.asarray(images, np.float64)
    mask = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)[None]
    conv = ndimage.convolve(x, mask, mode="reflect")[:, 1:-1, 1:-1]
    h, w = x.shape[1:]
    return np.sqrt(np.pi / 2.0) * np.abs(conv).sum(axis=(1, 2)) / (6.0 * (h - 2) * (w - 2))


def nl_means(images: np.ndarray, factor: float) -> np.ndarray:
    """skimage's non-local means per image (it has no batch mode), h = factor × estimated sigma."""
    from skimage.restoration import denoise_nl_means

    x = np.asarray(images, np.float32)
    sigmas = noise_sigma(x)
    out = np.empty_like(x)
    for i, (img, s) in enumerate(zip(x, sigmas)):  # per image: skimage's API is per image
        out[i] = denoise_nl_means(img, h=max(factor * s, 1e-3), sigma=s, patch_size=5, patch_distance=6, fast_mode=True)
    return out


def tv(images: np.ndarray, weight: float) -> np.ndarray:
    """skimage's Chambolle total-variation denoising, each image on its own (channel_axis=0)."""
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(np.asarray(images, np.float32), weight=weight, channel_axis=0).astype(np.float32)


def tune(fn: Callable[[np.ndarray, float], np.ndarray], grid: Sequence[float], clean: np.ndarray, noisy: np.ndarray) -> tuple[float, float]:
    """The grid value with the best mean PSNR on a validation set: (value, PSNR)."""
    from . import metrics

    scores = [(float(np.mean(metrics.psnr(clean, fn(noisy, v)))), v) for v in grid]
    best_psnr, best = max(scores)
    return best, best_psnr


GAUSSIAN_GRID = (0.3, 0.5, 0.7, 0.9, 1.1, 1.4, 1.8)
NLM_GRID = (0.15, 0.25, 0.4, 0.6, 0.9)
NLM_FACTOR = 0.4  # the best of NLM_GRID on the second article's noise (the protocol2 table)
TV_GRID = (0.05, 0.1, 0.2, 0.3, 0.5)
