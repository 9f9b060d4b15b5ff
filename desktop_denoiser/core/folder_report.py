"""The report of a folder evaluation (:class:`~.folder_evaluation.FolderEvaluation`): a
self-contained HTML page and a PNG figure, for ``evaluate --folder`` and the window's folder view.

The HTML page has the accuracy overall and per digit, the confusion matrix as a shaded table,
the problems met while reading the folder and the sheet of misread digits (what the model saw,
the noisy input and the reconstruction, inlined as base64 PNGs; what it said; the file). The PNG
figure has the confusion matrix and the misread sheet, drawn with Pillow and the lab's drawing
helpers (:mod:`.lab.drawing`). Both are written atomically and never replace a file unless asked.
"""

from __future__ import annotations

import base64
import datetime
import html
from pathlib import Path
from typing import Optional

import numpy as np

from . import atomic
from .errors import ConfigError, SaveError
from .folder_evaluation import FolderEvaluation, Misread
from .lab import drawing

#: Misread digits shown in a report (the worst first); the page says how many there were.
SHEET_LIMIT = 200
#: Misread digits on the PNG figure.
FIGURE_LIMIT = 60


def percent(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def cell_colour(count: int, row_total: int, diagonal: bool) -> tuple[int, int, int]:
    """The shading of a confusion-matrix cell: green on the diagonal, red off it, as deep as the
    cell's share of its row (its true digit); white for an empty cell."""
    if count == 0 or row_total == 0:
        return (255, 255, 255)
    share = count / row_total
    strength = 0.25 + 0.75 * share if not diagonal else 0.15 + 0.85 * share
    base = (44, 160, 44) if diagonal else (214, 39, 40)
    return tuple(int(round(255 + (c - 255) * strength)) for c in base)


def summary_lines(result: FolderEvaluation) -> list[str]:
    """The heading lines: what was measured, with what, and the overall accuracy."""
    noise = result.noise or "none"
    return [f"{result.root}: {len(result)} digits, denoiser {result.denoiser}, classifier {result.classifier}, noise {noise}"
            + (f" (seed {result.seed})" if result.noise else ""),
            f"accuracy {percent(result.accuracy)} on the reconstructions ({int(result.correct.sum())}/{len(result)}), "
            f"{percent(result.accuracy_noisy)} reading the input without the denoiser"]


def _check_target(target: Path, suffix: str, what: str) -> None:
    if target.suffix.lower() != suffix:
        raise ConfigError(f"The {what} must be a {suffix} file, not {target.name}.")


def _create(target: Path, data: bytes, overwrite: bool) -> Path:
    """Write ``data`` atomically; an existing file is kept unless ``overwrite`` (race-free)."""
    if not atomic.create_bytes(target, data, replace=overwrite):
        raise SaveError(f"{target} exists; give --overwrite to replace it.")
    return target


# ------------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { padding: 0.25em 0.6em; text-align: right; border: 1px solid #ddd; }
table.confusion td { width: 2.6em; text-align: center; }
th.corner { text-align: left; font-weight: normal; color: #666; }
.sheet { display: flex; flex-wrap: wrap; gap: 0.6em; }
.card { border: 1px solid #ccc; padding: 0.4em; width: 12em; font-size: 0.85em; }
.card img { image-rendering: pixelated; width: 5.6em; height: 5.6em; }
.path { word-break: break-all; color: #555; }
.problems li { color: #8a4b00; }
"""


def _img(image: np.ndarray, scale: int = 3) -> str:
    data = base64.b64encode(drawing.png_bytes(drawing.tile(image, scale))).decode("ascii")
    return f'<img alt="" src="data:image/png;base64,{data}">'


def _confusion_html(result: FolderEvaluation) -> str:
    m = result.confusion
    rows = ['<table class="confusion"><tr><th class="corner">true ↓ read →</th>'
            + "".join(f"<th>{d}</th>" for d in range(10)) + "<th>images</th></tr>"]
    for t in range(10):
        total = int(m[t].sum())
        cells = []
        for p in range(10):
            r, g, b = cell_colour(int(m[t, p]), total, t == p)
            value = int(m[t, p])
            cells.append(f'<td style="background: rgb({r},{g},{b})" title="true {t}, read {p}">{value or ""}</td>')
        rows.append(f"<tr><th>{t}</th>{''.join(cells)}<td>{total}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _card(item: Misread) -> str:
    path = html.escape(str(item.path))
    return (f'<div class="card">{_img(item.noisy)} {_img(item.reconstruction)}<br>'
            f"<b>{item.true}</b> read as <b>{item.predicted}</b> ({percent(item.p_predicted)}); "
            f"p({item.true}) = {percent(item.p_true)}<br><span class=\"path\">{path}</span></div>")


def html_page(result: FolderEvaluation, limit: int = SHEET_LIMIT) -> str:
    """The report as one HTML page, images inlined."""
    esc = html.escape
    head, acc = summary_lines(result)
    per = result.per_digit
    counts = result.counts
    right = np.bincount(result.labels[result.correct], minlength=10)
    per_rows = "".join(f"<tr><td>{d}</td><td>{int(counts[d])}</td><td>{int(right[d])}</td><td>{percent(per[d])}</td></tr>"
                       for d in range(10))
    misread = result.misread()
    shown = misread[:limit]
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Desktop Denoiser: {esc(result.root.name or str(result.root))}</title>", f"<style>{_CSS}</style></head><body>",
        f"<h1>Your own digits: {esc(str(result.root))}</h1>",
        f"<p>{esc(head)}<br><b>{esc(acc)}</b></p>",
        f"<p>Made by Desktop Denoiser on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}. "
        "Each image was brought to the MNIST convention as an opened file is, "
        + ("given the noise, " if result.noise else "")
        + "denoised, and the classifier read the reconstruction.</p>",
        "<h2>Accuracy per digit</h2>",
        f"<table><tr><th>digit</th><th>images</th><th>read right</th><th>accuracy</th></tr>{per_rows}</table>",
        "<h2>Confusion matrix</h2>",
        "<p>Rows: the digit of the folder; columns: the digit read. Shaded by the share of the row.</p>",
        _confusion_html(result),
    ]
    if result.problems:
        parts.append(f"<h2>Left out while reading the folder ({len(result.problems)})</h2><ul class=\"problems\">")
        parts.extend(f"<li>{esc(p)}</li>" for p in result.problems)
        parts.append("</ul>")
    parts.append(f"<h2>Misread digits ({len(misread)})</h2>")
    if not misread:
        parts.append("<p>None: every digit was read right.</p>")
    else:
        more = f", the {len(shown)} worst shown" if len(shown) < len(misread) else ""
        parts.append(f"<p>Worst first (the lowest probability given to the true digit){more}. Left: what the denoiser saw; "
                     "right: its reconstruction, which the classifier read.</p>")
        parts.append('<div class="sheet">' + "\n".join(_card(m) for m in shown) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(result: FolderEvaluation, target, overwrite: bool = False) -> Path:
    """Write the HTML report to ``target`` (atomically; an existing file is kept unless ``overwrite``)."""
    target = Path(target)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"The report must be an .html file, not {target.name}.")
    return _create(target, html_page(result).encode("utf-8"), overwrite)


# ------------------------------------------------------------------------------------------
# PNG figure

WIDTH = 1200
MARGIN = 30
CELL = 40  # a confusion-matrix cell
TILE_SCALE = 2  # a misread tile is 56 px
CARD_W, CARD_H = 140, 92  # a misread digit: two tiles and a line of text


def figure_size(misread: int) -> tuple[int, int]:
    """(width, height) of the figure of a result with ``misread`` misread digits."""
    shown = min(misread, FIGURE_LIMIT)
    per_row = (WIDTH - 2 * MARGIN) // CARD_W
    rows = -(-shown // per_row) if shown else 1
    return WIDTH, MARGIN + 80 + 12 * CELL + 70 + rows * CARD_H + MARGIN


def draw_figure(result: FolderEvaluation):
    """The figure as a PIL image: the heading, the confusion matrix beside the per-digit accuracy,
    and the sheet of the worst-read digits."""
    misread = result.misread()
    width, height = figure_size(len(misread))
    image, d = drawing.canvas(width, height)
    head, acc = summary_lines(result)
    drawing.text(d, (MARGIN, MARGIN), head, 15)
    drawing.text(d, (MARGIN, MARGIN + 24), acc, 17)
    m = result.confusion
    left, top = MARGIN + 60, MARGIN + 100
    drawing.text(d, (left + 5 * CELL, top - 34), "digit read", 13, drawing.GREY, "ma")
    drawing.text(d, (MARGIN, top + 10 * CELL + 18), "true digit ↑", 13, drawing.GREY)
    for p in range(10):
        drawing.text(d, (left + p * CELL + CELL / 2, top - 6), str(p), 14, anchor="ms")
    for t in range(10):
        total = int(m[t].sum())
        drawing.text(d, (left - 10, top + t * CELL + CELL / 2), str(t), 14, anchor="rm")
        for p in range(10):
            x0, y0 = left + p * CELL, top + t * CELL
            d.rectangle([x0, y0, x0 + CELL, y0 + CELL], fill=cell_colour(int(m[t, p]), total, t == p), outline=drawing.LIGHT)
            if m[t, p]:
                drawing.text(d, (x0 + CELL / 2, y0 + CELL / 2), str(int(m[t, p])), 13, anchor="mm")
    # per-digit accuracy as bars beside the matrix
    bx = left + 10 * CELL + 60
    drawing.text(d, (bx, top - 34), "accuracy per digit", 13, drawing.GREY)
    per, counts = result.per_digit, result.counts
    bar_w = 300
    for t in range(10):
        y = top + t * CELL + 8
        d.rectangle([bx, y, bx + bar_w, y + CELL - 16], outline=drawing.LIGHT)
        if per[t] is not None:
            d.rectangle([bx, y, bx + int(bar_w * per[t]), y + CELL - 16], fill=drawing.PALETTE[t])
        label = f"{t}: {percent(per[t])} of {int(counts[t])}" if counts[t] else f"{t}: no images"
        drawing.text(d, (bx + bar_w + 10, y + (CELL - 16) / 2), label, 13, anchor="lm")
    sy = top + 10 * CELL + 60
    shown = misread[:FIGURE_LIMIT]
    title = f"misread digits: {len(misread)}" + (f" (the {len(shown)} worst)" if len(shown) < len(misread) else "")
    drawing.text(d, (MARGIN, sy), title + "; each: what the denoiser saw, its reconstruction, true → read (p)", 14)
    if not shown:
        drawing.text(d, (MARGIN, sy + 30), "none: every digit was read right", 13, drawing.GREY)
    per_row = (width - 2 * MARGIN) // CARD_W
    for k, item in enumerate(shown):
        x = MARGIN + (k % per_row) * CARD_W
        y = sy + 24 + (k // per_row) * CARD_H
        image.paste(drawing.tile(item.noisy, TILE_SCALE), (x, y))
        image.paste(drawing.tile(item.reconstruction, TILE_SCALE), (x + 28 * TILE_SCALE + 4, y))
        drawing.text(d, (x, y + 28 * TILE_SCALE + 4), f"{item.true} → {item.predicted} ({percent(item.p_predicted)})", 12)
    return image


def write_figure(result: FolderEvaluation, target, overwrite: bool = False) -> Path:
    """Write the PNG figure to ``target`` (atomically; an existing file is kept unless ``overwrite``)."""
    target = Path(target)
    _check_target(target, ".png", "figure")
    return _create(target, drawing.png_bytes(draw_figure(result)), overwrite)
