"""A folder of one's own digit images, read into MNIST-convention arrays.

A *labelled* folder is one subfolder per digit, ``0/`` … ``9/`` (the layout
``keras.utils.image_dataset_from_directory`` reads), each holding image files in any format the
app opens, at any depth below it. An *unlabelled* folder is just images, read recursively (a
denoiser needs no labels to train).

Every image goes through the one path of an opened file: :func:`imageio.load_image`, then
:func:`frame.prepare` (:func:`preprocess.analyse`), by :func:`file_work.prepare_chunk`, in the
worker processes of :mod:`filebatch` for big folders. Nothing odd stops the reading: an
unreadable file, a blank image (no ink), a folder that is not a digit (``x/``, ``cats/``), a digit
with no images, a stray file beside the digit folders each become one line in
:attr:`DigitFolder.problems` and the readable images are kept. Only a folder with nothing usable
raises :class:`DenoiserError`.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import dataclasses
import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import filebatch, imageio
from .errors import DenoiserError
from .file_plan import IMAGE_SUFFIXES, expand_inputs

DIGITS = tuple(str(d) for d in range(10))

LAYOUT = ("a labelled folder holds one subfolder per digit, named 0 to 9, with that digit's images in it "
          "(DIR/0/a.png, DIR/1/b.jpg, ...), the layout keras.utils.image_dataset_from_directory reads")


@dataclasses.dataclass
class DigitFolder:
    """The readable digits of a folder, in the MNIST convention, with what was left out and why."""

    root: Path
    images: np.ndarray  # (N, 28, 28) uint8, light ink on black, as the models see a clean input
    labels: Optional[np.ndarray]  # (N,) int64 digit of each image; None for an unlabelled folder
    paths: list[Path]  # the file of each image
    problems: list[str]  # one sentence per skipped file or odd folder
    counts: dict[int, int]  # images read per digit (all ten digits; empty for an unlabelled folder)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def clean(self) -> np.ndarray:
        """The images as (N, 28, 28) float32 in [0, 1], what the models take."""
        return self.images.astype(np.float32) / np.float32(255.0)


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _subfolders_and_files(root: Path) -> tuple[list[Path], list[Path]]:
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        raise DenoiserError(f"Cannot read the folder {root}: {exc.strerror or exc}.") from None
    folders, files = [], []
    for e in entries:
        if _is_hidden(e.name):
            continue
        try:
            is_dir = e.is_dir()
        except OSError:
            is_dir = False
        (folders if is_dir else files).append(root / e.name)
    return folders, files


def _list_labelled(root: Path, problems: list[str]) -> list[tuple[Path, int]]:
    """The image files of each digit folder, with their digit; the odd entries as problem lines."""
    folders, files = _subfolders_and_files(root)
    digit_folders = {f.name: f for f in folders if f.name in DIGITS}
    if not digit_folders:
        others = ", ".join(f"{f.name}/" for f in folders[:5]) or "none"
        raise DenoiserError(f"{root} has no digit subfolders 0/ to 9/ (its subfolders: {others}): {LAYOUT}.")
    for f in folders:
        if f.name not in DIGITS:
            problems.append(f"{f}: ignored, {f.name!r} is not a digit (digit folders are named 0 to 9).")
    for f in files:
        if f.suffix.lower() in IMAGE_SUFFIXES:
            problems.append(f"{f}: ignored, it is not in a digit folder (put it in {root / '0'} ... {root / '9'}).")
    found: list[tuple[Path, int]] = []
    for d in range(10):
        folder = digit_folders.get(str(d))
        if folder is None:
            problems.append(f"digit {d}: no folder {root / str(d)}, so no images of {d}.")
            continue
        files_, listing_problems, _ = expand_inputs([str(folder)], recursive=True)
        problems.extend(message for _, message in listing_problems)
        found.extend((p, d) for p, _ in files_ if not _hidden_below(p, root))
    return found


def _hidden_below(path: Path, root: Path) -> bool:
    """In a hidden folder below ``root`` (``.ipynb_checkpoints/``, ``__MACOSX/``)?"""
    return any(_is_hidden(part) for part in path.relative_to(root).parts[:-1])


def _list_unlabelled(root: Path, problems: list[str]) -> list[tuple[Path, int]]:
    files_, listing_problems, _ = expand_inputs([str(root)], recursive=True)
    problems.extend(message for _, message in listing_problems)
    return [(p, -1) for p, _ in files_ if not _hidden_below(p, root)]


def read_folder(path, labelled: bool = True, workers: Optional[int] = None,
                on_progress: Optional[Callable[[int, int], None]] = None) -> DigitFolder:
    """Read every image of the folder ``path`` (see the module's docstring for the layout).

    ``workers``: decoding processes (None: one per core for big folders, as ``denoise`` does;
    0: all in this process). ``on_progress(done, total)`` is called after each chunk of files.
    Raises DenoiserError when ``path`` is not a folder, when a labelled folder has no digit
    subfolders, or when no image in it could be used."""
    root = Path(path)
    if not root.exists():
        raise DenoiserError(f"No such folder: {root}")
    if not root.is_dir():
        raise DenoiserError(f"{root} is a file, not a folder of digit images" + (f" ({LAYOUT})." if labelled else "."))
    problems: list[str] = []
    found = _list_labelled(root, problems) if labelled else _list_unlabelled(root, problems)
    total = len(found)
    chunks = [found[i : i + filebatch.CHUNK] for i in range(0, total, filebatch.CHUNK)]
    n_workers = filebatch.worker_count(total) if workers is None else workers
    pool = filebatch.process_pool(n_workers) if n_workers and total else filebatch._Inline()
    ahead = 4 * n_workers if n_workers else 1  # chunks in flight (in this process: one at a time, for the progress)
    images: list[np.ndarray] = []
    labels: list[int] = []
    paths: list[Path] = []
    pending: collections.deque = collections.deque()
    done = fed = 0
    try:
        while fed < len(chunks) or pending:
            while fed < len(chunks) and len(pending) < ahead:
                pending.append((chunks[fed], pool.submit(filebatch.prepare_chunk, [str(p) for p, _ in chunks[fed]], None, 0)))
                fed += 1
            chunk, future = pending.popleft()
            prepared, errors = future.result()
            for (p, digit), prep, error in zip(chunk, prepared, errors):
                if prep is None:
                    problems.append(f"{p}: skipped, {_reason(error or 'it could not be read.')}")
                elif prep.empty:
                    problems.append(f"{p}: skipped, there is no digit in it (a blank image).")
                else:
                    images.append(imageio.to_uint8(prep.clean))
                    labels.append(digit)
                    paths.append(p)
            done += len(chunk)
            if on_progress is not None:
                on_progress(done, total)
    except cf.BrokenExecutor:
        raise DenoiserError("A worker process reading the images stopped unexpectedly (out of memory?).") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    counts: dict[int, int] = {}
    if labelled:
        counts = {d: labels.count(d) for d in range(10)}
        listed = {d: sum(1 for _, digit in found if digit == d) for d in range(10)}
        for d in range(10):
            if counts[d] == 0 and (root / str(d)).is_dir():
                why = "it holds no image files" if listed[d] == 0 else "none of its images could be used"
                problems.append(f"digit {d}: {root / str(d)} is empty, {why}.")
    if not paths:
        kind = "digit images" if total == 0 else "usable digit images"
        raise DenoiserError(f"{root} has no {kind} ({total} image files found"
                            + (f"; {LAYOUT})." if labelled else ")."))
    return DigitFolder(root=root, images=np.stack(images), labels=np.asarray(labels, np.int64) if labelled else None,
                       paths=paths, problems=problems, counts=counts)


def _reason(message: str) -> str:
    """``Cannot open a.png: ...`` as a clause after the path: the reason only."""
    if message.startswith("Cannot open ") and ": " in message:
        message = message.split(": ", 1)[1]
    return message

