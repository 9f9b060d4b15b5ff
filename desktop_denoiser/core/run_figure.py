"""The figure of ``runs compare --figure``: the runs' loss curves overlaid, drawn with Pillow.

Each run has its colour: a faint line for every batch's loss, a solid line for its moving
average, and a dot per epoch for the validation loss. The legend gives each run's id and its
values of the settings that differ between the runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from . import atomic
from .errors import ConfigError
from .run_report import differences, legend
from .runs import Run

WIDTH, HEIGHT = 1000, 640
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 80, 30, 50, 60
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
LEGEND_LINE = 18


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1: the bitmap font only
        return ImageFont.load_default()


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """A trailing moving average (the first values average what there is)."""
    if window <= 1 or len(values) < 2:
        return values
    sums = np.cumsum(np.insert(values.astype(np.float64), 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (sums[idx] - sums[lo]) / (idx - lo)


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """About ``count`` round values between lo and hi."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(1, count - 1)
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * step:
            step *= mult
            break
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _ranges(curves) -> tuple[float, float, float, float]:
    steps = [c[0] for c in curves if len(c[0])]
    values = [v for c in curves for v in (c[1], c[3]) if len(v)]
    x_hi = max((float(s.max()) for s in steps), default=1.0)
    if not values:
        return 0.0, max(x_hi, 1.0), 0.0, 1.0
    every = np.concatenate(values)
    every = every[np.isfinite(every)]
    if not len(every):
        return 0.0, max(x_hi, 1.0), 0.0, 1.0
    lo, hi = float(np.percentile(every, 0.5)), float(np.percentile(every, 99.5))  # a spike does not flatten the rest
    pad = (hi - lo) * 0.05 or abs(hi) * 0.05 or 0.05
    return 0.0, max(x_hi, 1.0), lo - pad, hi + pad


def draw(runs: Sequence[Run]):
    """The figure as a Pillow image."""
    from PIL import Image, ImageDraw

    diffs = differences(runs)
    curves = []
    for r in runs:
        losses = r.losses()
        epochs = [e for e in r.epochs if isinstance(e.get("val_loss"), (int, float)) and isinstance(e.get("step"), int)]
        curves.append((losses[:, 0], losses[:, 1], np.array([e["step"] for e in epochs], np.float64),
                       np.array([e["val_loss"] for e in epochs], np.float64)))
    legend_height = LEGEND_LINE * len(runs) + 10
    height = HEIGHT + legend_height
    image = Image.new("RGB", (WIDTH, height), "white")
    d = ImageDraw.Draw(image)
    x0, y0, x1, y1 = MARGIN_LEFT, MARGIN_TOP, WIDTH - MARGIN_RIGHT, HEIGHT - MARGIN_BOTTOM
    xlo, xhi, ylo, yhi = _ranges(curves)

    def px(x, y):
        return (x0 + (x - xlo) / (xhi - xlo) * (x1 - x0), y1 - (np.clip(y, ylo, yhi) - ylo) / (yhi - ylo) * (y1 - y0))

    _axes(d, (x0, y0, x1, y1), (xlo, xhi, ylo, yhi), px)
    for i, (steps, loss, val_steps, val_loss) in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        faint = tuple(int(c + (255 - c) * 0.7) for c in colour)
        if len(steps) > 1:
            d.line([px(x, y) for x, y in zip(steps, loss)], fill=faint, width=1)
            window = max(1, len(loss) // 50)
            d.line([px(x, y) for x, y in zip(steps, smooth(loss, window))], fill=colour, width=3)
        for x, y in zip(val_steps, val_loss):
            cx, cy = px(x, y)
            d.ellipse((cx - 5, cy - 5, cx + 5, cy + 5), fill=colour, outline="black")
    font = _font(14)
    for i, r in enumerate(runs):
        colour = COLOURS[i % len(COLOURS)]
        top = HEIGHT + i * LEGEND_LINE
        d.line((x0, top + 8, x0 + 30, top + 8), fill=colour, width=3)
        text = legend(r, diffs, i) + ("" if len(curves[i][0]) else "  (no batch recorded)")
        d.text((x0 + 40, top), text, fill="black", font=font)
    d.text((x0, 15), "training loss per batch (moving average; faint: every batch), validation loss per epoch (dots)",
           fill="black", font=_font(16))
    return image


def _axes(d, box, ranges, px) -> None:
    x0, y0, x1, y1 = box
    xlo, xhi, ylo, yhi = ranges
    font = _font(13)
    d.rectangle(box, outline="black")
    for y in nice_ticks(ylo, yhi):
        _, py = px(xlo, y)
        d.line((x0, py, x1, py), fill=(225, 225, 225))
        d.line((x0 - 5, py, x0, py), fill="black")
        d.text((x0 - 8, py), f"{y:.4g}", fill="black", font=font, anchor="rm")
    for x in nice_ticks(xlo, xhi):
        px_, _ = px(x, ylo)
        d.line((px_, y1, px_, y1 + 5), fill="black")
        d.text((px_, y1 + 8), f"{x:,.0f}", fill="black", font=font, anchor="mt")
    d.text(((x0 + x1) / 2, y1 + 30), "batch (step)", fill="black", font=font, anchor="mt")
    d.text((10, (y0 + y1) / 2), "loss", fill="black", font=font, anchor="lm")


def write(runs: Sequence[Run], target: str | Path, overwrite: bool = False) -> Path:
    """Draw the figure into the PNG ``target`` (atomically); an existing file is kept unless ``overwrite``."""
    target = Path(target)
    if target.suffix.lower() != ".png":
        raise ConfigError(f"The figure must be a .png file, not {target.name}.")
    if target.exists() and not overwrite:
        raise ConfigError(f"{target} exists; give --overwrite to replace it.")
    image = draw(runs)
    atomic.write_with(target, lambda tmp: image.save(tmp, format="PNG"))
    return target
