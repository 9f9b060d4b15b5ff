"""Table ``generalisation``: the bundled default pipeline on held-out handwriting that is not MNIST.

The sets are built by :mod:`heldout` into a folder outside the repository
(``$DESKTOP_DENOISER_HELDOUT``, else ``~/.cache/desktop-denoiser/heldout``; kept between runs).
Each is read as ``denoise --classify`` reads files — :func:`digit_folder.read_folder` decodes and
preprocesses every PNG through :func:`frame.prepare` — and measured by
:func:`folder_evaluation.evaluate_folder`: the default denoiser (``unet-mixed``) on the clean
digit, the classifier on its reconstruction (the app always classifies the reconstruction). One
more row draws digits through the real canvas with Qt mouse events and reads each with the
window's own :func:`frame.compute`. A column per classifier: the bundled ``classifier``, and any
other listed in ``$DESKTOP_DENOISER_BENCH_CLASSIFIERS`` (names or .keras paths, comma-separated),
to compare a classifier before and after.
"""

from __future__ import annotations

import os

import numpy as np

from . import heldout
from .common import Table, log, mnist, pct, size

DENOISER = "unet-mixed"
CANVAS_ROW = "canvas (live)"
CANVAS_PER_DIGIT = (20, 50)  # digits per class drawn live through the canvas (quick, full)


def classifiers() -> list[str]:
    extra = [c.strip() for c in os.environ.get("DESKTOP_DENOISER_BENCH_CLASSIFIERS", "").split(",") if c.strip()]
    return ["classifier"] + [c for c in extra if c != "classifier"]


def folder_accuracy(pipeline, folder_path) -> tuple[float, int]:
    """The pipeline's accuracy on a labelled folder, read and measured as ``denoise --classify`` does,
    over every PNG in it: an image in which no digit is found (``denoise --classify`` prints ``-``) counts
    as misread. Returns (accuracy, images)."""
    from pathlib import Path

    from desktop_denoiser.core.digit_folder import read_folder
    from desktop_denoiser.core.folder_evaluation import evaluate_folder

    files = len(list(Path(folder_path).rglob("*.png")))
    folder = read_folder(folder_path)
    return float(np.sum(evaluate_folder(pipeline, folder).correct)) / max(files, 1), files


def mnist_accuracy(pipeline, n: int) -> float:
    """The same pipeline on the first ``n`` MNIST test digits (denoised clean, then classified)."""
    from desktop_denoiser.core import frame

    m = mnist()
    x = m.x_test[:n].astype(np.float32) / 255.0
    frames = frame.finish_batch(pipeline, [frame.prepare(ready28=d) for d in x], classify=True)
    return float(np.mean([int(np.argmax(f.probs_reconstruction)) == int(y) for f, y in zip(frames, m.y_test[:n])]))


def generalisation(ctx) -> list[Table]:
    from desktop_denoiser.core import workflows

    from . import heldout_canvas

    scale = size("heldout_percent", ctx.full) / 100.0
    root = heldout.default_root()
    manifest = heldout.build(root, scale=scale, log=log)
    names = classifiers()
    pipes = {}
    for name in names:
        try:
            pipes[name] = workflows.load_pipeline(ctx.models.store, DENOISER, name)[0]
        except Exception as exc:  # noqa: BLE001 - a missing model is a note, not a failed table
            log(f"generalisation: {name}: {exc}")
    t = Table("generalisation", f"held-out handwriting, not MNIST — denoiser {DENOISER}, the classifier reads its reconstruction",
              ["set", "kind", "images"] + [f"acc {n}" for n in names], align="llr" + "r" * len(names))
    for s in heldout.SETS:
        n_images = manifest["sets"][s.name]["images"]
        cells = []
        for name in names:
            if name not in pipes:
                cells.append("–")
                continue
            log(f"generalisation: {s.name} with {name}")
            acc, _ = folder_accuracy(pipes[name], root / s.name)
            cells.append(pct(acc))
        t.add(s.name, s.kind, n_images, *cells)
    per_digit = CANVAS_PER_DIGIT[1 if ctx.full else 0]
    cells = []
    for name in names:
        if name not in pipes:
            cells.append("–")
            continue
        labels, read = heldout_canvas.read_on_canvas(pipes[name], per_digit, np.random.default_rng([heldout.SEED, 7]))
        cells.append(pct(float(np.mean(labels == read))))
    t.add(CANVAS_ROW, "a: drawn live through the canvas, read by frame.compute", 10 * per_digit, *cells)
    n_mnist = size("test_images", ctx.full)
    t.add("MNIST test", "for reference: the same pipeline", n_mnist,
          *[pct(mnist_accuracy(pipes[n], n_mnist)) if n in pipes else "–" for n in names])
    t.note(f"sets built by `python -m desktop_denoiser.benchmarks.heldout` (seed {heldout.SEED}, scale {scale:g}) in {root}")
    t.note("sources: synthetic pen trajectories in several writing styles, 10 handwriting fonts, scikit-learn's 8×8 digits; "
           "never MNIST, never trained on")
    for name in names[1:]:
        if name in pipes:
            t.note(f"acc {name}: {name}")
    return [t]
