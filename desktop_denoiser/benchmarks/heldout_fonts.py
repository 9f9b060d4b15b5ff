"""Digits written with handwriting-style fonts, for held-out sets (never trained on).

The fonts are Debian's handwriting and script packages (``apt-get install fonts-dkg-handwriting
fonts-breip fonts-rufscript fonts-sjfonts fonts-kristi fonts-dancingscript fonts-kaushanscript``);
:func:`available` lists those installed (an outline font, ``fonts-femkeklaver``, is left out: its
digits are hollow). :func:`glyph` draws one digit large, at a random slant, rotation and stroke
width, as a float ink image (1 = ink) cropped to the digit.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

FONT_FILES = (
    "truetype/breip/Breip.ttf",
    "truetype/fifthhorseman/dkg.ttf",
    "truetype/fifthhorseman/dkgBd.ttf",
    "truetype/kristi/Kristi.ttf",
    "truetype/rufscript/Rufscript010.ttf",
    "truetype/sjfonts/Delphine.ttf",
    "truetype/sjfonts/SteveHand.ttf",
    "opentype/dancingscript/DancingScript-Regular.otf",
    "opentype/dancingscript/DancingScript-Bold.otf",
    "opentype/kaushanscript/KaushanScript-Regular.otf",
)
FONT_ROOT = Path("/usr/share/fonts")
GLYPH_PX = 160  # the font size the glyphs are drawn at


def available() -> list[Path]:
    """The handwriting fonts installed, in :data:`FONT_FILES` order."""
    return [FONT_ROOT / f for f in FONT_FILES if (FONT_ROOT / f).is_file()]


def glyph(font: Path, digit: int, rng: np.random.Generator) -> np.ndarray:
    """``digit`` in ``font``: slant ±0.25, rotation ±6°, strokes thinner or bolder; a float32
    ink image (1 = ink), cropped to the digit with a small margin."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    f = ImageFont.truetype(str(font), GLYPH_PX)
    side = GLYPH_PX * 2
    img = Image.new("L", (side, side), 0)
    bold = int(rng.integers(0, 7))  # extra outline in px (a bolder pen)
    ImageDraw.Draw(img).text((side // 4, side // 8), str(digit), font=f, fill=255, stroke_width=bold, stroke_fill=255)
    if rng.random() < 0.25:
        img = img.filter(ImageFilter.MinFilter(5))  # a thinner pen
    slant, angle = rng.uniform(-0.25, 0.25), rng.uniform(-6, 6)
    c = side / 2
    # output -> input: x_in = x + slant * (y - c) slants the top to the right for a positive slant
    img = img.transform((side, side), Image.Transform.AFFINE, (1, slant, -slant * c, 0, 1, 0), Image.Resampling.BILINEAR)
    img = img.rotate(angle, Image.Resampling.BILINEAR)
    a = np.asarray(img, np.float32) / 255.0
    ys, xs = np.nonzero(a > 0.1)
    if not len(ys):
        raise ValueError(f"{font.name} has no glyph for {digit}")
    m = int(math.ceil(0.04 * side))
    return a[max(0, ys.min() - m): ys.max() + m + 1, max(0, xs.min() - m): xs.max() + m + 1]
