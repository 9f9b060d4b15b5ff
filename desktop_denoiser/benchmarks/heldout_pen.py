"""Synthetic pen trajectories of handwritten digits, in several writing styles, for held-out sets.

Not MNIST, and never trained on: per-digit stroke templates in the styles people write
(European 1s with a long flag and a foot, open-topped 4s, 9s with a curled tail, crossed 7s,
flat-topped 3s, looped 2s, ...), each drawn at random: every control point wobbled, the
polyline densified, its coordinates smoothed (a hand rounds its corners), then the whole digit
rotated, slanted, squeezed or widened, scaled and placed. :func:`trajectory` returns the strokes
as point lists; :func:`render` draws them as thick round-capped strokes, dark on white, like a
person drawing with a mouse on the app's 280 px canvas.

Templates are in a unit box, x to the right, y down.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Stroke = list  # [(x, y), ...]


def arc(cx, cy, rx, ry, a0, a1, n=None) -> Stroke:
    """Points of an ellipse from angle ``a0`` to ``a1`` (degrees; y down: 0 right, 90 bottom, -90 top)."""
    n = n or max(4, int(abs(a1 - a0) / 15) + 1)
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a))) for a in np.linspace(a0, a1, n)]


def _eight(top=0.85) -> Stroke:
    """A one-stroke figure eight from the top: top loop ``top`` times the bottom one's width."""
    pts = []
    for t in np.linspace(0, 2 * math.pi, 33):
        w = 0.32 * (top if (t < math.pi / 2 or t > 3 * math.pi / 2) else 1.0)
        pts.append((0.5 + w * math.sin(2 * t), 0.5 - 0.47 * math.cos(t)))
    return pts


# digit -> style name -> strokes
TEMPLATES: dict[int, dict[str, list[Stroke]]] = {
    0: {
        "oval": [arc(0.5, 0.5, 0.32, 0.47, -90, -450)],
        "overlap": [arc(0.5, 0.5, 0.3, 0.46, -60, -440)],
        "round": [arc(0.5, 0.52, 0.4, 0.44, -100, 250)],
    },
    1: {
        "bar": [[(0.5, 0.03), (0.49, 0.5), (0.5, 0.97)]],
        "flag": [[(0.33, 0.22), (0.53, 0.03), (0.52, 0.97)]],
        "european": [[(0.12, 0.45), (0.35, 0.24), (0.6, 0.03), (0.6, 0.97)], [(0.3, 0.97), (0.88, 0.97)]],
        "long-flag": [[(0.15, 0.4), (0.6, 0.03), (0.6, 0.97)]],
        "foot": [[(0.35, 0.15), (0.55, 0.03), (0.55, 0.97)], [(0.33, 0.97), (0.77, 0.97)]],
    },
    2: {
        "classic": [arc(0.5, 0.3, 0.33, 0.26, 200, 390) + [(0.13, 0.96), (0.9, 0.95)]],
        "loop": [arc(0.5, 0.3, 0.33, 0.26, 200, 390) + [(0.18, 0.86), (0.14, 0.96), (0.26, 0.98), (0.3, 0.88),
                                                        (0.45, 0.96), (0.9, 0.95)]],
        "z": [[(0.15, 0.2), (0.45, 0.04), (0.8, 0.14), (0.75, 0.4), (0.15, 0.96), (0.9, 0.94)]],
    },
    3: {
        "round": [arc(0.47, 0.26, 0.3, 0.23, -160, 90) + arc(0.47, 0.73, 0.35, 0.24, -90, 160)],
        "flat-top": [[(0.14, 0.05), (0.86, 0.05), (0.42, 0.42)] + arc(0.48, 0.7, 0.36, 0.27, -100, 160)],
        "two-arcs": [arc(0.47, 0.26, 0.3, 0.23, -160, 95), arc(0.5, 0.73, 0.34, 0.24, -95, 160)],
    },
    4: {
        "closed": [[(0.66, 0.03), (0.08, 0.66), (0.92, 0.66)], [(0.68, 0.3), (0.68, 0.97)]],
        "open": [[(0.25, 0.03), (0.15, 0.6), (0.9, 0.6)], [(0.7, 0.05), (0.7, 0.97)]],
        "open-short": [[(0.2, 0.05), (0.14, 0.55), (0.82, 0.55)], [(0.66, 0.25), (0.7, 0.97)]],
        "open-slanted": [[(0.3, 0.03), (0.1, 0.62), (0.92, 0.6)], [(0.75, 0.12), (0.62, 0.97)]],
    },
    5: {
        "two-strokes": [[(0.27, 0.04), (0.22, 0.45)] + arc(0.48, 0.68, 0.33, 0.28, -140, 150), [(0.27, 0.04), (0.85, 0.04)]],
        "one-stroke": [[(0.85, 0.04), (0.27, 0.04), (0.22, 0.45)] + arc(0.48, 0.68, 0.34, 0.28, -140, 150)],
        "round-belly": [[(0.8, 0.05), (0.3, 0.06), (0.26, 0.42)] + arc(0.5, 0.66, 0.36, 0.3, -130, 140)],
    },
    6: {
        "classic": [[(0.75, 0.04), (0.45, 0.2), (0.22, 0.5), (0.2, 0.75)] + arc(0.5, 0.73, 0.3, 0.24, 180, -160)],
        "straight": [[(0.62, 0.03), (0.3, 0.45), (0.2, 0.75)] + arc(0.5, 0.74, 0.3, 0.23, 180, -170)],
        "big-loop": [[(0.7, 0.03), (0.3, 0.3), (0.18, 0.65)] + arc(0.5, 0.68, 0.32, 0.29, 180, -175)],
    },
    7: {
        "plain": [[(0.1, 0.07), (0.9, 0.07), (0.42, 0.97)]],
        "crossed": [[(0.1, 0.07), (0.9, 0.07), (0.42, 0.97)], [(0.3, 0.5), (0.82, 0.5)]],
        "hook": [[(0.1, 0.2), (0.12, 0.07), (0.9, 0.07), (0.58, 0.5), (0.46, 0.97)]],
        "curved": [[(0.12, 0.1), (0.88, 0.07), (0.65, 0.35), (0.5, 0.65), (0.45, 0.97)]],
    },
    8: {
        "one-stroke": [_eight(0.85)],
        "even": [_eight(1.0)],
        "two-circles": [arc(0.5, 0.26, 0.25, 0.23, -90, 270), arc(0.5, 0.73, 0.32, 0.24, -90, 270)],
    },
    9: {
        "straight": [arc(0.45, 0.28, 0.3, 0.25, 0, -360) + [(0.75, 0.97)]],
        "curled": [arc(0.45, 0.28, 0.3, 0.25, 0, -360) + [(0.75, 0.7), (0.66, 0.92), (0.45, 0.98), (0.25, 0.88)]],
        "slanted": [arc(0.5, 0.27, 0.3, 0.24, 10, -350) + [(0.62, 0.97)]],
        "two-strokes": [arc(0.45, 0.28, 0.3, 0.25, -10, -370), [(0.76, 0.2), (0.74, 0.97)]],
    },
}


def styles(digit: int) -> list[str]:
    return list(TEMPLATES[digit])


def _densify(stroke: Sequence, step: float) -> np.ndarray:
    pts = np.asarray(stroke, np.float64)
    out = [pts[0]]
    for a, b in zip(pts[:-1], pts[1:]):
        k = max(1, int(math.ceil(np.linalg.norm(b - a) / step)))
        out.extend(a + (b - a) * t for t in np.arange(1, k + 1) / k)
    return np.asarray(out)


def trajectory(digit: int, rng: np.random.Generator, style: str | None = None, box: float = 1.0) -> list[np.ndarray]:
    """One random drawing of ``digit`` (``style``, default a random one): strokes as (K, 2)
    arrays of points, the digit about ``box`` tall, centred on (0, 0)."""
    from scipy.ndimage import gaussian_filter1d

    style = style or str(rng.choice(styles(digit)))
    wobble = rng.uniform(0.01, 0.035)
    angle = math.radians(rng.uniform(-10, 10))
    slant = rng.uniform(-0.3, 0.3)  # the top moves right for a positive slant
    squeeze = rng.uniform(0.75, 1.15)
    cos, sin = math.cos(angle), math.sin(angle)
    out = []
    for stroke in TEMPLATES[digit][style]:
        jitter = wobble if len(stroke) <= 6 else wobble / 3  # a polyline's corners move, an arc's points barely
        pts = _densify(np.asarray(stroke, np.float64) + rng.normal(0, jitter, (len(stroke), 2)), 0.02)
        drift = gaussian_filter1d(rng.normal(0, 2.5 * wobble, pts.shape), 6.0, axis=0, mode="nearest")  # a slow hand tremor
        pts = gaussian_filter1d(pts + drift, 1.5, axis=0, mode="nearest")
        x, y = (pts[:, 0] - 0.5) * squeeze, pts[:, 1] - 0.5
        x = x - slant * y
        x, y = cos * x - sin * y, sin * x + cos * y
        out.append(np.stack([x, y], 1) * box)
    return out


def place(strokes: list[np.ndarray], size: float, rng: np.random.Generator, fill=(0.5, 0.8), margin: float = 0.06) -> list[np.ndarray]:
    """The strokes scaled so that the digit is ``fill`` (a random fraction in that range) of a
    ``size`` px canvas tall, and put at a random place that keeps it inside."""
    allp = np.concatenate(strokes)
    lo, hi = allp.min(0), allp.max(0)
    scale = rng.uniform(*fill) * size / max(hi[1] - lo[1], 1e-6)
    extent = (hi - lo) * scale
    room = np.maximum(size * (1 - 2 * margin) - extent, 0)
    origin = size * margin + rng.uniform(0, 1, 2) * room
    return [(s - lo) * scale + origin for s in strokes]


def render(strokes: list[np.ndarray], size: int, width: float, supersample: int = 2) -> np.ndarray:
    """The strokes drawn as round-capped polylines ``width`` px thick, dark ink (20) on white,
    antialiased by drawing at ``supersample`` times the size: a (size, size) uint8 array."""
    from PIL import Image, ImageDraw

    big = size * supersample
    img = Image.new("L", (big, big), 255)
    draw = ImageDraw.Draw(img)
    w = max(1, int(round(width * supersample)))
    for s in strokes:
        pts = [(float(x) * supersample, float(y) * supersample) for x, y in s]
        if len(pts) > 1:
            draw.line(pts, fill=20, width=w, joint="curve")
        r = w / 2
        for x, y in (pts[0], pts[-1]):  # round caps
            draw.ellipse((x - r, y - r, x + r, y + r), fill=20)
    return np.asarray(img.resize((size, size), Image.Resampling.LANCZOS), np.uint8)
