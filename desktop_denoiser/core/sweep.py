"""The second article's sweep: one digit at growing blur and noise.

Step ``i`` blurs with a Gaussian of sigma ``0.5·i`` and adds uniform noise in ``±0.4·i``
(fixed values, not random ranges), clipped to [0, 1]; step 0 is the clean digit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

BLUR_STEP = 0.5
NOISE_STEP = 0.4


@dataclasses.dataclass(frozen=True)
class SweepStep:
    index: int
    sigma: float
    r: float

    @property
    def label(self) -> str:
        return f"σ={self.sigma:.1f}, ±{self.r:.1f}"


def steps(count: int = 6) -> list[SweepStep]:
    return [SweepStep(i, BLUR_STEP * i, NOISE_STEP * i) for i in range(count)]


def corrupt(images: np.ndarray, sigma: float, r: float, seed: int = 0) -> np.ndarray:
    """Blur (N, 28, 28) or (28, 28) images with a fixed sigma, add U(-r, r), clip."""
    x = np.asarray(images, dtype=np.float32)
    sig = (0.0,) * (x.ndim - 2) + (sigma, sigma)
    blurred = ndimage.gaussian_filter(x, sigma=sig, mode="constant") if sigma > 0 else x
    noise = np.random.default_rng(seed).uniform(-r, r, size=x.shape).astype(np.float32) if r > 0 else 0.0
    return np.clip(blurred + noise, 0.0, 1.0).astype(np.float32)


def sweep_rows(image: np.ndarray, count: int = 6, seed: int = 0) -> tuple[list[SweepStep], np.ndarray]:
    """The noisy row for one (28, 28) digit: returns the steps and a (count, 28, 28) array."""
    st = steps(count)
    return st, np.stack([corrupt(image, s.sigma, s.r, seed + s.index) for s in st])
