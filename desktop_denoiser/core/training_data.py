"""The data a training sees when it is given a folder of one's own digits (``train --data DIR``).

* :func:`read` reads the folder with the one reader (:func:`digit_folder.read_folder`: labelled
  ``0/ … 9/`` for the classifier, every image below it for a denoiser), splits it into a
  training and a held-out part (seeded, per digit for a labelled folder; the held-out part is
  never trained on) and describes it for the model's metadata (:meth:`FolderData.provenance`):
  the folder, its images per digit, a content fingerprint, the split.
* :func:`fingerprint` is a sha256 over the sorted relative paths, the labels and the 28 × 28
  arrays the models saw: the same digits give the same fingerprint, wherever the folder lives
  and whatever the files' dates; one changed, added or removed image changes it.
* :func:`mixed` mixes the folder's stream with MNIST's, a share ``mnist_ratio`` of MNIST per
  batch on average (``tf.data.Dataset.sample_from_datasets``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from .errors import DenoiserError

if TYPE_CHECKING:  # the reader (and its image libraries) is imported only to read: describe() stays light
    from .digit_folder import DigitFolder

DEFAULT_MNIST_RATIO = 0.5  # the MNIST share of each batch when a folder is given and no ratio is
FINE_TUNE_LR_FACTOR = 0.1  # starting from a trained model: a tenth of the architecture's learning rate
MIN_IMAGES = 2  # one to train on, one to hold out


@dataclasses.dataclass
class FolderData:
    """A folder split for a training: uint8 (N, 28, 28) images, labels or None."""

    folder: "DigitFolder"
    x_train: np.ndarray
    y_train: Optional[np.ndarray]
    x_val: np.ndarray
    y_val: Optional[np.ndarray]
    train_paths: list[Path]
    val_paths: list[Path]
    fingerprint: str

    def provenance(self) -> dict:
        """What the model's metadata and its run record say about the folder."""
        f = self.folder
        counts = {str(d): int(n) for d, n in sorted(f.counts.items())} if f.labelled else {}
        return {"folder": str(Path(f.root).resolve()), "labelled": f.labelled, "images": len(f),
                "counts": counts, "fingerprint": self.fingerprint, "train_images": len(self.x_train),
                "held_out_images": len(self.x_val), "problems": len(f.problems)}


def fingerprint(folder: "DigitFolder") -> str:
    """``sha256:…`` of the folder's readable digits: relative path, label and pixels of each, sorted by path."""
    root = Path(folder.root)
    h = hashlib.sha256()
    labels = folder.labels if folder.labels is not None else np.full(len(folder), -1, np.int64)
    for rel, i in sorted((_relative(p, root), i) for i, p in enumerate(folder.paths)):
        h.update(rel.encode("utf-8", "surrogateescape") + b"\0")
        h.update(int(labels[i]).to_bytes(2, "little", signed=True))
        h.update(np.ascontiguousarray(folder.images[i], np.uint8).tobytes())
    return "sha256:" + h.hexdigest()


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def split(folder: "DigitFolder", val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held out) of the folder's images: a seeded shuffle of the images sorted by
    path (the reader's order does not matter), ``val_fraction`` of each digit held out (at least one
    of a digit that has two or more), of all images for an unlabelled folder."""
    n = len(folder)
    if n < MIN_IMAGES:
        raise DenoiserError(f"{folder.root} has {n} usable image; training on a folder needs at least {MIN_IMAGES} "
                            "(one to train on, one to hold out).")
    root = Path(folder.root)
    order = np.array(sorted(range(n), key=lambda i: _relative(folder.paths[i], root)), np.int64)
    rng = np.random.default_rng(seed)
    groups = [order] if folder.labels is None else [order[folder.labels[order] == d] for d in range(10)]
    train, val = [], []
    for group in groups:
        if len(group) == 0:
            continue
        group = group[rng.permutation(len(group))]
        k = 0 if len(group) < 2 else min(len(group) - 1, max(1, int(round(len(group) * val_fraction))))
        val.append(group[:k])
        train.append(group[k:])
    train_idx, val_idx = np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
    if len(val_idx) == 0:  # a labelled folder with one image of each digit it has: hold out one of them
        val_idx, train_idx = train_idx[:1], train_idx[1:]
    return train_idx, val_idx


def read(path, kind: str, val_fraction: float, seed: int,
         on_problem: Callable[[str], None] = lambda s: None, workers: Optional[int] = None) -> FolderData:
    """Read and split the folder ``path`` for a ``kind`` ("classifier": labelled, else every image);
    each of the reader's problem lines goes to ``on_problem`` (the readable images are used)."""
    import multiprocessing

    from .digit_folder import read_folder

    if workers is None and multiprocessing.current_process().daemon:
        workers = 0  # a daemonic process (the window's training child) may not start the reader's worker processes
    folder = read_folder(path, labelled=kind == "classifier", workers=workers)
    return of_folder(folder, val_fraction, seed, on_problem)


def of_folder(folder: "DigitFolder", val_fraction: float, seed: int,
              on_problem: Callable[[str], None] = lambda s: None) -> FolderData:
    """:func:`read` for a folder already read (the command line reads it first, to refuse a bad one
    before any work)."""
    for line in folder.problems:
        on_problem(line)
    train, val = split(folder, val_fraction, seed)
    labels = folder.labels
    return FolderData(folder=folder, x_train=folder.images[train], y_train=None if labels is None else labels[train],
                      x_val=folder.images[val], y_val=None if labels is None else labels[val],
                      train_paths=[folder.paths[i] for i in train], val_paths=[folder.paths[i] for i in val],
                      fingerprint=fingerprint(folder))


def mixed(tf, mnist_ds, folder_ds, mnist_ratio: float, seed: int):
    """One stream of elements: ``folder_ds`` alone (ratio 0), ``mnist_ds`` alone (no folder), else
    each element drawn from MNIST with probability ``mnist_ratio`` (seeded, deterministic)."""
    if folder_ds is None:
        return mnist_ds
    if mnist_ds is None or mnist_ratio <= 0:
        return folder_ds
    return tf.data.Dataset.sample_from_datasets([mnist_ds, folder_ds], weights=[mnist_ratio, 1.0 - mnist_ratio],
                                                seed=seed)


def epoch_images(folder_train: int, mnist_ratio: float) -> int:
    """Images in one epoch of a training on a folder: one pass over the folder's training part,
    with the MNIST share on top (ratio 0.5: as many MNIST digits again)."""
    return max(1, int(round(folder_train / max(1e-9, 1.0 - mnist_ratio))))


def describe(data: Optional[dict], kind: str = "classifier") -> list[str]:
    """Plain sentences on what a model trained on, from its metadata's ``data`` (:meth:`Trainer._provenance`):
    the folder, the MNIST share, the model it started from, its figures on the held-out part.
    Empty for a model trained on MNIST alone from scratch (or one whose metadata does not say)."""
    data = data if isinstance(data, dict) else {}
    lines = []
    folder = data.get("folder") if isinstance(data.get("folder"), dict) else None
    if folder is not None:
        counts = folder.get("counts") if isinstance(folder.get("counts"), dict) else {}
        per_digit = f" ({', '.join(f'{d}: {n}' for d, n in counts.items())} per digit)" if counts else ""
        lines.append(f"Folder: {folder.get('folder', '?')}, {folder.get('images', '?')} readable images{per_digit}; "
                     f"{folder.get('train_images', '?')} trained on, {folder.get('held_out_images', '?')} held out "
                     f"(a seeded split, never trained on).")
        lines.append(f"Folder fingerprint: {folder.get('fingerprint', '?')} (sha256 of the sorted relative paths, "
                     "labels and 28 × 28 digits).")
        if folder.get("problems"):
            lines.append(f"{folder['problems']} files or folders of it were left out (unreadable, blank or misplaced).")
        ratio = data.get("mnist_ratio")
        if isinstance(ratio, (int, float)):
            lines.append("MNIST share of each batch: " + (f"{ratio:.0%}" if ratio > 0 else "0% (the folder alone)") + ".")
    init = data.get("init") if isinstance(data.get("init"), dict) else None
    if init is not None:
        created = f", trained {init['created']}" if init.get("created") else ""
        lines.append(f"Started from: {init.get('name', '?')} ({init.get('path', '?')}{created}); fine-tuned, not trained from scratch.")
    held = held_out_line(data, kind)
    return lines + ([held] if held else [])


def held_out_line(data: Optional[dict], kind: str) -> Optional[str]:
    """"On the folder's 60 held-out images: accuracy 97.50%." (None when not measured)."""
    from .figures import ModelFigures

    held = data.get("held_out") if isinstance(data, dict) else None
    figures = ModelFigures.from_metrics(kind, held)
    if not figures.measured:
        return None
    return f"On the folder's {figures.images or '?'} held-out images: {figures.headline().replace('test ', '')}."
