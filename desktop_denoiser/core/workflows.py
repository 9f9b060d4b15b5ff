"""Whole jobs that the CLI and the GUI both run: train-evaluate-save, and denoise files."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import Callable, Iterable, Optional

import numpy as np

from .. import __version__
from . import data as data_mod
from . import evaluation, imageio, models, preprocess
from .errors import DenoiserError, ImageError, ModelFileError
from .inference import Pipeline, Prediction
from .noise import NoiseSpec
from .store import ModelEntry, ModelStore, now_iso
from .training import Trainer, TrainResult

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_pipeline(store: ModelStore, denoiser: Optional[str] = None, classifier: Optional[str] = None,
                  need_classifier: bool = True) -> tuple[Pipeline, Optional[ModelEntry], Optional[ModelEntry]]:
    """Load a denoiser and a classifier by name (default: the store's defaults) into a Pipeline."""
    d_entry = store.find(denoiser) if denoiser else store.default("denoiser")
    if d_entry is None:
        raise ModelFileError(f"No denoiser found in {store.bundled_dir} or {store.user_dir}; train one with 'desktop-denoiser train'.")
    d = store.load(str(d_entry.path), "denoiser")
    c = None
    c_entry = store.find(classifier) if classifier else store.default("classifier")
    if c_entry is not None:
        c = store.load(str(c_entry.path), "classifier")
    elif need_classifier:
        raise ModelFileError("No classifier found; train one with 'desktop-denoiser train --arch classifier'.")
    pipe = Pipeline(d.model, c.model if c else None)
    return pipe, d.entry, (c.entry if c else None)


def metadata(result: TrainResult, test_metrics: dict) -> dict:
    import keras
    import tensorflow as tf

    cfg = result.config
    arch = models.get(cfg.arch)
    best = next((e for e in result.history if e.epoch == result.best_epoch), None)
    return {
        "kind": arch.kind,
        "architecture": arch.name,
        "architecture_summary": arch.summary,
        "parameters": int(result.model.count_params()),
        "noise": cfg.noise.to_dict(),
        "noise_label": str(cfg.noise),
        "epochs_requested": cfg.epochs,
        "epochs_trained": len(result.history),
        "best_epoch": result.best_epoch,
        "stop_reason": result.stop_reason,
        "train_loss": best.loss if best else None,
        "val_loss": best.val_loss if best else None,
        "history": [dataclasses.asdict(e) for e in result.history],
        "metrics": test_metrics,
        "training_seconds": round(result.seconds, 1),
        "images_per_s": round(result.images_per_s, 1),
        "device": result.device,
        "config": cfg.to_dict(),
        "created": now_iso(),
        "app_version": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def measure(pipeline: Pipeline, kind: str, noise: NoiseSpec, limit: Optional[int] = None,
            mnist_path: Optional[str] = None) -> dict:
    """Figures on the MNIST test set with a pipeline that holds the model: PSNR/SSIM and
    downstream accuracy (when the pipeline has a classifier) for a denoiser, accuracy for a
    classifier."""
    mnist = data_mod.load_mnist(mnist_path)
    x = data_mod.to_float(mnist.x_test[:limit])
    y = mnist.y_test[:limit]
    if kind == "classifier":
        res = evaluation.evaluate_classifier(pipeline, x, y)
        return {"test_accuracy": res["accuracy"], "test_images": res["images"]}
    res = evaluation.evaluate_denoiser(pipeline, x, y, noise)
    out = {f"test_{k}": v for k, v in res.items() if k not in ("noise",)}
    out["test_noise"] = res["noise"]
    return out


def test_metrics(result: TrainResult, store: ModelStore, limit: Optional[int] = None) -> dict:
    """:func:`measure` for a finished training, with the store's default classifier for a denoiser."""
    if result.kind == "classifier":
        return measure(Pipeline(None, result.model, warmup=False), "classifier", result.config.noise, limit,
                       result.config.mnist)
    clf_entry = store.default("classifier")
    clf = store.load(str(clf_entry.path), "classifier").model if clf_entry else None
    out = measure(Pipeline(result.model, clf, warmup=False), "denoiser", result.config.noise, limit, result.config.mnist)
    if clf_entry:
        out["classifier"] = clf_entry.name
    return out


def measure_entry(store: ModelStore, entry: ModelEntry, pipeline: Pipeline, classifier: Optional[ModelEntry],
                  limit: Optional[int] = None) -> ModelEntry:
    """Measure a stored model with a pipeline that already holds it (the GUI's, after a
    training) and record the figures in its metadata; returns the updated entry."""
    noise = NoiseSpec.from_dict(entry.meta.get("noise") or {"kind": "none"})
    mnist_path = (entry.meta.get("config") or {}).get("mnist")
    figures = measure(pipeline, entry.kind, noise, limit, mnist_path)
    if entry.kind != "classifier" and classifier is not None and pipeline.classifier is not None:
        figures["classifier"] = classifier.name
    return store.update_metadata(entry, {"metrics": figures})


def train_and_save(trainer: Trainer, store: ModelStore, name: Optional[str] = None,
                   on_status: Callable[[str], None] = lambda s: None, eval_limit: Optional[int] = None,
                   save_partial: bool = True, measure_it: bool = True) -> tuple[TrainResult, Optional[ModelEntry]]:
    """Run the trainer, store the model with its metadata and (``measure_it``) measure it on
    the test set. The GUI measures in its inference thread instead, where the classifier is
    already loaded and traced.

    A cancelled run is still saved (with its best epoch, or its partial weights when no
    epoch finished) when ``save_partial`` is true.
    """
    result = trainer.run()
    if result.steps == 0 or (result.cancelled and not save_partial):
        return result, None
    cfg = result.config
    default_name = cfg.arch if models.get(cfg.arch).kind == "classifier" else f"{cfg.arch}-{cfg.noise.kind}"
    on_status("Saving…")
    # save first: a failure while measuring must never lose the trained model
    entry = store.save(result.model, metadata(result, {}), name or default_name)
    if not measure_it:
        return result, entry
    on_status("Measuring on the MNIST test set…")
    try:
        figures = test_metrics(result, store, eval_limit)
    except DenoiserError as exc:
        on_status(f"Saved, but could not measure the model: {exc}")
        return result, entry
    entry = store.update_metadata(entry, {"metrics": figures})
    return result, entry


# ------------------------------------------------------------------------------------------
# denoising files


@dataclasses.dataclass
class FileResult:
    source: Path
    target: Optional[Path]
    prediction: Optional[Prediction]
    error: Optional[str] = None


def expand_inputs(inputs: Iterable[str]) -> list[Path]:
    """Files as given, folders as their image files (sorted); a missing path is an ImageError."""
    found: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found.extend(sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES))
        elif p.is_file():
            found.append(p)
        else:
            raise ImageError(f"No such file or folder: {p}")
    return found


def output_paths(sources: list[Path], out: Path, many: bool) -> list[Path]:
    """One output PNG per input: ``out`` itself for a single input named .png, else
    ``out/STEM.png`` (``out/STEM-EXT.png`` when two inputs share a stem). Refuses to write
    over an input image."""
    if not many and out.suffix.lower() == ".png":
        targets = [out]
    else:
        stems: dict[str, int] = {}
        for s in sources:
            stems[s.stem] = stems.get(s.stem, 0) + 1
        targets = [out / (f"{s.stem}-{s.suffix.lstrip('.').lower()}.png" if stems[s.stem] > 1 else f"{s.stem}.png")
                   for s in sources]
    inputs = {s.resolve() for s in sources}
    for t in targets:
        if t.resolve() in inputs:
            raise ImageError(f"Refusing to overwrite the input {t}; choose another output.")
    return targets


def denoise_file(pipeline: Pipeline, source: Path, target: Optional[Path], noise: Optional[NoiseSpec],
                 seed: int = 0, size: int = 28) -> FileResult:
    """Read, normalise, optionally corrupt, denoise and classify one file; write the PNG."""
    try:
        image = preprocess.to_mnist(imageio.load_image(source))
    except ImageError as exc:
        return FileResult(source, None, None, str(exc))
    if noise is not None:
        image = noise.apply(image, seed)
    prediction = pipeline.run(image)
    if target is not None:
        out = prediction.reconstruction
        if size != 28:
            out = np.asarray(preprocess.from_mnist(out, size)) / 255.0
        imageio.save_png(target, out)
    return FileResult(source, target, prediction)
