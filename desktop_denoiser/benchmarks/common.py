"""Shared pieces of the benchmarks: sizes, tables, the machine, timing, data and models."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import os
import platform
import sys
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

# ------------------------------------------------------------------------------------------
# sizes: (quick, full); tests shrink them with OVERRIDES or DESKTOP_DENOISER_BENCH_<NAME>

SIZES: dict[str, tuple[float, float]] = {
    "test_images": (2000, 10000),  # MNIST test digits for the protocols and the budget runs
    "val_images": (300, 1000),  # training digits that tune the classical filters
    "nlm_images": (500, 10000),  # test digits for non-local means (about 10 ms per digit)
    "sweep_images": (2000, 10000),  # test digits per step of the sweep
    "budget_seconds": (60, 900),  # CPU seconds of training per architecture
    "budget_subset": (20000, 0),  # training digits (0: all)
    "noise_images": (240000, 240000),  # images the noise generators are timed on
    "loop_images": (24000, 240000),  # of which the article's per-image loop really runs
    "noise_repeats": (3, 3),  # each noise timing is the best of this many runs
    "throughput_seconds": (15, 60),  # CPU seconds of training per architecture
    "latency_calls": (500, 2000),  # Pipeline.run calls per architecture
    "paced_calls": (25, 150),  # Pipeline.run calls with a pause before each (40 ms)
    "predict_calls": (30, 300),  # model.predict calls per architecture (about 30-100 ms each)
    "gui_seconds": (20, 60),  # CPU seconds of training while the GUI's event loop is watched
    "heldout_percent": (25, 100),  # percent of the held-out sets' full sizes (benchmarks/heldout.py)
}
OVERRIDES: dict[str, float] = {}
ENV_PREFIX = "DESKTOP_DENOISER_BENCH_"


def size(name: str, full: bool) -> int:
    """The size ``name`` for this mode: OVERRIDES, else $DESKTOP_DENOISER_BENCH_<NAME>, else SIZES."""
    if name in OVERRIDES:
        return int(OVERRIDES[name])
    env = os.environ.get(ENV_PREFIX + name.upper())
    if env:
        return int(float(env))
    return int(SIZES[name][1 if full else 0])


def log(text: str) -> None:
    """Progress on stderr (the tables go to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# tables


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "–"
        return f"{float(value):,.{digits}f}"
    return str(value)


def pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


@dataclasses.dataclass
class Table:
    """A Markdown table with fixed-width columns: first column left-aligned, the rest right."""

    name: str
    title: str
    columns: Sequence[str]
    rows: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    align: Optional[str] = None  # one of "l"/"r" per column

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.name}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([c if isinstance(c, str) else fmt(c) for c in cells])

    def note(self, text: str) -> None:
        self.notes.append(text)

    def render(self) -> str:
        align = self.align or "l" + "r" * (len(self.columns) - 1)
        widths = [max([len(str(c))] + [len(r[i]) for r in self.rows]) for i, c in enumerate(self.columns)]
        widths = [max(w, 3) for w in widths]

        def line(cells):
            out = []
            for cell, w, a in zip(cells, widths, align):
                out.append(str(cell).ljust(w) if a == "l" else str(cell).rjust(w))
            return "| " + " | ".join(out) + " |"

        rule = "|" + "|".join((":" + "-" * (w + 1)) if a == "l" else ("-" * (w + 1) + ":") for w, a in zip(widths, align)) + "|"
        text = [f"### {self.name}: {self.title}", "", line(self.columns), rule]
        text += [line(r) for r in self.rows]
        if not self.rows:
            text.append(line(["(no rows)"] + [""] * (len(self.columns) - 1)))
        if self.notes:
            text.append("")
            text += [f"- {n}" for n in self.notes]
        return "\n".join(text) + "\n"


# ------------------------------------------------------------------------------------------
# the machine


def machine_table() -> Table:
    import keras
    import tensorflow as tf

    from desktop_denoiser.core import device

    t = Table("machine", "where these figures were measured", ["item", "value"], align="ll")
    t.add("CPU", device._cpu_name())
    t.add("cores", f"{os.cpu_count()} (this process may use {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'})")
    gpus = tf.config.list_physical_devices("GPU")
    t.add("GPU", device.describe() if gpus else "none")
    t.add("TensorFlow / Keras", f"{tf.__version__} / {keras.__version__}")
    t.add("numpy / Python", f"{np.__version__} / {platform.python_version()}")
    t.add("OS", platform.platform())
    t.add("date", _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    if hasattr(os, "getloadavg"):
        t.add("load average at start", " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1 / 5 / 15 min)")
    return t


def load_note() -> str:
    if not hasattr(os, "getloadavg"):
        return ""
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if load > cores * 0.75:
        return f"the machine was busy (load average {load:.1f} on {cores} cores): timings are pessimistic"
    return ""


# ------------------------------------------------------------------------------------------
# timing


@dataclasses.dataclass
class Timing:
    wall: float
    cpu: float


def timed(fn: Callable[[], Any]) -> tuple[Any, Timing]:
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, Timing(time.perf_counter() - w, time.process_time() - c)


def best_of(repeats: int, fn: Callable[[], Any]) -> Timing:
    """The fastest (wall) of ``repeats`` timed runs of ``fn``."""
    return min((timed(fn)[1] for _ in range(max(1, repeats))), key=lambda t: t.wall)


def quantiles_ms(seconds: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(seconds) * 1000.0
    return float(np.median(a)), float(np.percentile(a, 95))


# ------------------------------------------------------------------------------------------
# data


@functools.lru_cache(maxsize=1)
def mnist():
    from desktop_denoiser.core import data

    return data.load_mnist()


def test_set(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` MNIST test digits (float in [0, 1]) and labels."""
    from desktop_denoiser.core import data

    m = mnist()
    return data.to_float(m.x_test[:n]), m.y_test[:n]


def validation_set(n: int, seed: int = 4242) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random training digits (never test digits): for tuning filter parameters."""
    from desktop_denoiser.core import data

    m = mnist()
    index = np.sort(np.random.default_rng(seed).choice(len(m.x_train), size=min(n, len(m.x_train)), replace=False))
    return data.to_float(m.x_train[index]), m.y_train[index]


# ------------------------------------------------------------------------------------------
# models


class Models:
    """The store's models, loaded once; ``get(name)`` is None (with the reason kept) when missing."""

    def __init__(self, store=None):
        from desktop_denoiser.core.store import ModelStore

        self.store = store or ModelStore()
        self._cache: dict[str, Any] = {}
        self.missing: dict[str, str] = {}

    def get(self, name: str):
        if name in self._cache:
            return self._cache[name]
        from desktop_denoiser.core.errors import DenoiserError

        try:
            model = self.store.load(name).model
        except DenoiserError as exc:
            model = None
            self.missing[name] = str(exc)
        self._cache[name] = model
        return model

    def why_missing(self, name: str) -> str:
        return self.missing.get(name, "not found")

    @functools.cached_property
    def classifier_pipeline(self):
        from desktop_denoiser.core.inference import Pipeline

        clf = self.get("classifier")
        return None if clf is None else Pipeline(None, clf, warmup=False)

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> Optional[float]:
        from desktop_denoiser.core import metrics

        pipe = self.classifier_pipeline
        return None if pipe is None else metrics.accuracy(pipe.classify(images), labels)


_pipelines: dict[int, Any] = {}


def denoise(model, images: np.ndarray) -> np.ndarray:
    """Batched denoising through the app's Pipeline (one compiled Pipeline per model)."""
    from desktop_denoiser.core.inference import Pipeline

    key = id(model)
    if key not in _pipelines or _pipelines[key][0] is not model:
        _pipelines[key] = (model, Pipeline(model, None, warmup=False))
    return _pipelines[key][1].denoise(images)


def measure(models: Models, clean: np.ndarray, output: np.ndarray, labels: Optional[np.ndarray] = None):
    """The app's evaluation (:func:`desktop_denoiser.core.evaluation.figures_of`) of a method's
    ``output`` for ``clean`` digits: PSNR, SSIM and, with ``labels``, the bundled classifier's
    accuracy on the output (``.accuracy_denoised``, None without a classifier)."""
    from desktop_denoiser.core.evaluation import figures_of

    pipe = models.classifier_pipeline
    return figures_of(clean, output, labels=labels, classify=pipe.classify if pipe else None, with_clean=False)
