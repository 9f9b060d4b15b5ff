"""The lab's views as figures (Pillow images; ``drawing.png_bytes`` makes a PNG of one).

Each function takes the result of the view's computation (:mod:`.latent_map`,
:mod:`.interpolate`, :mod:`.iterate`, :mod:`.inside`, :mod:`.compare`) and draws it; none of
them runs a model.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from PIL import Image

from . import drawing as d

MAP_SIZE = 640  # pixels of the map's plot area
TILE = 3  # scale of a 28×28 digit tile


def _title(draw, lines: Sequence[str], x: int = 16, y: int = 10) -> int:
    for i, line in enumerate(lines):
        d.text(draw, (x, y), line, 16 if i == 0 else 12, d.BLACK if i == 0 else d.GREY)
        y += 22 if i == 0 else 17
    return y + 6


def map_figure(latent_map, markers=None, images: Optional[dict] = None, field=None, title: str = "") -> Image.Image:
    """The scatter of the map's codes coloured by class with a legend; the live ``markers``
    (clean ○, noisy ✕, reconstruction ◆) with an arrow noisy → reconstruction; ``images``
    (name -> (28, 28)) shown beside the legend; ``field`` (starts, ends) as faint arrows."""
    left, top, legend_w = 70, 70, 200
    im, draw = d.canvas(left + MAP_SIZE + 30 + legend_w, top + MAP_SIZE + 50)
    _title(draw, [title or f"Latent map of {latent_map.model_name}",
                  f"{len(latent_map.points)} test digits, {latent_map.describe()}"])
    live = [] if markers is None else [p for p in markers.points.values() if p is not None]
    pts = latent_map.points
    allp = np.concatenate([pts, np.reshape(live, (-1, 2))]) if live else pts
    lo, hi = np.percentile(allp, 0.5, axis=0), np.percentile(allp, 99.5, axis=0)
    for p in live:  # the live markers always inside the frame
        lo, hi = np.minimum(lo, p), np.maximum(hi, p)
    frame = d.Frame((left, top, MAP_SIZE, MAP_SIZE), (lo[0], hi[0], lo[1], hi[1]))
    frame.draw_box(draw, "map x", "map y")
    px = frame(pts)
    keep = frame.inside(px)
    order = np.random.default_rng(0).permutation(len(px))  # no class drawn all on top of another
    for i in order:
        if keep[i]:
            x, y = px[i]
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=d.PALETTE[int(latent_map.labels[i]) % 10])
    if field is not None:
        starts, ends = frame(field[0]), frame(field[1])
        for s, e in zip(starts[frame.inside(starts) & frame.inside(ends)], ends[frame.inside(starts) & frame.inside(ends)]):
            d.arrow(draw, s, e, fill=(150, 150, 150), width=1, head=5)
    if markers is not None:
        arrow = markers.arrow
        if arrow is not None:
            s, e = frame([arrow[0], arrow[1]])
            d.arrow(draw, s, e, fill=d.BLACK, width=3, head=12)
        for name, p in markers.points.items():
            if p is not None:
                d.marker(draw, frame(p)[0], name)
    _map_legend(draw, im, left + MAP_SIZE + 30, top, markers, images)
    return im


def _map_legend(draw, im, x, y, markers, images) -> None:
    d.text(draw, (x, y), "class", 13)
    for k in range(10):
        yy = y + 22 + 18 * k
        draw.ellipse([x, yy, x + 10, yy + 10], fill=d.PALETTE[k])
        d.text(draw, (x + 18, yy - 2), str(k), 12)
    y += 22 + 18 * 10 + 14
    if markers is None:
        return
    for name, p in markers.points.items():
        if p is None:
            continue
        d.marker(draw, (x + 8, y + 8), name, 6)
        d.text(draw, (x + 22, y + 1), name, 12)
        if images and images.get(name) is not None:
            im.paste(d.tile(images[name], 2), (x + 120, y - 12))
        y += 64
    if markers.arrow is not None:
        d.text(draw, (x, y), "arrow: noisy → reconstruction", 11, d.GREY)


def manifold_figure(manifold, title: str = "") -> Image.Image:
    """The decoded grid with its map coordinates on the axes."""
    mosaic = manifold.mosaic()
    scale = 2 if mosaic.shape[0] <= 600 else 1
    left, top = 70, 70
    size = mosaic.shape[0] * scale
    im, draw = d.canvas(left + size + 30, top + size + 50)
    what = "the 2-D code itself" if manifold.exact else "the PCA plane through the codes' mean"
    g = manifold.images.shape[0]
    quantile = manifold.spacing == "quantile"
    spread = ", at the codes' 1st to 99th percentiles (as many digits between neighbours)" if quantile else ""
    _title(draw, [title or "Learned manifold", f"{g}² decoded positions of {what}{spread}"])
    im.paste(d.tile(mosaic, scale), (left, top))
    frame = d.Frame((left, top, size, size), manifold.extent, pad=0.0)
    ticks = None
    if quantile:  # the grid is not linear: label the first, middle and last column (row) by their value
        ys = manifold.ys[::-1]
        ticks = ((manifold.xs[0], manifold.xs[g // 2], manifold.xs[-1]), (ys[0], ys[g // 2], ys[-1]))
    frame.draw_box(draw, "code 1" if manifold.exact else "PC 1", "code 2" if manifold.exact else "PC 2", ticks)
    return im


def _digit_label(probs, i) -> str:
    return "" if probs is None else f"{int(np.argmax(probs[i]))} {100 * float(np.max(probs[i])):.0f}%"


def _tile_row(im, draw, images, probs, x, y, captions=None, scale: int = TILE) -> int:
    step = 28 * scale + 8
    for i, img in enumerate(images):
        im.paste(d.tile(img, scale), (x + i * step, y))
        label = _digit_label(probs, i)
        if captions is not None:
            label = (captions[i] + "  " + label).strip()
        d.text(draw, (x + i * step + 14 * scale, y + 28 * scale + 3), label, 11, d.BLACK, "ma")
    return y + 28 * scale + 22


def interpolation_figure(interp, title: str = "") -> Image.Image:
    """Two rows: the decoded latent path and the pixel blend, each step with its digit."""
    n = len(interp.t)
    width = max(40 + n * (28 * TILE + 8), 520)
    im, draw = d.canvas(width, 120 + 2 * (28 * TILE + 50))
    y = _title(draw, [title or "Interpolation", "top: along the line between the two codes, decoded; "
                      "bottom: the pixels blended (digit and probability under each)"])
    d.text(draw, (20, y), "latent path", 12, d.GREY)
    if interp.latent is not None:
        y = _tile_row(im, draw, interp.latent, interp.latent_probs, 20, y + 16)
    else:
        d.text(draw, (20, y + 20), interp.note, 12, d.GREY)
        y += 28 * TILE + 38
    d.text(draw, (20, y + 4), "pixel blend", 12, d.GREY)
    _tile_row(im, draw, interp.blend, interp.blend_probs, 20, y + 20)
    return im


def iteration_figure(iteration, title: str = "", max_tiles: int = 12) -> Image.Image:
    """The iterates x, D(x), … (the first ones and the last) and the step distances on a log scale."""
    n = len(iteration.images)
    idx = list(range(n)) if n <= max_tiles else list(range(max_tiles - 1)) + [n - 1]
    width = max(40 + len(idx) * (28 * TILE + 8), 560)
    im, draw = d.canvas(width, 420)
    state = "converged" if iteration.converged else "stopped at the step limit"
    y = _title(draw, [title or "Iterated denoising",
                      f"{iteration.steps} steps, {state} (tolerance {iteration.tol:g}, {iteration.metric})"])
    captions = ["x" if i == 0 else f"D{i}" for i in idx]
    probs = None if iteration.probs is None else iteration.probs[idx]
    y = _tile_row(im, draw, iteration.images[idx], probs, 20, y, captions)
    _distance_plot(draw, iteration, (70, y + 16, width - 110, 410 - y - 50))
    return im


def _distance_plot(draw, iteration, box) -> None:
    dist = np.maximum(np.asarray(iteration.distances, np.float64), 1e-8)
    if len(dist) == 0:
        return
    values = np.log10(np.concatenate([dist, [max(iteration.tol, 1e-8)]]))
    frame = d.Frame(box, (1, max(len(dist), 2), float(values.min()), float(values.max())))
    frame.draw_box(draw, "step", "log10 distance")
    pts = frame(np.stack([np.arange(1, len(dist) + 1), np.log10(dist)], axis=1))
    if len(pts) > 1:
        draw.line([tuple(p) for p in pts], fill=d.PALETTE[0], width=2)
    for p in pts:
        draw.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=d.PALETTE[0])
    ty = frame(np.array([[1, np.log10(max(iteration.tol, 1e-8))]]))[0][1]
    draw.line([(box[0], ty), (box[0] + box[2], ty)], fill=d.PALETTE[3], width=1)
    d.text(draw, (box[0] + box[2] - 4, ty - 14), "tolerance", 11, d.PALETTE[3], "ra")


def inside_figure(layers, filters=None, title: str = "", max_maps: int = 16) -> Image.Image:
    """Each layer's output (up to ``max_maps`` feature maps a layer, each scaled to its own
    range; a vector as a strip) and the first layer's filters."""
    rows = []
    for layer in layers:
        v = layer.values
        if v.ndim == 3:
            maps = [d.normalised(v[:, :, c]) for c in range(min(v.shape[2], max_maps))]
            scale = max(1, 56 // v.shape[0])
            rows.append((layer, [d.tile(m, scale) for m in maps]))
        else:
            rows.append((layer, [_vector_tile(v.reshape(-1))]))
    if filters is not None:
        lim = float(np.max(np.abs(filters.kernels))) or 1.0
        scale = 8 if filters.kernels.shape[1] <= 7 else 2
        rows.append((None, [d.signed_tile(k, scale, lim) for k in filters.kernels[:max(max_maps, 16)]]))
    width = 260 + max(sum(t.width + 4 for t in tiles) for _, tiles in rows)
    height = 80 + sum(max(max(t.height for t in tiles), 34) + 14 for _, tiles in rows)
    im, draw = d.canvas(max(width, 600), height)
    y = _title(draw, [title or "Inside the network", "each layer's output for the input (each map scaled to "
                      f"its own range; at most {max_maps} maps a layer)"])
    for layer, tiles in rows:
        if layer is None:
            n, h, w = filters.kernels.shape
            label = [f"filters of {filters.layer}", f"{n} of {h}×{w} (blue < 0 < red)"]
        else:
            label = [f"{layer.name}", f"{layer.kind} {'×'.join(map(str, layer.shape))}"]
        for j, line in enumerate(label):
            d.text(draw, (16, y + 15 * j), line, 12 if j == 0 else 11, d.BLACK if j == 0 else d.GREY)
        x = 250
        for t in tiles:
            im.paste(t, (x, y))
            x += t.width + 4
        y += max(max(t.height for t in tiles), 34) + 14
    return im


def _vector_tile(flat: np.ndarray) -> Image.Image:
    """A layer's vector: 784 values as a 28×28 image, others in rows of 32 cells."""
    v = d.normalised(flat) if len(flat) > 1 else np.clip(flat, 0.0, 1.0)
    if len(v) == 784:
        return d.tile(v.reshape(28, 28), 2)
    rows = int(np.ceil(len(v) / 32))
    grid = np.zeros(32 * rows, np.float32)
    grid[: len(v)] = v
    return d.tile(grid.reshape(rows, 32) if rows > 1 else grid[: len(v)].reshape(1, -1), 8)


def compare_figure(rows, title: str = "") -> Image.Image:
    """One column per candidate: its image, PSNR / SSIM (when there is a clean input) and digit."""
    step = 28 * 4 + 24
    im, draw = d.canvas(max(40 + len(rows) * step, 520), 300)
    has_ref = any(r.psnr is not None for r in rows)
    y = _title(draw, [title or "Compare", "PSNR and SSIM against the clean input" if has_ref else
                      "no clean input: no PSNR or SSIM"])
    for i, r in enumerate(rows):
        x = 20 + i * step
        im.paste(d.tile(r.image, 4), (x, y + 30))
        d.text(draw, (x + 56, y), r.name[:18], 11, d.BLACK, "ma")
        d.text(draw, (x + 56, y + 14), r.kind, 10, d.GREY, "ma")
        lines = []
        if r.psnr is not None:
            lines += [f"{r.psnr:.2f} dB", f"SSIM {r.ssim:.3f}"]
        if r.digit is not None:
            lines.append(f"digit {r.digit} ({100 * r.confidence:.0f}%)")
        for j, line in enumerate(lines):
            d.text(draw, (x + 56, y + 30 + 112 + 6 + 15 * j), line, 11, d.BLACK, "ma")
    return im
