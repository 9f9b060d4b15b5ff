"""The second article's sweep: one digit at growing blur and noise.

Step ``i`` blurs with a Gaussian of sigma ``0.5·i`` and adds uniform noise in ``±0.4·i``
(fixed values, not random ranges), clipped to [0, 1]; step 0 is the clean digit. This is the
one definition: the window's sweep dialog (:func:`sweep_rows`, seed ``seed + i``) and the
benchmark's sweep table (:func:`sweep_noise` per step, seed ``TEST_SEED + i``) both use it.

The border is the article's: it calls ``scipy.ndimage.gaussian_filter(img, sigma)`` with no
mode, i.e. scipy's default ``mode="reflect"``. The training noise ``blur+uniform`` of
:class:`~desktop_denoiser.core.noise.NoiseSpec` pads with zeros (``mode="constant"``) instead.
That is *nearly*, not exactly, the same on MNIST: the digits sit in a 20×20 box with an empty
4-pixel margin, but at sigma 2 the kernel reaches 8 pixels, so mirrored ink leaks into the
margin. Over the first 1,000 MNIST test digits at sigma 2 the two borders differ by at most
0.0051 (1.3 grey levels) inside the central 20×20, but by up to 0.179 in the outer ring
(mean 0.00038 over all pixels; 2.1% of pixels differ by more than 1/255; the largest
differences are on the 12 digits whose ink touches the edge).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import ndimage

BLUR_STEP = 0.5
NOISE_STEP = 0.4
STEPS = 6  # the article's figure has six columns, i = 0..5


@dataclasses.dataclass(frozen=True)
class SweepStep:
    index: int
    sigma: float
    r: float

    @property
    def label(self) -> str:
        return f"σ={self.sigma:.1f}, ±{self.r:.1f}"


def steps(count: int = STEPS) -> list[SweepStep]:
    return [SweepStep(i, BLUR_STEP * i, NOISE_STEP * i) for i in range(count)]


# the article's sweep as (sigma, r) per step
SWEEP = tuple((s.sigma, s.r) for s in steps())


def sweep_noise(images: np.ndarray, sigma: float, r: float, seed: int = 0) -> np.ndarray:
    """Blur every image with the *same* Gaussian sigma, add U(-r, r) noise, clip to [0, 1].

    ``images`` is (H, W) or (N, H, W) float in [0, 1]. The blur is
    ``scipy.ndimage.gaussian_filter`` over the two image axes only (sigma (0, s, s)) with
    scipy's default border ``mode="reflect"``, like the article (see the module docstring for
    how that differs from NoiseSpec's zero padding); the noise is
    ``np.random.default_rng(seed).uniform(-r, r)`` over the whole array. sigma = 0 and r = 0
    leave the image unchanged.
    """
    x = np.asarray(images, dtype=np.float32)
    single = x.ndim == 2
    batch = x[None] if single else x
    if sigma < 0 or r < 0:
        raise ValueError("sigma and r must be >= 0")
    out = ndimage.gaussian_filter(batch, sigma=(0, sigma, sigma), mode="reflect") if sigma > 0 else batch.copy()
    if r > 0:
        out = out + np.random.default_rng(seed).uniform(-r, r, size=out.shape).astype(np.float32)
    out = np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)
    return out[0] if single else out


def sweep_rows(image: np.ndarray, count: int = STEPS, seed: int = 0) -> tuple[list[SweepStep], np.ndarray]:
    """The noisy row for one (28, 28) digit: returns the steps and a (count, 28, 28) array."""
    st = steps(count)
    return st, np.stack([sweep_noise(image, s.sigma, s.r, seed + s.index) for s in st])
