"""The second article's noise, two ways: its fixed-level sweep and its original per-image loop."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# the article's sweep: step i blurs with sigma 0.5 i and adds uniform noise in ±0.4 i
SWEEP = tuple((0.5 * i, 0.4 * i) for i in range(6))


def sweep_noise(images: np.ndarray, sigma: float, r: float, seed: int = 0, mode: str = "reflect") -> np.ndarray:
    """Blur every image with the *same* Gaussian sigma, add U(-r, r) noise, clip to [0, 1].

    ``images`` is (H, W) or (N, H, W) float in [0, 1]. The blur is
    ``scipy.ndimage.gaussian_filter`` over the two image axes only (sigma (0, s, s)), with
    scipy's default border mode like the article (``NoiseSpec`` pads with zeros instead: the
    same on MNIST's empty borders). sigma = 0 and r = 0 leave the image unchanged.
    """
    x = np.asarray(images, dtype=np.float32)
    single = x.ndim == 2
    batch = x[None] if single else x
    if sigma < 0 or r < 0:
        raise ValueError("sigma and r must be >= 0")
    out = ndimage.gaussian_filter(batch, sigma=(0, sigma, sigma), mode=mode) if sigma > 0 else batch.copy()
    if r > 0:
        out = out + np.random.default_rng(seed).uniform(-r, r, size=out.shape).astype(np.float32)
    out = np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)
    return out[0] if single else out


def article_loop(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """The second article's noise generator, as written there: a Python loop over images.

    For each image: sigma = U(0, 2); gaussian_filter(img, sigma); r = U(0.01, 1.5);
    img + np.random.uniform(-r, r, img.shape); clip to [0, 1]; collect in a list. (numpy's
    legacy generator, seeded locally instead of globally.)
    """
    rand = np.random.RandomState(seed)
    noisy = []
    for img in images:
        sigma = rand.uniform(0, 2)
        img = ndimage.gaussian_filter(img, sigma)
        r = rand.uniform(0.01, 1.5)
        img = img + rand.uniform(-r, r, img.shape)
        noisy.append(np.clip(img, 0, 1))
    return np.array(noisy, dtype=np.float32)
