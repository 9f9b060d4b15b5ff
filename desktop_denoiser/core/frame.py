"""A frame: one image in, brought to the MNIST convention, corrupted, denoised and classified.

The one path for it. The window computes a frame per change of the canvas or the noise, the
self-test one for its sample, ``denoise`` one per file (in batches) and the lab builds on them:
all call :func:`prepare` (the image half, which needs no model and runs in worker processes)
and :func:`finish` or :func:`finish_batch` (the model half).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Optional, Sequence

import numpy as np

from . import metrics, preprocess
from .noise import NoiseSpec

NO_NOISE_DB = 99.0  # a PSNR above this is an input the noise left unchanged (PSNR is capped at 100 dB)


@dataclasses.dataclass
class Prepared:
    """The image half of a frame."""

    clean: np.ndarray  # (28, 28) float32 in [0, 1], MNIST convention
    noisy: np.ndarray  # ``clean`` with the noise, what the denoiser sees
    empty: bool  # no digit in the image (blank paper, an empty canvas)
    analysis: Any = None  # the preprocess.Analysis of an image that was not in MNIST form yet


@dataclasses.dataclass
class Frame(Prepared):
    """A whole frame: the image half and what the models made of it (None without a model)."""

    reconstruction: Optional[np.ndarray] = None  # (28, 28)
    probs_noisy: Optional[np.ndarray] = None  # (10,) the classifier on the noisy input
    probs_reconstruction: Optional[np.ndarray] = None  # (10,) the classifier on the reconstruction
    seconds: float = 0.0  # time in the models (denoise + classify)
    extras: dict = dataclasses.field(default_factory=dict)  # what per-frame hooks added (the window's lab: "lab")

    @property
    def digit(self) -> Optional[int]:
        p = self.probs_reconstruction
        return None if p is None or self.empty else int(np.argmax(p))

    @property
    def confidence(self) -> Optional[float]:
        p = self.probs_reconstruction
        return None if p is None or self.empty else float(np.max(p))

    @property
    def psnr_noisy(self) -> float:
        return float(metrics.psnr(self.clean, self.noisy)[0])

    @property
    def psnr(self) -> Optional[float]:
        """PSNR of the reconstruction against the clean input."""
        return None if self.reconstruction is None else float(metrics.psnr(self.clean, self.reconstruction)[0])

    @property
    def noise_changed_it(self) -> bool:
        return self.psnr_noisy < NO_NOISE_DB


def prepare(image: Any = None, ready28: Optional[np.ndarray] = None, noise: Optional[NoiseSpec] = None,
            seed: int = 0) -> Prepared:
    """Bring ``image`` (a PIL image or an array of any size, mode and polarity) to the MNIST
    convention, or take ``ready28`` (already a (28, 28) digit in [0, 1], e.g. an MNIST test
    digit) as it is, then add ``noise`` with ``seed`` (none: the noisy image is the clean one)."""
    analysis = None
    if ready28 is not None:
        clean = np.asarray(ready28, np.float32)
        empty = not clean.any()
    else:
        analysis = preprocess.analyse(image)
        clean, empty = analysis.image, bool(analysis.empty)
    noisy = noise.apply(clean, seed) if noise is not None else clean
    return Prepared(clean, noisy, empty, analysis)


def finish(pipeline, prepared: Prepared) -> Frame:
    """The model half of one frame, on the interactive path (one compiled call); a frame of an
    empty image, or without a pipeline, has no reconstruction."""
    frame = Frame(prepared.clean, prepared.noisy, prepared.empty, prepared.analysis)
    if prepared.empty or pipeline is None:
        return frame
    p = pipeline.run(prepared.noisy)
    frame.reconstruction, frame.probs_noisy, frame.probs_reconstruction = p.reconstruction, p.probs_noisy, p.probs_reconstruction
    frame.seconds = p.seconds
    return frame


def finish_batch(pipeline, prepared: Sequence[Prepared], classify: bool = False) -> list[Frame]:
    """The model half of many frames at once (batched calls: ``denoise`` and files); with
    ``classify`` the reconstructions are read too (the noisy inputs are not)."""
    frames = [Frame(p.clean, p.noisy, p.empty, p.analysis) for p in prepared]
    if not frames:
        return frames
    t0 = time.perf_counter()
    recon = pipeline.denoise(np.stack([f.noisy for f in frames]))
    probs = pipeline.classify(recon) if classify and pipeline.classifier is not None else None
    seconds = (time.perf_counter() - t0) / len(frames)
    for k, f in enumerate(frames):
        f.reconstruction, f.seconds = recon[k], seconds
        if probs is not None:
            f.probs_reconstruction = probs[k]
    return frames


def compute(pipeline, image: Any = None, ready28: Optional[np.ndarray] = None, noise: Optional[NoiseSpec] = None,
            seed: int = 0) -> Frame:
    """One whole frame: :func:`prepare`, then :func:`finish`."""
    return finish(pipeline, prepare(image, ready28, noise, seed))
