"""Iterated denoising: x, D(x), D(D(x)), … until a step changes the image by less than
``tol`` or ``max_steps`` steps were taken.

A denoising autoencoder pulls its input toward the digits it learned; iterating it shows
where that pull ends (a fixed point, often a cleaner, more prototypical digit, sometimes
another digit). With a code, every iterate's code is kept for the trajectory on the map.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ..errors import ConfigError

DEFAULT_TOL = 1e-3  # mean absolute change per pixel, in [0, 1] units
DEFAULT_MAX_STEPS = 30
METRICS = ("mean_abs", "rms")


@dataclasses.dataclass
class Iteration:
    """``images`` (steps+1, 28, 28): x then each D(·). ``distances`` (steps,): the change of
    each step by ``metric``. ``codes`` (steps+1, size) of each image, or None without a code.
    ``probs`` (steps+1, 10) from the classifier, or None. ``converged``: the last step changed
    the image by less than ``tol``."""

    images: np.ndarray
    distances: np.ndarray
    codes: Optional[np.ndarray]
    probs: Optional[np.ndarray]
    converged: bool
    tol: float
    metric: str

    @property
    def steps(self) -> int:
        return len(self.distances)

    @property
    def digits(self) -> Optional[np.ndarray]:
        return None if self.probs is None else np.argmax(self.probs, axis=1)


def distance(a, b, metric: str = "mean_abs") -> float:
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(np.mean(np.abs(d))) if metric == "mean_abs" else float(np.sqrt(np.mean(d * d)))


def iterate(lab, image, tol: float = DEFAULT_TOL, max_steps: int = DEFAULT_MAX_STEPS,
            metric: str = "mean_abs") -> Iteration:
    """Iterate the denoiser from ``image`` (28, 28); one compiled call per step."""
    lab.require_denoiser("iterated denoising")
    if metric not in METRICS:
        raise ConfigError(f"Unknown distance '{metric}'; choose one of: {', '.join(METRICS)}.")
    if max_steps < 1:
        raise ConfigError("Iterated denoising needs at least one step.")
    if not tol >= 0:
        raise ConfigError("The tolerance must be zero or positive.")
    x = np.asarray(image, np.float32).reshape(28, 28)
    images, codes, distances = [x], [], []
    converged = False
    for _ in range(max_steps):
        if lab.has_code:
            code, y = lab.encode_decode(images[-1])
            codes.append(code[0])
        else:
            y = lab.denoise(images[-1])
        y = y[0]
        distances.append(distance(y, images[-1], metric))
        images.append(y)
        if distances[-1] < tol:
            converged = True
            break
    if lab.has_code:
        codes.append(lab.encode(images[-1])[0])
    stack = np.stack(images)
    return Iteration(
        images=stack,
        distances=np.asarray(distances),
        codes=np.stack(codes) if codes else None,
        probs=lab.classify(stack),
        converged=converged,
        tol=float(tol),
        metric=metric,
    )
