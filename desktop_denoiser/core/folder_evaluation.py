"""How well the models read a labelled folder of one's own digits.

Each digit of a :class:`~.digit_folder.DigitFolder` goes through the one frame path
(:func:`frame.prepare` with the optional noise, seeded per image, then :func:`frame.finish_batch`
in batches): the classifier reads the denoiser's *reconstruction*, as the window and
``denoise --classify`` do. The result holds the accuracy overall and per digit, the confusion
matrix and, for every image, what the model saw and what it said, so that a report or the
window can list the worst-read images.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import filebatch, frame
from .digit_folder import DigitFolder
from .errors import DenoiserError
from .noise import NoiseSpec


@dataclasses.dataclass
class Misread:
    """One image with what the models made of it (a misread one: read as another digit than its label)."""

    index: int  # into the folder
    path: Path
    true: int
    predicted: int
    probs: np.ndarray  # (10,) the classifier on the reconstruction
    noisy: np.ndarray  # (28, 28) what the denoiser saw
    reconstruction: np.ndarray  # (28, 28) what the classifier saw

    @property
    def p_true(self) -> float:
        return float(self.probs[self.true])

    @property
    def p_predicted(self) -> float:
        return float(self.probs[self.predicted])


@dataclasses.dataclass
class FolderEvaluation:
    """The models on every digit of a labelled folder."""

    root: Path
    paths: list[Path]
    labels: np.ndarray  # (N,) int64
    predicted: np.ndarray  # (N,) int64, the digit read from the reconstruction
    probs: np.ndarray  # (N, 10) the classifier on the reconstructions
    probs_noisy: np.ndarray  # (N, 10) the classifier on the noisy inputs, without denoising
    noisy: np.ndarray  # (N, 28, 28) float32, what the denoiser saw
    reconstructions: np.ndarray  # (N, 28, 28) float32, what the classifier saw
    problems: list[str]  # the folder's (files and folders left out)
    denoiser: str = "-"
    classifier: str = "-"
    noise: Optional[str] = None  # the noise spec added to every image, None for none
    seed: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def correct(self) -> np.ndarray:
        return self.predicted == self.labels

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct))

    @property
    def accuracy_noisy(self) -> float:
        """The accuracy when the classifier reads the (noisy) input itself, without the denoiser."""
        return float(np.mean(np.argmax(self.probs_noisy, axis=1) == self.labels))

    @property
    def counts(self) -> np.ndarray:
        """(10,) images per digit."""
        return np.bincount(self.labels, minlength=10)[:10]

    @property
    def per_digit(self) -> dict[int, Optional[float]]:
        """Accuracy per true digit; None for a digit with no images."""
        counts = self.counts
        right = np.bincount(self.labels[self.correct], minlength=10)[:10]
        return {d: (float(right[d] / counts[d]) if counts[d] else None) for d in range(10)}

    @property
    def confusion(self) -> np.ndarray:
        """(10, 10) int64: row = true digit, column = digit read."""
        m = np.zeros((10, 10), np.int64)
        np.add.at(m, (self.labels, self.predicted), 1)
        return m

    def misread(self, true: Optional[int] = None, predicted: Optional[int] = None) -> list[Misread]:
        """The misread images (of that true and/or read digit when given), worst first: by the
        probability given to the true digit, lowest first."""
        wrong = ~self.correct
        if true is not None:
            wrong &= self.labels == true
        if predicted is not None:
            wrong &= self.predicted == predicted
        idx = np.flatnonzero(wrong)
        p_true = self.probs[idx, self.labels[idx]]
        order = idx[np.argsort(p_true, kind="stable")]
        return [self.item(int(i)) for i in order]

    def cell(self, true: int, predicted: int) -> list[Misread]:
        """The images of one cell of the confusion matrix (read right on the diagonal), the
        least sure of the true digit first."""
        idx = np.flatnonzero((self.labels == true) & (self.predicted == predicted))
        order = idx[np.argsort(self.probs[idx, true], kind="stable")]
        return [self.item(int(i)) for i in order]

    def item(self, i: int) -> Misread:
        """Image ``i`` (read right or not) as a :class:`Misread` record."""
        return Misread(i, self.paths[i], int(self.labels[i]), int(self.predicted[i]), self.probs[i],
                       self.noisy[i], self.reconstructions[i])

    def worst(self, n: int = 10) -> list[Misread]:
        return self.misread()[:n]


def evaluate_folder(pipeline, folder: DigitFolder, noise: Optional[NoiseSpec] = None, seed: int = 0,
                    denoiser: str = "-", classifier: str = "-",
                    on_progress: Optional[Callable[[int, int], None]] = None) -> FolderEvaluation:
    """Denoise and classify every digit of ``folder`` (a labelled one) with ``pipeline``; image
    ``i`` gets ``noise`` with seed ``seed + i`` (none: the denoiser sees the clean digit)."""
    if folder.labels is None:
        raise DenoiserError(f"{folder.root} was read without labels; an evaluation needs a labelled folder (0/ ... 9/).")
    if getattr(pipeline, "classifier", None) is None:
        raise DenoiserError("An evaluation needs a classifier; train one with 'desktop-denoiser train --arch classifier'.")
    if noise is not None and noise.kind == "none":
        noise = None
    clean = folder.clean()
    n = len(clean)
    noisy, recon, probs = [], [], []
    for start in range(0, n, filebatch.CHUNK):
        prepared = [frame.prepare(ready28=clean[i], noise=noise, seed=seed + i) for i in range(start, min(n, start + filebatch.CHUNK))]
        frames = frame.finish_batch(pipeline, prepared, classify=True)
        noisy.extend(f.noisy for f in frames)
        recon.extend(f.reconstruction for f in frames)
        probs.extend(f.probs_reconstruction for f in frames)
        if on_progress is not None:
            on_progress(min(n, start + filebatch.CHUNK), n)
    noisy_a = np.stack(noisy).astype(np.float32)
    probs_a = np.stack(probs).astype(np.float32)
    return FolderEvaluation(
        root=folder.root, paths=list(folder.paths), labels=np.asarray(folder.labels, np.int64),
        predicted=np.argmax(probs_a, axis=1).astype(np.int64), probs=probs_a,
        probs_noisy=np.asarray(pipeline.classify(noisy_a), np.float32), noisy=noisy_a,
        reconstructions=np.stack(recon).astype(np.float32), problems=list(folder.problems),
        denoiser=denoiser, classifier=classifier, noise=None if noise is None else str(noise), seed=seed)
