"""A sweep's chart: downstream accuracy and PSNR against the swept value, one line per model
(per value of the second axis in a two-axis sweep), with the noisy-input baseline as a grey
dashed line.

:func:`chart_data` gives the chart as plain data (:class:`ChartData`: two :class:`Panel`, each
a list of :class:`Series` with a label, xs, ys and ``is_baseline``), which the window can draw
with pyqtgraph; :func:`render` draws it with Pillow (matplotlib is not a dependency) for the
command's PNG. ys are in the units shown: accuracy in percent, PSNR in dB; a run that did not
finish is None (a gap in its line).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

from .noise import NoiseSpec
from .sweep_record import FINISHED, SweepRecord
from .sweeps import AXES, value_text

ACCURACY, PSNR = "accuracy", "psnr"
BASELINE_LABEL = "noisy input"


@dataclasses.dataclass(frozen=True)
class Series:
    label: str
    xs: tuple
    ys: tuple  # floats, None where there is no value
    is_baseline: bool = False


@dataclasses.dataclass(frozen=True)
class Panel:
    key: str  # ACCURACY or PSNR
    title: str
    y_label: str
    series: tuple

    def values(self) -> list[float]:
        return [y for s in self.series for y in s.ys if y is not None]


@dataclasses.dataclass(frozen=True)
class ChartData:
    title: str
    subtitle: str
    x_label: str
    x_values: tuple  # the swept values along x, in order
    categorical: bool  # names (architectures, noise kinds) spaced evenly, not numbers
    log_x: bool  # numbers spanning a factor of 10 or more (bottleneck 2..64, learning rates)
    panels: tuple  # (accuracy, PSNR)


def _noise_label(run) -> str:
    return str(NoiseSpec.from_dict(run.config.get("noise") or {}))


def _x_label(record: SweepRecord, x_name: str) -> str:
    label = AXES[x_name].label if x_name in AXES else x_name
    if x_name == "noise_level":
        kinds = sorted({(r.config.get("noise") or {}).get("kind", "?") for r in record.runs})
        params = sorted({next(iter((r.config.get("noise") or {}).get("params", {})), "?") for r in record.runs})
        return f"{label} ({kinds[0]}: {', '.join(params)})" if len(kinds) == 1 else f"{label} (first parameter)"
    return label


def _groups(record: SweepRecord):
    """``(line label, line value or None, runs in x order)`` for each line of the chart."""
    x_name = record.x_axis
    line = next((a for a in record.axes if a.get("name") != x_name), None)
    x_values = next(a for a in record.axes if a.get("name") == x_name)["values"]
    line_values = line["values"] if line else [None]
    groups = []
    for lv in line_values:
        runs = []
        for xv in x_values:
            runs.append(next((r for r in record.runs if r.settings.get(x_name) == xv
                              and (line is None or r.settings.get(line["name"]) == lv)), None))
        if line is None:
            label = record.base.get("arch", "model")
        elif line["name"] in ("arch", "noise"):
            label = value_text(lv)
        else:
            label = f"{line.get('label', line['name'])} {value_text(lv)}"
        groups.append((label, lv, runs))
    return groups


def _y(run, key: str) -> Optional[float]:
    if run is None or run.status != FINISHED or run.figures is None:
        return None
    value = run.figures.accuracy_denoised if key == ACCURACY else run.figures.psnr
    return None if value is None else (100 * value if key == ACCURACY else value)


def _baseline_y(record: SweepRecord, run, key: str) -> Optional[float]:
    figures = record.baseline_for(_noise_label(run)) if run is not None else None
    if figures is None:
        return None
    value = figures.accuracy_noisy if key == ACCURACY else figures.psnr_noisy
    return None if value is None else (100 * value if key == ACCURACY else value)


def _series(record: SweepRecord, key: str, xs: tuple) -> tuple:
    groups = _groups(record)
    out = [Series(label, xs, tuple(_y(r, key) for r in runs)) for label, _, runs in groups]
    noise_rows = {tuple(_noise_label(r) if r else "" for r in runs) for _, _, runs in groups}
    if len(noise_rows) == 1:  # every line was measured on the same noises: one baseline
        out.append(Series(BASELINE_LABEL, xs, tuple(_baseline_y(record, r, key) for r in groups[0][2]), True))
    else:
        for label, _, runs in groups:
            out.append(Series(f"{BASELINE_LABEL} ({label})", xs, tuple(_baseline_y(record, r, key) for r in runs), True))
    return tuple(s for s in out if not s.is_baseline or any(y is not None for y in s.ys))


def chart_data(record: SweepRecord) -> ChartData:
    x_axis = next(a for a in record.axes if a.get("name") == record.x_axis)
    xs = tuple(x_axis["values"])
    categorical = not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    log_x = not categorical and min(xs) > 0 and max(xs) / min(xs) >= 10
    classifier = next((r.figures.classifier for r in record.runs if r.figures is not None and r.figures.classifier), None)
    acc_title = "downstream accuracy" + (f" ({classifier})" if classifier else "")
    panels = (Panel(ACCURACY, acc_title, "accuracy on the denoised digits (%)", _series(record, ACCURACY, xs)),
              Panel(PSNR, "PSNR of the denoised digits", "PSNR (dB)", _series(record, PSNR, xs)))
    base = record.base
    fixed = [base.get("arch", "?"), f"{base.get('epochs')} epoch{'s' if base.get('epochs') != 1 else ''}"]
    if base.get("subset"):
        fixed.append(f"{base['subset']:,} training digits")
    limit = f"{record.eval_limit:,}" if record.eval_limit else "all"
    axes = " × ".join(a.get("label", a.get("name")) for a in record.axes)
    subtitle = f"{', '.join(fixed)}; measured on {limit} test digits; seed {base.get('seed')}"
    return ChartData(f"Sweep {record.id}: {axes}", subtitle, _x_label(record, record.x_axis), xs, categorical, log_x,
                     panels)


# ------------------------------------------------------------------------------------------
# ticks


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2, 5 × 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    raw = (hi - lo) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks, t = [], start
    while t < hi + step * 0.999:
        ticks.append(round(t, 10))
        t += step
    return ticks


def tick_text(value: float, step: float) -> str:
    """A tick value with as many decimals as the step needs (7.5 with a step of 2.5, 8 with 2)."""
    decimals = next((d for d in range(7) if abs(round(step, d) - step) < 1e-9 * max(1.0, abs(step))), 6)
    return f"{value:.{decimals}f}"


def x_positions(data: ChartData) -> list[float]:
    """Where each swept value sits along x, in [0, 1] (even spacing for names, log for wide ranges)."""
    n = len(data.x_values)
    if data.categorical or n == 1:
        return [(i + 0.5) / n for i in range(n)] if data.categorical else [0.5]
    values = [math.log10(v) if data.log_x else float(v) for v in data.x_values]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    return [0.06 + 0.88 * (v - lo) / span for v in values]


def y_range(values: Sequence[float], key: str) -> list[float]:
    if not values:
        return [0.0, 100.0] if key == ACCURACY else [0.0, 30.0]
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.08, 0.5)
    lo, hi = lo - pad, hi + pad
    if key == ACCURACY:
        lo, hi = max(0.0, lo), min(100.0, hi)
    return nice_ticks(lo, hi, 7)


def write_figure(record: SweepRecord, path, overwrite: bool = False):
    """Draw ``record``'s chart into the PNG ``path`` (atomically; an existing file only with
    ``overwrite``: else ConfigError). Returns the path, or None when no run finished (there is
    nothing to draw)."""
    from pathlib import Path

    from . import atomic
    from .errors import ConfigError
    from .sweep_chart_draw import png_bytes

    if not any(r.status == FINISHED for r in record.runs):
        return None
    data = png_bytes(render(chart_data(record)))
    if overwrite:
        atomic.write_bytes(path, data)
    elif not atomic.create_bytes(path, data):
        raise ConfigError(f"{path} exists; use --overwrite to replace it.")
    return Path(path)


def render(data: ChartData, width: int = 1400, height: int = 620):
    """The chart as a Pillow RGB image (see :mod:`.sweep_chart_draw`)."""
    from .sweep_chart_draw import draw_chart

    return draw_chart(data, width, height)
