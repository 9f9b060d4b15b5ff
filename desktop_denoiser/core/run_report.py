"""Runs for people: the table of ``runs``, everything of one run (``runs show``), and what differs
between runs (``runs compare``). Plain lines of text; the loss-curve figure is in :mod:`run_figure`."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Sequence

from . import models, training_data
from .durations import duration
from .figures import ModelFigures
from .noise import NoiseSpec
from .runs import KILLED, Run

COLUMNS = ("id", "date", "arch", "noise", "bottleneck", "epochs", "outcome", "duration", "figures", "model")


# ------------------------------------------------------------------------------------------
# small pieces


def date_text(iso: str) -> str:
    """An ISO time as local "YYYY-MM-DD HH:MM" ('?' when unknown)."""
    try:
        when = _dt.datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return "?"
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def noise_text(config: dict) -> str:
    try:
        return str(NoiseSpec.from_dict(config.get("noise") or {"kind": "none"}))
    except Exception:  # noqa: BLE001 - an odd record still lists
        return "?"


def bottleneck_text(config: dict) -> str:
    arch, size = config.get("arch"), config.get("bottleneck")
    if size is not None:
        return str(size)
    try:
        default = models.get(arch).bottleneck
    except Exception:  # noqa: BLE001
        default = None
    return str(default) if default else "–"


def duration_of(run: Run) -> float:
    end = run.training_end()
    return max(run.seconds, end.seconds) if end is not None else run.seconds


def epochs_text(run: Run) -> str:
    return f"{len(run.epochs)}/{run.config.get('epochs', '?')}"


def model_text(run: Run) -> str:
    name = run.model.get("name")
    if not name:
        return "–"
    return name if run.model.get("saved") else f"({name}: not saved)"


def table_row(run: Run) -> tuple:
    if run.error:
        return (run.short_id, "?", "?", "?", "?", "?", "unreadable", "?", run.error, "–")
    figures = run.model_figures().short() or "–"
    return (run.short_id, date_text(run.started), str(run.config.get("arch", "?")), noise_text(run.config),
            bottleneck_text(run.config), epochs_text(run), run.state_label, duration(duration_of(run)), figures,
            model_text(run))


def columns(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """Rows as aligned columns under a header (two spaces between columns)."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]


# ------------------------------------------------------------------------------------------
# the commands' text


def table(runs: Sequence[Run]) -> list[str]:
    """The ``runs`` table, one line per run (the oldest first)."""
    if not runs:
        return ["no runs recorded"]
    return columns(COLUMNS, [table_row(r) for r in runs])


def show(run: Run) -> list[str]:
    """Everything recorded of one run."""
    if run.error:
        return [f"run {run.run_id}: {run.error}", f"folder: {run.folder}"]
    cfg = run.config
    lines = [f"run {run.run_id}", f"state: {run.state_label}" + (f" (process {run.pid} on {run.host})" if run.pid else "")]
    end = run.training_end()
    if end is not None:
        lines.append(f"end: {end.describe()}")
    elif run.state == KILLED:
        lines.append(f"end: the process ended without a word after {len(run.epochs)} epoch(s), "
                     f"{run.steps} batches; nothing more was recorded")
    lines += [f"started: {date_text(run.started)}   last written: {date_text(run.updated)}   "
              f"duration: {duration(duration_of(run))}",
              f"origin: {run.origin or '?'}   device: {run.device or '?'}",
              "versions: " + ", ".join(f"{k} {v}" for k, v in run.versions.items() if k != "platform"),
              f"model: {model_text(run)}" + (f"  {run.model.get('path')}" if run.model.get("path") else ""),
              "settings:"]
    lines += [f"  {k}: {v}" for k, v in settings(run, versions=False).items()]
    seen = training_data.describe(run.data, "classifier" if cfg.get("arch") == "classifier" else "denoiser")
    if seen:  # a folder of one's own digits, the model it started from
        lines += ["data:", *[f"  {line}" for line in seen]]
    lines.append(f"batches: {run.steps} (every batch's loss in {run.folder / 'losses.npy' if run.folder else '?'})")
    lines.append("epochs:")
    lines += [f"  {_epoch_line(e)}" for e in run.epochs] or ["  none finished"]
    lines.append("figures:")
    lines += [f"  {line}" for line in run.model_figures().lines()]
    for m in run.measurements[:-1] if len(run.measurements) > 1 else []:
        kind = "classifier" if cfg.get("arch") == "classifier" else "denoiser"
        lines.append(f"  earlier measurement ({m.get('measured', '?')}): {ModelFigures.from_metrics(kind, m.get('metrics')).headline()}")
    return lines


def _epoch_line(e: dict) -> str:
    metric = e.get("val_metric")
    name = e.get("val_metric_name", "psnr")
    if not isinstance(metric, (int, float)):
        shown = "val metric ?"
    else:
        shown = f"val accuracy {100 * metric:.2f}%" if name == "accuracy" else f"val PSNR {metric:.2f} dB"
    return (f"epoch {e.get('epoch', '?')}: loss {_num(e.get('loss'))}  val_loss {_num(e.get('val_loss'))}  {shown}  "
            f"({_num(e.get('seconds'), 1)} s, step {e.get('step', '?')})")


def _num(value, digits: int = 4) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "?"


def settings(run: Run, versions: bool = True) -> dict:
    """The run's settings as text, one per configuration field (noise as its label), then the
    device and the versions: what :func:`differences` compares."""
    out = {}
    for key, value in run.config.items():
        out[key] = noise_text(run.config) if key == "noise" else ("–" if value is None else str(value))
    if "bottleneck" in out:
        out["bottleneck"] = bottleneck_text(run.config)
    if not versions:
        return out
    out["device"] = run.device or "?"
    for key, value in run.versions.items():
        out[f"{key} version" if key != "platform" else key] = str(value)
    return out


def differences(runs: Sequence[Run]) -> dict[str, list[str]]:
    """The settings whose values are not the same in every run: name -> one value per run."""
    each = [settings(r) for r in runs]
    keys = list(dict.fromkeys(k for s in each for k in s))
    out = {}
    for key in keys:
        values = [s.get(key, "–") for s in each]
        if len(set(values)) > 1:
            out[key] = values
    return out


def legend(run: Run, diffs: dict[str, list[str]], index: int) -> str:
    """A run's label in a comparison: its id and its values of the settings that differ."""
    shown = [f"{k}={v[index]}" for k, v in diffs.items() if not k.endswith("version") and k != "platform"][:4]
    return f"{run.short_id}: " + (", ".join(shown) if shown else "same settings")


_FIGURE_ROWS = (("psnr", "PSNR (dB)", "db"), ("psnr_noisy", "PSNR of the noisy input", "db"), ("ssim", "SSIM", "num"),
                ("accuracy_denoised", "accuracy on denoised", "pct"), ("accuracy_noisy", "accuracy on noisy", "pct"),
                ("accuracy_clean", "accuracy on clean", "pct"), ("accuracy", "test accuracy", "pct"),
                ("images", "test digits", "int"))


def compare(runs: Sequence[Run]) -> list[str]:
    """``runs compare``: the settings that differ, then the figures side by side."""
    header = ["", *[r.short_id for r in runs]]
    diffs = differences(runs)
    lines = ["settings that differ:" if diffs else "settings: the same in every run"]
    if diffs:
        lines += ["  " + line for line in columns(header, [[k, *v] for k, v in diffs.items()])]
    rows = [["outcome", *[r.state_label for r in runs]], ["epochs", *[epochs_text(r) for r in runs]],
            ["duration", *[duration(duration_of(r)) for r in runs]],
            ["best val_loss", *[_num(min((e.get("val_loss", float("inf")) for e in r.epochs), default=None)) for r in runs]]]
    figures = [r.model_figures() for r in runs]
    for field, label, how in _FIGURE_ROWS:
        values = [getattr(f, field) for f in figures]
        if any(v is not None for v in values):
            rows.append([label, *[_figure(v, how) for v in values]])
    rows.append(["model", *[model_text(r) for r in runs]])
    lines += ["results:"] + ["  " + line for line in columns(header, rows)]
    return lines


def _figure(value, how: str) -> str:
    if value is None:
        return "–"
    return {"db": f"{value:.2f}", "num": f"{value:.3f}", "pct": f"{100 * value:.2f}%", "int": f"{int(value):,}"}[how]
