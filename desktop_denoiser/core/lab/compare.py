"""Compare: every installed denoiser and the classical filters on one input.

Rows: the input itself, each denoiser, then median 3×3, Gaussian (σ = 1) and, when
scikit-image is installed, non-local means. Each row has its image, PSNR and SSIM against the
clean input when there is one (:mod:`..metrics`), and the classifier's digit. The filters are
the benchmark tables' (:mod:`..classical`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Optional

import numpy as np
from .. import classical, metrics

GAUSSIAN_SIGMA = 1.0


@dataclasses.dataclass
class Row:
    name: str
    kind: str  # "input", "denoiser" or "filter"
    image: np.ndarray  # (28, 28)
    psnr: Optional[float]  # dB against the clean input; None without one
    ssim: Optional[float]
    probs: Optional[np.ndarray]  # (10,), None without a classifier

    @property
    def digit(self) -> Optional[int]:
        return None if self.probs is None else int(np.argmax(self.probs))

    @property
    def confidence(self) -> Optional[float]:
        return None if self.probs is None else float(np.max(self.probs))


def median(image) -> np.ndarray:
    return classical.median3(np.asarray(image, np.float32)[None])[0]


def gaussian(image, sigma: float = GAUSSIAN_SIGMA) -> np.ndarray:
    return classical.gaussian(np.asarray(image, np.float32)[None], sigma)[0]


def non_local_means(image) -> np.ndarray:
    return classical.nl_means(np.asarray(image, np.float32)[None], classical.NLM_FACTOR)[0]


def filters() -> dict[str, Callable]:
    """The classical filters available here, by display name."""
    found: dict[str, Callable] = {"median 3×3": median, f"Gaussian σ={GAUSSIAN_SIGMA:g}": gaussian}
    try:
        import skimage.restoration  # noqa: F401
    except ImportError:
        return found
    found["non-local means"] = non_local_means
    return found


def installed_denoisers(store) -> dict:
    """Every usable denoiser of the store, loaded: name -> Keras model."""
    out = {}
    for entry in store.entries("denoiser"):
        if not entry.error:
            out[entry.name] = store.load(str(entry.path), "denoiser").model
    return out


def _denoise(model, noisy: np.ndarray) -> np.ndarray:
    if hasattr(model, "denoise"):  # a LabModel or a Pipeline
        return np.asarray(model.denoise(noisy[None]))[0]
    return np.asarray(model(noisy.reshape(1, 28, 28, 1), training=False))[0, :, :, 0]


def compare(noisy, denoisers: Mapping[str, object], classifier=None, clean=None,
            with_filters: bool = True) -> list[Row]:
    """One :class:`Row` per candidate for the (28, 28) ``noisy`` input: the input, each of
    ``denoisers`` (name -> Keras model, LabModel or Pipeline), then the filters.
    ``classifier``: a Keras classifier (or anything with ``classify``); ``clean``: the
    reference for PSNR/SSIM."""
    x = np.clip(np.asarray(noisy, np.float32).reshape(28, 28), 0.0, 1.0)
    named = [("input", "input", x)]
    named += [(name, "denoiser", _denoise(model, x)) for name, model in denoisers.items()]
    if with_filters:
        named += [(name, "filter", np.clip(fn(x), 0.0, 1.0)) for name, fn in filters().items()]
    images = np.stack([img for _, _, img in named]).astype(np.float32)
    probs = _classify(classifier, images)
    if clean is not None:
        ref = np.broadcast_to(np.asarray(clean, np.float32).reshape(1, 28, 28), images.shape)
        psnrs, ssims = metrics.psnr(ref, images), metrics.ssim(ref, images)
    return [
        Row(name, kind, images[i], float(psnrs[i]) if clean is not None else None,
            float(ssims[i]) if clean is not None else None, None if probs is None else probs[i])
        for i, (name, kind, _) in enumerate(named)
    ]


def _classify(classifier, images):
    if classifier is None:
        return None
    if hasattr(classifier, "classify"):
        return classifier.classify(images)
    return np.asarray(classifier(images[..., None], training=False))
