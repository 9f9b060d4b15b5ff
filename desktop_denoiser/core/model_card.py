"""A Markdown model card for every stored model (``desktop-denoiser models card NAME``).

Generated from the model's metadata and, when it was recorded here, its run (:mod:`runs`):
what it is, the data it saw, its noise and settings, its figures on every noise it was measured
on, how and where it was trained, and what it is not for.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from . import atomic, models, runs, training_data
from .errors import ConfigError
from .figures import CLASSIFIER, ModelFigures
from .noise import DESCRIPTIONS, NoiseSpec
from .durations import duration

MNIST_TRAIN = 60_000  # images in the MNIST training set
MNIST_TEST = 10_000


def _noise(meta: dict) -> Optional[NoiseSpec]:
    try:
        return NoiseSpec.from_dict(meta.get("noise") or (meta.get("config") or {}).get("noise") or {"kind": "none"})
    except Exception:  # noqa: BLE001 - a card of an odd model still says what it knows
        return None


def _data_lines(cfg: dict, data: Optional[dict] = None, kind: str = CLASSIFIER) -> list[str]:
    own = training_data.describe(data, kind)  # a folder of one's own digits, the model it started from
    if isinstance(data, dict) and isinstance(data.get("folder"), dict):
        mnist = (" alone (no MNIST)" if data.get("mnist_ratio") == 0 else
                 f", and the MNIST training set ({_mnist_seen(cfg)}) mixed into each batch")
        return [f"- **Training data:** a folder of one's own digits{mnist}.", *[f"- {line}" for line in own],
                "- **Validation:** the folder's held-out images, after each epoch; early stopping and the kept epoch "
                "follow their loss.",
                f"- **Test figures:** the MNIST test set ({MNIST_TEST:,} digits, never seen in training)."]
    return [*_mnist_lines(cfg), *[f"- {line}" for line in own]]


def _mnist_seen(cfg: dict) -> str:
    subset, fraction = cfg.get("subset"), cfg.get("val_fraction", 0.1)
    if isinstance(subset, int):
        return f"{subset:,} of its digits"
    if isinstance(fraction, (int, float)):
        return f"{MNIST_TRAIN - int(round(MNIST_TRAIN * fraction)):,} of its digits"
    return "how many is not recorded"


def _mnist_lines(cfg: dict) -> list[str]:
    subset, fraction = cfg.get("subset"), cfg.get("val_fraction", 0.1)
    if isinstance(subset, int) and isinstance(fraction, (int, float)):
        total = min(MNIST_TRAIN, int(round(subset / (1.0 - fraction))))
        n_val = max(1, int(round(total * fraction)))
        train, val = total - n_val, n_val
    elif isinstance(fraction, (int, float)):
        val = int(round(MNIST_TRAIN * fraction))
        train = MNIST_TRAIN - val
    else:
        train = val = None
    seen = f"{train:,} training digits" if train else "MNIST training digits (how many is not recorded)"
    lines = [f"- **Training data:** MNIST training set, {seen} (a seeded shuffle, seed {cfg.get('seed', '?')})."]
    if val:
        limit = cfg.get("val_limit")
        evaluated = f"; {min(val, limit):,} of them are evaluated after each epoch" if isinstance(limit, int) else ""
        lines.append(f"- **Validation:** {val:,} held-out training digits ({fraction:.0%}){evaluated}; "
                     "early stopping and the kept epoch follow their loss.")
    lines.append(f"- **Test figures:** the MNIST test set ({MNIST_TEST:,} digits, never seen in training).")
    return lines


def _settings_lines(meta: dict, cfg: dict) -> list[str]:
    rows = [("architecture", meta.get("architecture_summary") or meta.get("architecture", "?")),
            ("parameters", f"{meta['parameters']:,}" if isinstance(meta.get("parameters"), int) else "?"),
            ("epochs", f"{meta.get('epochs_trained', '?')} trained of {meta.get('epochs_requested', cfg.get('epochs', '?'))} "
                       f"asked; best epoch {meta.get('best_epoch', '?')} kept ({meta.get('stop_reason', '?')})"),
            ("batch size", cfg.get("batch_size", "?")), ("learning rate", cfg.get("learning_rate", "?")),
            ("schedule", cfg.get("lr_schedule", "?")), ("early-stopping patience", cfg.get("patience") or "off"),
            ("time budget", f"{cfg['time_budget']:g} s" if cfg.get("time_budget") else "none"),
            ("validation loss (best epoch)", _num(meta.get("val_loss"), 4))]
    if cfg.get("arch") in ("dense", "conv"):
        rows.insert(1, ("bottleneck", cfg.get("bottleneck") or models.get(cfg["arch"]).bottleneck))
    if cfg.get("arch") == "classifier":
        rows += [("augmentation", cfg.get("augment") or "basic"),
                 ("flagged 1s", f"{cfg['flag_ones']:.0%} of the 1s" if cfg.get("flag_ones") else "none"),
                 ("reconstructions", ", ".join(cfg["reconstructions"]) if cfg.get("reconstructions") else "none")]
    return ["| setting | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]]


def _num(value, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and math.isfinite(value) else "?"


def _measurements(meta: dict, kind: str, run: Optional[runs.Run]) -> list[ModelFigures]:
    """Every measurement known: the run's (one per noise) and the metadata's own (the latest)."""
    found = []
    for m in (run.measurements if run else []):
        if isinstance(m, dict):
            found.append(ModelFigures.from_metrics(kind, m.get("metrics")))
    latest = ModelFigures.from_metrics(kind, meta.get("metrics"))
    found = [f for f in found if f.noise != latest.noise]
    return [f for f in [*found, latest] if f.measured]


def _figures_lines(meta: dict, kind: str, run: Optional[runs.Run]) -> list[str]:
    measured = _measurements(meta, kind, run)
    if not measured:
        return ["Not measured yet: `desktop-denoiser evaluate --model NAME --save` measures it."]
    if kind == CLASSIFIER:
        return [f"- {f.lines()[0]}" for f in measured]
    out = ["| measured on noise | test digits | PSNR (dB) | PSNR noisy | SSIM | SSIM noisy | accuracy denoised | "
           "accuracy noisy | accuracy clean | classifier |", "|---|---|---|---|---|---|---|---|---|---|"]
    for f in measured:
        out.append(f"| {f.noise or '?'} | {f.images or '?'} | {_num(f.psnr)} | {_num(f.psnr_noisy)} | {_num(f.ssim, 3)} | "
                   f"{_num(f.ssim_noisy, 3)} | {_pct(f.accuracy_denoised)} | {_pct(f.accuracy_noisy)} | "
                   f"{_pct(f.accuracy_clean)} | {f.classifier or '–'} |")
    return out


def _pct(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _training_lines(meta: dict, run: Optional[runs.Run]) -> list[str]:
    seconds = meta.get("training_seconds")
    lines = [f"- **Trained:** {meta.get('created', '?')} on {meta.get('device', '?')}, "
             f"{duration(seconds) if isinstance(seconds, (int, float)) else '?'} of training, "
             f"{_num(meta.get('images_per_s'), 0)} images/s.",
             f"- **Software:** Desktop Denoiser {meta.get('app_version', '?')}, TensorFlow {meta.get('tensorflow', '?')}, "
             f"Keras {meta.get('keras', '?')}, Python {meta.get('python', '?')}."]
    end = run.training_end() if run else None
    if run is not None:
        how = end.describe() if end else run.state_label
        lines.append(f"- **Run:** `{run.run_id}` ({run.origin or 'origin unknown'}): {how} "
                     f"`desktop-denoiser runs show {run.short_id}` has every epoch and batch.")
    elif meta.get("run_id"):
        lines.append(f"- **Run:** `{meta['run_id']}` (not recorded on this computer).")
    return lines


def _limits(meta: dict, kind: str, cfg: dict, noise: Optional[NoiseSpec]) -> list[str]:
    out = ["- Trained on MNIST-style digits: one handwritten digit, light ink on a dark background, scaled to a 20 px "
           "box and centred by its centre of mass in 28 × 28. The app brings other images into that form first; "
           "letters, several digits, printed digits or photos far from MNIST still come out as digit-like strokes."]
    if kind == CLASSIFIER:
        out.append("- It tells digits 0–9 apart only: anything else is read as some digit, often with high confidence.")
    else:
        if noise is not None and noise.kind != "mixed":
            out.append(f"- It learnt one corruption, {noise} ({DESCRIPTIONS.get(noise.kind, '')}); on other noise it "
                       "may do much worse than its figures say.")
        out.append("- A denoiser can make a wrong digit look clean: it outputs the nearest digit-like image it knows, "
                   "not necessarily the one under the noise.")
        out.append("- The accuracy figures are of the classifier reading what this denoiser outputs: they depend on "
                   "that classifier (named in the figures) as much as on this model.")
    if cfg.get("bottleneck") in (1, 2, 3):
        out.append(f"- Its code is {cfg['bottleneck']}-D: a model for teaching (its latent space can be drawn as it is), "
                   "not for accuracy.")
    if meta.get("stop_reason") in ("cancelled", "time budget"):
        out.append(f"- Its training ended early ({meta['stop_reason']}): it may be far from what the architecture can do.")
    images = (meta.get("metrics") or {}).get("test_images")
    if isinstance(images, int) and images < MNIST_TEST:
        out.append(f"- Its figures were measured on {images:,} of the {MNIST_TEST:,} test digits only.")
    return out


def card(entry, run: Optional[runs.Run] = None) -> str:
    """The Markdown card of a store entry (``run``: its recorded run, looked up when not given)."""
    meta = entry.meta or {}
    run = run if run is not None else runs.of_model(meta.get("run_id"))
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else (run.config if run else {})
    kind = entry.kind
    noise = _noise(meta)
    what = ("a denoising autoencoder: it takes a noisy 28 × 28 digit and outputs a clean one" if kind != CLASSIFIER
            else "a digit classifier: it reads a 28 × 28 digit and gives the probabilities of 0–9")
    lines = [f"# Model card: {entry.name}", "", f"**{entry.name}** is {what}.", "",
             f"- **Kind:** {kind}; **architecture:** {meta.get('architecture', '?')}; file `{entry.path}` ({entry.source}).",
             *(["- **Noise:** " + f"{noise} — {DESCRIPTIONS.get(noise.kind, '')}"] if kind != CLASSIFIER and noise else []),
             *(["- **Noise in training:** " + (f"{noise}, on a random half of the digits" if noise and noise.kind != "none"
                                               else "none (clean, augmented digits)")] if kind == CLASSIFIER else []),
             "", "## Data", "", *_data_lines(cfg, meta.get("data"), kind), "", "## Settings", "", *_settings_lines(meta, cfg),
             "", "## Figures on the MNIST test set", "", *_figures_lines(meta, kind, run),
             "", "## Training", "", *_training_lines(meta, run),
             "", "## Known limits", "", *_limits(meta, kind, cfg, noise), ""]
    return "\n".join(lines)


def write(text: str, target: str | Path, overwrite: bool = False) -> Path:
    """Write a card into ``target`` (atomically); an existing file is kept unless ``overwrite``."""
    target = Path(target)
    if target.is_dir():
        raise ConfigError(f"{target} is a folder.")
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} exists; give --overwrite to replace it.")
    atomic.write_text(target, text)
    return target
