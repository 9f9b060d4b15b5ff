"""Measure a denoiser (and the downstream classifier) on a fixed, seeded test set."""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import metrics
from .noise import NoiseSpec

TEST_SEED = 20240101  # the noise every figure in this project is measured on


def evaluate_denoiser(
    pipeline, clean: np.ndarray, labels: Optional[np.ndarray], noise: NoiseSpec, seed: int = TEST_SEED
) -> dict:
    """PSNR/SSIM of noisy and denoised images, and classifier accuracy on clean, noisy and
    denoised images when the pipeline has a classifier. ``clean`` is (N, 28, 28) in [0, 1]."""
    noisy = noise.apply(clean, seed)
    recon = pipeline.denoise(noisy)
    result = {
        "images": int(len(clean)),
        "noise": str(noise),
        "psnr_noisy": float(np.mean(metrics.psnr(clean, noisy))),
        "psnr": float(np.mean(metrics.psnr(clean, recon))),
        "ssim_noisy": float(np.mean(metrics.ssim(clean, noisy))),
        "ssim": float(np.mean(metrics.ssim(clean, recon))),
    }
    if pipeline.classifier is not None and labels is not None:
        result["accuracy_clean"] = metrics.accuracy(pipeline.classify(clean), labels)
        result["accuracy_noisy"] = metrics.accuracy(pipeline.classify(noisy), labels)
        result["accuracy_denoised"] = metrics.accuracy(pipeline.classify(recon), labels)
    return result


def evaluate_classifier(pipeline, images: np.ndarray, labels: np.ndarray) -> dict:
    return {"images": int(len(images)), "accuracy": metrics.accuracy(pipeline.classify(images), labels)}
