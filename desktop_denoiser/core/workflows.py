"""Whole jobs that the CLI and the GUI both run: load a pipeline, train-evaluate-save, measure.

Denoising files is in :mod:`filebatch`."""

from __future__ import annotations

import dataclasses
import platform
from typing import Callable, Optional

from .. import __version__
from . import data as data_mod
from . import evaluation, models
from .errors import DenoiserError, ModelFileError, SaveError
from .inference import Pipeline
from .noise import NoiseSpec
from .store import ModelEntry, ModelStore, now_iso
from .training import Trainer, TrainResult

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

    The name (and the folder) are checked and reserved before the training starts: a bad one
    is refused before any work, a taken one becomes ``NAME-2`` (said at once through
    ``on_status``), and no other run can save under it until this model and its figures are
    written. A failure to write the figures after the model was saved is reported through
    ``on_status`` and returns the saved entry (without figures).
    """
    cfg = trainer.config
    default_name = cfg.arch if models.get(cfg.arch).kind == "classifier" else f"{cfg.arch}-{cfg.noise.kind}"
    with store.reserve(name or default_name) as reservation:
        if reservation.name != reservation.requested:
            on_status(f"A model named {reservation.requested} exists or is being trained; "
                      f"this one will be saved as {reservation.name}.")
        result = trainer.run()
        if result.steps == 0 or (result.cancelled and not save_partial):
            return result, None
        on_status("Saving…")
        # save first: a failure while measuring must never lose the trained model
        entry = store.save(result.model, metadata(result, {}), reservation=reservation)
        if not measure_it:
            return result, entry
        on_status("Measuring on the MNIST test set…")
        try:
            figures = test_metrics(result, store, eval_limit)
        except DenoiserError as exc:
            on_status(f"Saved, but could not measure the model: {exc}")
            return result, entry
        try:
            entry = store.update_metadata(entry, {"metrics": figures})
        except SaveError as exc:
            on_status(f"{FIGURES_NOT_WRITTEN.format(name=entry.name, path=entry.path)} ({exc}); measure it again with: "
                      f"desktop-denoiser evaluate --model {entry.name} --save")
    return result, entry


FIGURES_NOT_WRITTEN = "Saved {name} to {path}, but its test figures were not written"


# Denoising files (plan, batched run, writes) lives in filebatch.py, which worker processes import
# without the store and the training code.
