"""Measure a denoiser (and the downstream classifier) on a fixed, seeded test set.

The one evaluation: ``train`` measuring a new model, ``evaluate --model``, the window measuring
a model it trained, and the benchmark tables all come through :func:`figures_of`.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from . import metrics
from .figures import CLASSIFIER, DENOISER, ModelFigures
from .noise import NoiseSpec

TEST_SEED = 20240101  # the noise every figure in this project is measured on

Classify = Callable[[np.ndarray], np.ndarray]  # (N, 28, 28) -> (N, 10) probabilities


def figures_of(clean: np.ndarray, output: np.ndarray, noisy: Optional[np.ndarray] = None,
               labels: Optional[np.ndarray] = None, classify: Optional[Classify] = None,
               noise: Optional[str] = None, with_clean: bool = True) -> ModelFigures:
    """The figures of a denoiser's ``output`` for ``clean`` digits (any method: a network, a
    filter): mean PSNR/SSIM of the output and of the ``noisy`` input, and, with ``labels`` and
    ``classify``, the accuracy on denoised, noisy and (``with_clean``) clean digits."""
    accuracy = (lambda x: metrics.accuracy(classify(x), labels)) if classify is not None and labels is not None else None
    return ModelFigures(
        kind=DENOISER, images=int(len(clean)), noise=noise,
        psnr=_mean(metrics.psnr(clean, output)), ssim=_mean(metrics.ssim(clean, output)),
        psnr_noisy=None if noisy is None else _mean(metrics.psnr(clean, noisy)),
        ssim_noisy=None if noisy is None else _mean(metrics.ssim(clean, noisy)),
        accuracy_clean=accuracy(clean) if accuracy and with_clean else None,
        accuracy_noisy=accuracy(noisy) if accuracy and noisy is not None else None,
        accuracy_denoised=accuracy(output) if accuracy else None,
    )


def evaluate_denoiser(pipeline, clean: np.ndarray, labels: Optional[np.ndarray], noise: NoiseSpec,
                      seed: int = TEST_SEED) -> ModelFigures:
    """Corrupt ``clean`` (N, 28, 28) digits in [0, 1] with ``noise`` (seeded), denoise them with
    the pipeline and measure; downstream accuracy when the pipeline has a classifier."""
    noisy = noise.apply(clean, seed)
    classify = pipeline.classify if pipeline.classifier is not None else None
    return figures_of(clean, pipeline.denoise(noisy), noisy, labels, classify, str(noise))


def evaluate_classifier(pipeline, images: np.ndarray, labels: np.ndarray) -> ModelFigures:
    return ModelFigures(kind=CLASSIFIER, images=int(len(images)),
                        accuracy=metrics.accuracy(pipeline.classify(images), labels))


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values))
