"""Whole jobs that the CLI and the GUI both run: load a pipeline, train-evaluate-save, measure.

Denoising files is in :mod:`filebatch`."""

from __future__ import annotations

import dataclasses
import platform
from typing import Callable, Optional

from .. import __version__
from . import data as data_mod
from . import evaluation, models, runs, training_data
from .errors import DenoiserError, ModelFileError, SaveError
from .figures import ModelFigures
from .inference import Pipeline
from .noise import NoiseSpec
from .run_recorder import RunRecorder
from .store import LoadedModel, ModelEntry, ModelStore, now_iso
from .training import Trainer, TrainResult

@dataclasses.dataclass
class LoadedModels:
    """The denoiser and classifier a store gave (either may be None), and what went wrong."""

    denoiser: Optional[LoadedModel]
    classifier: Optional[LoadedModel]
    problems: list[str]

    def pipeline(self) -> Pipeline:
        return Pipeline(self.denoiser.model if self.denoiser else None, self.classifier.model if self.classifier else None)


def load_usable(store: ModelStore, name: Optional[str], kind: str, problems: list[str]) -> Optional[LoadedModel]:
    """The model ``name`` (or the store's default ``kind``), loaded. A name that is not found or
    a file that fails to load is reported in ``problems`` and the next usable model of the kind
    is tried (the store marks a failed file unusable, so its default moves on). None when no
    model of the kind works."""
    tried = set()
    entry = None
    if name:
        try:
            entry = store.find(name)
        except DenoiserError as exc:
            problems.append(f"{exc} Using the default {kind} instead.")
    entry = entry or store.default(kind)
    while entry is not None and entry.path not in tried:
        tried.add(entry.path)
        try:
            return store.load(str(entry.path), kind)
        except DenoiserError as exc:
            failed, entry = entry, store.default(kind)
            instead = f" Using {entry.name} instead." if entry is not None and entry.path not in tried else ""
            problems.append(f"The {kind} {failed.name} ({failed.source}) could not be loaded: {exc}{instead}")
    return None


def load_models(store: ModelStore, denoiser: Optional[str] = None, classifier: Optional[str] = None,
                fallback: bool = False) -> LoadedModels:
    """Load a denoiser and a classifier by name or path (default: the store's defaults).

    ``fallback`` (the window): a model that cannot be loaded is replaced by the next usable one
    and said in ``problems``. Without it (the commands), a named model that cannot be loaded
    raises, and a missing default is None."""
    if fallback:
        problems: list[str] = []
        return LoadedModels(load_usable(store, denoiser, "denoiser", problems),
                            load_usable(store, classifier, "classifier", problems), problems)
    loaded = []
    for name, kind in ((denoiser, "denoiser"), (classifier, "classifier")):
        entry = store.find(name) if name else store.default(kind)
        loaded.append(store.load(str(entry.path), kind) if entry is not None else None)
    return LoadedModels(*loaded, [])


def load_pipeline(store: ModelStore, denoiser: Optional[str] = None, classifier: Optional[str] = None,
                  need_classifier: bool = True) -> tuple[Pipeline, Optional[ModelEntry], Optional[ModelEntry]]:
    """:func:`load_models` for a command, into a Pipeline; a missing denoiser (or a missing
    classifier when ``need_classifier``) is an error that says how to train one."""
    models_ = load_models(store, denoiser, classifier)
    if models_.denoiser is None:
        raise ModelFileError(f"No denoiser found in {store.bundled_dir} or {store.user_dir}; train one with 'desktop-denoiser train'.")
    if models_.classifier is None and need_classifier:
        raise ModelFileError("No classifier found; train one with 'desktop-denoiser train --arch classifier'.")
    c_entry = models_.classifier.entry if models_.classifier else None
    return models_.pipeline(), models_.denoiser.entry, c_entry


def metadata(result: TrainResult, figures: Optional[ModelFigures] = None) -> dict:
    import keras
    import tensorflow as tf

    cfg = result.config
    arch = models.get(cfg.arch)
    best = next((e for e in result.history if e.epoch == result.best_epoch), None)
    return {
        "kind": arch.kind,
        "architecture": arch.name,
        "architecture_summary": models.summary(cfg.arch, cfg.bottleneck),
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
        "metrics": figures.to_metrics() if figures else {},
        "training_seconds": round(result.seconds, 1),
        "images_per_s": round(result.images_per_s, 1),
        "device": result.device,
        "config": cfg.to_dict(),
        "data": result.data,
        "created": now_iso(),
        "app_version": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def measure(pipeline: Pipeline, kind: str, noise: NoiseSpec, limit: Optional[int] = None,
            mnist_path: Optional[str] = None) -> ModelFigures:
    """Figures on the MNIST test set with a pipeline that holds the model: PSNR/SSIM and
    downstream accuracy (when the pipeline has a classifier) for a denoiser, accuracy for a
    classifier."""
    mnist = data_mod.load_mnist(mnist_path)
    x = data_mod.to_float(mnist.x_test[:limit])
    y = mnist.y_test[:limit]
    if kind == "classifier":
        return evaluation.evaluate_classifier(pipeline, x, y)
    return evaluation.evaluate_denoiser(pipeline, x, y, noise)


def test_metrics(result: TrainResult, store: ModelStore, limit: Optional[int] = None) -> ModelFigures:
    """:func:`measure` for a finished training, with the store's default classifier for a denoiser."""
    if result.kind == "classifier":
        return measure(Pipeline(None, result.model, warmup=False), "classifier", result.config.noise, limit,
                       result.config.mnist)
    clf_entry = store.default("classifier")
    clf = store.load(str(clf_entry.path), "classifier").model if clf_entry else None
    figures = measure(Pipeline(result.model, clf, warmup=False), "denoiser", result.config.noise, limit, result.config.mnist)
    return figures.with_classifier(clf_entry.name) if clf_entry else figures


def held_out_figures(result: TrainResult, store: ModelStore) -> Optional[ModelFigures]:
    """The figures of a model trained on a folder, on the folder's held-out part (never trained on):
    a classifier's accuracy; a denoiser's PSNR/SSIM on its noise and, for a labelled folder, the
    default classifier's accuracy on its output. None without a folder."""
    if result.held_out is None or result.model is None:
        return None
    x, y = result.held_out
    if result.kind == "classifier":
        return evaluation.evaluate_classifier(Pipeline(None, result.model, warmup=False), x, y)
    clf_entry = store.default("classifier") if y is not None else None
    clf = store.load(str(clf_entry.path), "classifier").model if clf_entry else None
    figures = evaluation.evaluate_denoiser(Pipeline(result.model, clf, warmup=False), x, y, result.config.noise)
    return figures.with_classifier(clf_entry.name) if clf_entry else figures


def _record_held_out(result: TrainResult, store: ModelStore, entry: ModelEntry,
                     on_status: Callable[[str], None]) -> ModelEntry:
    """Measure a model trained on a folder on its held-out part and write the figures into its
    metadata (``data.held_out``); a failure is said and the saved model kept as it is."""
    try:
        figures = held_out_figures(result, store)
        if figures is None:
            return entry
        data = {**(entry.meta.get("data") or {}), "held_out": figures.to_metrics()}
        entry = store.update_metadata(entry, {"data": data})
        line = training_data.held_out_line(data, result.kind)
        if line:
            on_status(line)
        return entry
    except DenoiserError as exc:
        on_status(f"Saved, but could not measure the model on the folder's held-out images: {exc}")
        return entry


def measure_entry(store: ModelStore, entry: ModelEntry, pipeline: Pipeline, classifier: Optional[ModelEntry],
                  limit: Optional[int] = None, noise: Optional[NoiseSpec] = None,
                  mnist_path: Optional[str] = None) -> tuple[ModelFigures, ModelEntry]:
    """Measure a stored model with a pipeline that already holds it (the window's after a
    training, ``evaluate --model``) on its own noise (or ``noise``) and record the figures in its
    metadata; returns the figures and the updated entry."""
    noise = noise or NoiseSpec.from_dict(entry.meta.get("noise") or {"kind": "none"})
    mnist_path = mnist_path or (entry.meta.get("config") or {}).get("mnist")
    figures = measure(pipeline, entry.kind, noise, limit, mnist_path)
    if entry.kind != "classifier" and classifier is not None and pipeline.classifier is not None:
        figures = figures.with_classifier(classifier.name)
    updated = store.update_metadata(entry, {"metrics": figures.to_metrics()})
    runs.record_figures(updated.meta.get("run_id"), figures)  # the model's run has them too
    return figures, updated


def train_and_save(trainer: Trainer, store: ModelStore, name: Optional[str] = None,
                   on_status: Callable[[str], None] = lambda s: None, eval_limit: Optional[int] = None,
                   save_partial: bool = True, measure_it: bool = True,
                   origin: str = "") -> tuple[TrainResult, Optional[ModelEntry]]:
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

    Every run is recorded (:mod:`runs`, under the reservation's ``run_id``, which the model's
    metadata carries), as it goes, with ``origin`` saying who started it.
    """
    cfg = trainer.config
    if trainer.store is None:
        trainer.store = store  # where the model to start from (config.init) is looked up
    default_name = cfg.arch if models.get(cfg.arch).kind == "classifier" else f"{cfg.arch}-{cfg.noise.kind}"
    if cfg.bottleneck is not None and cfg.bottleneck != models.get(cfg.arch).bottleneck:
        default_name = f"{cfg.arch}-{cfg.bottleneck}d-{cfg.noise.kind}"  # never the name of the article's size
    with store.reserve(name or default_name) as reservation, RunRecorder(
            trainer, reservation.run_id, reservation.name, reservation.folder / f"{reservation.name}.keras", origin,
            on_status=on_status) as record:
        if reservation.name != reservation.requested:
            on_status(f"A model named {reservation.requested} exists or is being trained; "
                      f"this one will be saved as {reservation.name}.")
        result = trainer.run()
        record.trained(result)
        if result.steps == 0 or (result.cancelled and not save_partial):
            return result, None
        on_status("Saving…")
        # save first: a failure while measuring must never lose the trained model
        entry = store.save(result.model, metadata(result), reservation=reservation)
        record.saved(entry)
        entry = _record_held_out(result, store, entry, on_status)
        record.saw(entry.meta.get("data"))
        if not measure_it:
            return result, entry
        on_status("Measuring on the MNIST test set…")
        try:
            figures = test_metrics(result, store, eval_limit)
        except DenoiserError as exc:
            on_status(f"Saved, but could not measure the model: {exc}")
            return result, entry
        try:
            entry = store.update_metadata(entry, {"metrics": figures.to_metrics()})
            record.measured(figures)
        except SaveError as exc:
            on_status(f"{FIGURES_NOT_WRITTEN.format(name=entry.name, path=entry.path)} ({exc}); measure it again with: "
                      f"desktop-denoiser evaluate --model {entry.name} --save")
    return result, entry


FIGURES_NOT_WRITTEN = "Saved {name} to {path}, but its test figures were not written"


# Denoising files (plan, batched run, writes) lives in filebatch.py, which worker processes import
# without the store and the training code.
