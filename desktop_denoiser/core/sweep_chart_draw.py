"""Drawing a sweep's :class:`~.sweep_chart.ChartData` with Pillow: two panels side by side
(accuracy, PSNR) with grid, ticks, axis labels and one legend under both. Drawn at twice the
size and scaled down, so lines and text are smooth."""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

from .lab import drawing
from .sweep_chart import ChartData, Panel, tick_text, x_positions, y_range
from .sweeps import value_text

S = 2  # drawn at S× and scaled down
GRID = (232, 232, 232)
AXIS = (90, 90, 90)
TEXT = (30, 30, 30)
MUTED = (95, 95, 95)
BASELINE = (140, 140, 140)
COLOURS = drawing.PALETTE


def _colour(index: int) -> tuple:
    return COLOURS[index % len(COLOURS)]


def _text(draw, xy, s: str, size: int, fill=TEXT, anchor: str = "la") -> None:
    drawing.text(draw, (xy[0] * S, xy[1] * S), s, size * S, fill, anchor)


def _width(draw, s: str, size: int) -> float:
    return drawing.text_size(draw, s, size * S)[0] / S


def _dashed(draw, points, fill, width: int, dash: float = 9.0, gap: float = 6.0) -> None:
    """A dashed polyline (points in final pixels)."""
    on, left = True, dash
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        pos = 0.0
        while pos < length - 1e-9:
            step = min(left, length - pos)
            if on:
                a, b = pos / length, (pos + step) / length
                draw.line([((x0 + a * (x1 - x0)) * S, (y0 + a * (y1 - y0)) * S),
                           ((x0 + b * (x1 - x0)) * S, (y0 + b * (y1 - y0)) * S)], fill=fill, width=width * S)
            pos += step
            left -= step
            if left <= 1e-9:
                on = not on
                left = dash if on else gap


SHAPES = ("circle", "square", "triangle", "diamond", "down")
DODGE = 7.0  # pixels between the markers of lines that meet at the same point


def _marker(draw, x: float, y: float, fill, baseline: bool, shape: str = "circle", r: float = 4.5) -> None:
    """A point: a hollow circle for the baseline, else a filled shape (one per line, so lines
    that lie on top of each other still show each of their markers)."""
    box = [(x - r) * S, (y - r) * S, (x + r) * S, (y + r) * S]
    if baseline:
        draw.ellipse(box, fill=(255, 255, 255), outline=fill, width=2 * S)
        return
    r1 = r + 1.0
    polygons = {
        "square": [(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)],
        "triangle": [(x, y - r1), (x + r1, y + r1 * 0.8), (x - r1, y + r1 * 0.8)],
        "diamond": [(x, y - r1), (x + r1, y), (x, y + r1), (x - r1, y)],
        "down": [(x, y + r1), (x + r1, y - r1 * 0.8), (x - r1, y - r1 * 0.8)],
    }
    if shape in polygons:
        draw.polygon([(px * S, py * S) for px, py in polygons[shape]], fill=fill, outline=(255, 255, 255), width=S)
    else:
        draw.ellipse(box, fill=fill, outline=(255, 255, 255), width=1 * S)


def _runs_of(values):
    """Consecutive stretches of points with a value: a missing run breaks the line."""
    stretch = []
    for p in values:
        if p is None:
            if stretch:
                yield stretch
            stretch = []
        else:
            stretch.append(p)
    if stretch:
        yield stretch


def _y_label(image: Image.Image, text: str, centre: tuple) -> None:
    """``text`` rotated a quarter turn, centred at ``centre`` (final pixels)."""
    probe = ImageDraw.Draw(image)
    w = int(_width(probe, text, 13) * S) + 8 * S
    h = 20 * S
    label = Image.new("RGB", (w, h), (255, 255, 255))
    _text(ImageDraw.Draw(label), (w / S / 2, 10), text, 13, MUTED, "mm")
    rotated = label.rotate(90, expand=True)
    image.paste(rotated, (int(centre[0] * S - rotated.width / 2), int(centre[1] * S - rotated.height / 2)))


def _panel(image, draw, data: ChartData, panel: Panel, box: tuple) -> None:
    left, top, w, h = box
    ticks = y_range(panel.values(), panel.key)
    lo, hi = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0

    def py(v: float) -> float:
        return top + h * (1.0 - (v - lo) / ((hi - lo) or 1.0))

    xs = [left + w * f for f in x_positions(data)]
    _text(draw, (left + w / 2, top - 14), panel.title, 15, TEXT, "ms")
    for t in ticks:
        draw.line([(left * S, py(t) * S), ((left + w) * S, py(t) * S)], fill=GRID, width=S)
        _text(draw, (left - 8, py(t)), tick_text(t, step), 12, MUTED, "rm")
    for x, v in zip(xs, data.x_values):
        draw.line([(x * S, (top + h) * S), (x * S, (top + h + 5) * S)], fill=AXIS, width=S)
        _text(draw, (x, top + h + 9), value_text(v), 12, MUTED, "ma")
    draw.rectangle([left * S, top * S, (left + w) * S, (top + h) * S], outline=AXIS, width=S)
    _text(draw, (left + w / 2, top + h + 32), data.x_label, 13, MUTED, "ma")
    _y_label(image, panel.y_label, (left - 52, top + h / 2))
    models = sum(1 for series in panel.series if not series.is_baseline)
    index = 0
    for series in panel.series:
        fill, shape = BASELINE, "circle"
        dodge = 0.0
        if not series.is_baseline:
            fill, shape = _colour(index), SHAPES[index % len(SHAPES)]
            dodge = (index - (models - 1) / 2) * DODGE
            index += 1
        points = [None if y is None else (x + dodge, py(y)) for x, y in zip(xs, series.ys)]
        for stretch in _runs_of(points):
            if series.is_baseline:
                _dashed(draw, stretch, fill, 2)
            elif len(stretch) > 1:
                draw.line([(x * S, y * S) for x, y in stretch], fill=fill, width=3 * S, joint="curve")
        for p in points:
            if p is not None:
                _marker(draw, p[0], p[1], fill, series.is_baseline, shape)
    if not panel.values():
        _text(draw, (left + w / 2, top + h / 2), "no figures (no classifier?)" if panel.key == "accuracy" else "no figures",
              13, MUTED, "mm")


def _legend_items(data: ChartData) -> list:
    items, index = [], 0
    for series in data.panels[0].series:
        if series.is_baseline:
            items.append((series.label, BASELINE, True, "circle"))
        else:
            items.append((series.label, _colour(index), False, SHAPES[index % len(SHAPES)]))
            index += 1
    return items


def _legend_rows(draw, items, width: float) -> list:
    rows, row, used = [], [], 0.0
    for item in items:
        w = 44 + _width(draw, item[0], 13) + 26
        if row and used + w > width:
            rows.append(row)
            row, used = [], 0.0
        row.append((item, w))
        used += w
    return rows + ([row] if row else [])


def _legend(draw, rows, top: float, width: float) -> None:
    for i, row in enumerate(rows):
        total = sum(w for _, w in row)
        x, y = (width - total) / 2, top + 26 * i
        for (label, fill, baseline, shape), w in row:
            if baseline:
                _dashed(draw, [(x, y), (x + 34, y)], fill, 2, 7, 4)
            else:
                draw.line([(x * S, y * S), ((x + 34) * S, y * S)], fill=fill, width=3 * S)
            _marker(draw, x + 17, y, fill, baseline, shape)
            _text(draw, (x + 44, y), label, 13, TEXT, "lm")
            x += w


def draw_chart(data: ChartData, width: int = 1400, height: int = 620) -> Image.Image:
    image = Image.new("RGB", (width * S, height * S), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    _text(draw, (width / 2, 16), data.title, 18, TEXT, "ma")
    _text(draw, (width / 2, 42), data.subtitle, 13, MUTED, "ma")
    rows = _legend_rows(draw, _legend_items(data), width - 60)
    legend_h = 26 * len(rows) + 10
    top, bottom = 96, height - legend_h - 72
    margin, gap = 96, 110
    panel_w = (width - 2 * margin + 40 - gap) / 2
    for i, panel in enumerate(data.panels):
        left = margin + i * (panel_w + gap)
        _panel(image, draw, data, panel, (left, top, panel_w, bottom - top))
    _legend(draw, rows, bottom + 74, width)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def png_bytes(image: Image.Image) -> bytes:
    return drawing.png_bytes(image)
