"""The second article's noise generator as written there (the noise_speed table's baseline).

The article's fixed-level sweep is :mod:`desktop_denoiser.core.sweep` (one definition for the
window's sweep dialog and the benchmark's sweep table).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


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
