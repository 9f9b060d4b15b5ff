"""Small drawing primitives for the lab's figures, with Pillow only (matplotlib is not a
dependency): fonts, the class palette, image tiles, arrows, markers, a scatter plot frame."""

from __future__ import annotations

import functools
import io
import math
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GREY = (120, 120, 120)
LIGHT = (225, 225, 225)
# one colour per digit class (the usual ten-colour qualitative palette)
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
MARKER_COLOURS = {"clean": (0, 0, 0), "noisy": (200, 0, 0), "reconstruction": (0, 140, 0)}


FONT_FILES = ("DejaVuSans.ttf", "Arial.ttf", "arial.ttf")  # with arrows, ², σ, ×; found by Pillow in the system's fonts
ASCII = {"→": "->", "²": "^2", "σ": "sigma ", "×": "x", "∘": "o", "–": "-", "…": "..."}  # for a font without them


@functools.lru_cache(maxsize=8)
def font(size: int = 13):
    """A system font with the few symbols the figures use, else Pillow's own (then the text is
    written with :data:`ASCII` replacements)."""
    for name in FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, AttributeError):
        return ImageFont.load_default()


def _printable(s: str, size: int) -> str:
    path = getattr(font(size), "path", "")
    if isinstance(path, str) and path.endswith(FONT_FILES):
        return s
    for symbol, plain in ASCII.items():
        s = s.replace(symbol, plain)
    return s


def text_size(draw: ImageDraw.ImageDraw, text: str, size: int = 13) -> tuple[int, int]:
    left, top, right, bottom = draw.textbbox((0, 0), _printable(text, size), font=font(size))
    return right - left, bottom - top


def text(draw: ImageDraw.ImageDraw, xy, s: str, size: int = 13, fill=BLACK, anchor: str = "la") -> None:
    draw.text(xy, _printable(s, size), fill=fill, font=font(size), anchor=anchor)


def canvas(width: int, height: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (int(width), int(height)), WHITE)
    return image, ImageDraw.Draw(image)


def tile(image, scale: int = 3, border: Optional[tuple] = None) -> Image.Image:
    """A (h, w) image in [0, 1] as an RGB tile, white digit on black as MNIST, ``scale``× larger."""
    a = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    im = Image.fromarray((a * 255).round().astype(np.uint8)).convert("RGB")
    im = im.resize((a.shape[1] * scale, a.shape[0] * scale), Image.Resampling.NEAREST)
    if border is not None:
        ImageDraw.Draw(im).rectangle([0, 0, im.width - 1, im.height - 1], outline=border, width=2)
    return im


def signed_tile(values, scale: int = 8, limit: Optional[float] = None) -> Image.Image:
    """Signed values (h, w) as blue (negative) – white – red (positive)."""
    v = np.asarray(values, np.float32)
    m = float(limit if limit is not None else np.max(np.abs(v)) or 1.0)
    t = np.clip(v / m, -1.0, 1.0)[..., None]
    pos = np.array([214, 39, 40], np.float32)
    neg = np.array([31, 119, 180], np.float32)
    white = np.array([255, 255, 255], np.float32)
    rgb = np.where(t >= 0, white + t * (pos - white), white - t * (neg - white))
    im = Image.fromarray(rgb.round().astype(np.uint8), "RGB")
    return im.resize((v.shape[1] * scale, v.shape[0] * scale), Image.Resampling.NEAREST)


def normalised(values) -> np.ndarray:
    """Values scaled to [0, 1] by their own min and max (a feature map to look at)."""
    v = np.asarray(values, np.float32)
    lo, hi = float(np.min(v)), float(np.max(v))
    return np.zeros_like(v) if hi - lo < 1e-12 else (v - lo) / (hi - lo)


def arrow(draw: ImageDraw.ImageDraw, start, end, fill=BLACK, width: int = 2, head: float = 9.0) -> None:
    (x0, y0), (x1, y1) = start, end
    draw.line([(x0, y0), (x1, y1)], fill=fill, width=width)
    length = math.hypot(x1 - x0, y1 - y0)
    if length < 1e-6:
        return
    head = min(head, 0.6 * length)
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    left = (x1 - head * ux + 0.5 * head * uy, y1 - head * uy - 0.5 * head * ux)
    right = (x1 - head * ux - 0.5 * head * uy, y1 - head * uy + 0.5 * head * ux)
    draw.polygon([(x1, y1), left, right], fill=fill)


def marker(draw: ImageDraw.ImageDraw, xy, kind: str, size: float = 8.0) -> None:
    """The live markers: clean ○, noisy ✕, reconstruction ◆ (black outline, white halo)."""
    x, y = xy
    colour = MARKER_COLOURS.get(kind, BLACK)
    if kind == "noisy":
        for w, c in ((6, WHITE), (3, colour)):
            draw.line([(x - size, y - size), (x + size, y + size)], fill=c, width=w)
            draw.line([(x - size, y + size), (x + size, y - size)], fill=c, width=w)
    elif kind == "reconstruction":
        pts = [(x, y - size - 2), (x + size + 2, y), (x, y + size + 2), (x - size - 2, y)]
        draw.polygon(pts, fill=colour, outline=WHITE, width=2)
    else:
        draw.ellipse([x - size, y - size, x + size, y + size], fill=WHITE, outline=colour, width=3)


class Frame:
    """A plot area (left, top, width, height) mapping data (x0..x1, y0..y1) to pixels, y up."""

    def __init__(self, box, extent, pad: float = 0.04):
        self.left, self.top, self.width, self.height = box
        x0, x1, y0, y1 = extent
        dx, dy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
        self.x0, self.x1 = x0 - pad * dx, x1 + pad * dx
        self.y0, self.y1 = y0 - pad * dy, y1 + pad * dy

    def __call__(self, points) -> np.ndarray:
        p = np.asarray(points, np.float64).reshape(-1, 2)
        px = self.left + (p[:, 0] - self.x0) / (self.x1 - self.x0) * self.width
        py = self.top + (1.0 - (p[:, 1] - self.y0) / (self.y1 - self.y0)) * self.height
        return np.stack([px, py], axis=1)

    def inside(self, pixels) -> np.ndarray:
        p = np.asarray(pixels)
        return ((p[:, 0] >= self.left) & (p[:, 0] <= self.left + self.width)
                & (p[:, 1] >= self.top) & (p[:, 1] <= self.top + self.height))

    def draw_box(self, draw: ImageDraw.ImageDraw, xlabel: str = "", ylabel: str = "", ticks=None) -> None:
        """The box, three ticks per axis (at the ends and the middle) and the labels; ``ticks``
        ((x0, xmid, x1), (y0, ymid, y1)) labels an axis that is not linear."""
        left, t, w, h = self.left, self.top, self.width, self.height
        draw.rectangle([left, t, left + w, t + h], outline=GREY, width=1)
        for k, frac in enumerate((0.0, 0.5, 1.0)):
            xv = self.x0 + frac * (self.x1 - self.x0) if ticks is None else ticks[0][k]
            yv = self.y0 + frac * (self.y1 - self.y0) if ticks is None else ticks[1][k]
            text(draw, (left + frac * w, t + h + 4), f"{xv:.3g}", 11, GREY, "ma")
            text(draw, (left - 4, t + (1 - frac) * h), f"{yv:.3g}", 11, GREY, "rm")
        if xlabel:
            text(draw, (left + w / 2, t + h + 20), xlabel, 12, GREY, "ma")
        if ylabel:
            text(draw, (max(left - 50, 4), t - 8), ylabel, 12, GREY, "ls")


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
