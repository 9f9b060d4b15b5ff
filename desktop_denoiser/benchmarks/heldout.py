"""Held-out handwriting that is not MNIST: the sets the generalisation table measures on.

    python -m desktop_denoiser.benchmarks.heldout --out ~/heldout-digits [--scale 0.1]

builds, into a folder *outside* the repository (datasets are never committed), one labelled
folder per set, ``SET/0/ … SET/9/`` of PNG files (the layout ``evaluate --folder`` and
``train --data`` read), a ``README.md`` that says what each set is, and ``manifest.json``
(seed, sizes, version). The generator is deterministic: the same seed and scale give the same
files, byte for byte. The sources are never MNIST and nothing here is ever trained on:

* pen trajectories synthesised from per-digit stroke templates in several writing styles
  (:mod:`heldout_pen`), randomly perturbed;
* handwriting-style fonts (:mod:`heldout_fonts`) at random slant, rotation and stroke width;
* scikit-learn's 8 × 8 digits (``sklearn.datasets.load_digits``, 1,797 digits of 43 writers
  from the UCI collection, another collection than MNIST's).

The four kinds of the issue are :data:`KINDS`; the canvas kind is drawn through the real canvas
widget by :mod:`heldout_canvas` (Qt, offscreen) and kept as PNGs too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from . import heldout_fonts, heldout_pen

VERSION = 1
SEED = 20261201
REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class HeldoutSet:
    name: str
    kind: str  # which of the kinds it stands for
    source: str
    made: str
    per_digit: int  # images per digit at scale 1 (sklearn: all of them)


SETS = (
    HeldoutSet("pen-280", "a: thick strokes on a 280 px canvas (PNG)", "synthetic pen trajectories, 3–5 writing styles per digit",
               "drawn as round-capped polylines 12–30 px wide, dark on white, the digit 45–85% of the 280 px canvas tall", 200),
    HeldoutSet("pen-canvas", "a: the same, drawn through the app's canvas", "synthetic pen trajectories (other seeds)",
               "Qt mouse press/move/release on the real DrawingCanvas (offscreen), brush 12–30 px; the canvas saved as PNG", 50),
    HeldoutSet("grey16-x4", "b: 16 px grey scans upscaled to 64 px", "pen trajectories (60%) and 10 handwriting fonts (40%)",
               "digit fitted to a 16 px frame, area-averaged to 16 × 16 grey, dark on white, upscaled ×4 (bilinear or nearest)", 200),
    HeldoutSet("bin32-x3", "c: 32 px binary bitmaps upscaled ×3", "pen trajectories (60%) and 10 handwriting fonts (40%)",
               "digit fitted to a 32 px frame, area-averaged, thresholded at 50%, white on black, upscaled ×3 (nearest)", 200),
    HeldoutSet("bin16-x3", "d: 16 px binary bitmaps upscaled ×3", "pen trajectories (60%) and 10 handwriting fonts (40%)",
               "digit fitted to a 16 px frame, area-averaged, thresholded at 50%, white on black, upscaled ×3 (nearest)", 200),
    HeldoutSet("sklearn-8x8", "extra: 8 px grey (harder than b)", "scikit-learn's load_digits (UCI, 43 writers)",
               "the 8 × 8 counts (0–16) as grey, white on black, upscaled ×8 to 64 px (bilinear)", 0),
)
KINDS = {s.name: s for s in SETS}
PEN_SHARE = 0.6  # of the low-resolution sets' digits, the rest from fonts


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, VERSION] + [ord(c) for c in name])


# ---------------------------------------------------------------------------------------------
# the digits, as ink images (float, 1 = ink, cropped to the digit)


def pen_ink(digit: int, rng: np.random.Generator) -> np.ndarray:
    """A pen-trajectory digit drawn large, stroke 7–16% of its height, as a cropped ink image."""
    strokes = heldout_pen.place(heldout_pen.trajectory(digit, rng), 256, rng, fill=(0.8, 0.8))
    height = np.ptp(np.concatenate(strokes)[:, 1])
    img = heldout_pen.render(strokes, 256, rng.uniform(0.07, 0.16) * height)
    ink = 1.0 - img.astype(np.float32) / 255.0
    ys, xs = np.nonzero(ink > 0.05)
    return ink[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]


def fit(ink: np.ndarray, size: int, rng: np.random.Generator, binary: bool) -> np.ndarray:
    """``ink`` fitted into a ``size`` px square frame (its height 80–100% of the frame, the
    aspect kept, centred) and area-averaged to ``size`` × ``size``; thresholded at 0.5 when
    ``binary``. Float in [0, 1], 1 = ink."""
    from PIL import Image

    fine = size * 8
    h, w = ink.shape
    scale = min(rng.uniform(0.8, 1.0) * fine / h, fine / w)
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    img = Image.fromarray((np.clip(ink, 0, 1) * 255).astype(np.uint8)).resize((nw, nh), Image.Resampling.LANCZOS)
    canvas = np.zeros((fine, fine), np.float32)
    y0, x0 = (fine - nh) // 2, (fine - nw) // 2
    canvas[y0: y0 + nh, x0: x0 + nw] = np.asarray(img, np.float32) / 255.0
    small = canvas.reshape(size, 8, size, 8).mean(axis=(1, 3))  # area average
    return (small >= 0.5).astype(np.float32) if binary else small


def upscale(small: np.ndarray, factor: int, nearest: bool, dark_on_white: bool) -> np.ndarray:
    """A small ink image as uint8 pixels ``factor`` times larger."""
    from PIL import Image

    pixels = (255 * (1 - small) if dark_on_white else 255 * small).round().astype(np.uint8)
    size = (small.shape[1] * factor, small.shape[0] * factor)
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR))


def pen_canvas_png(digit: int, rng: np.random.Generator) -> np.ndarray:
    """A pen-trajectory digit drawn on a 280 px canvas, brush 12–30 px, dark on white."""
    strokes = heldout_pen.place(heldout_pen.trajectory(digit, rng), 280, rng, fill=(0.45, 0.85))
    return heldout_pen.render(strokes, 280, rng.uniform(12, 30))


def low_res_digits(name: str, digit: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` images of ``digit`` for a low-resolution set: pens first, then fonts in turn."""
    size, binary, factor = {"grey16-x4": (16, False, 4), "bin32-x3": (32, True, 3), "bin16-x3": (16, True, 3)}[name]
    fonts = heldout_fonts.available()
    n_pen = count if not fonts else int(round(PEN_SHARE * count))
    out = []
    for i in range(count):
        ink = pen_ink(digit, rng) if i < n_pen else heldout_fonts.glyph(fonts[(i - n_pen) % len(fonts)], digit, rng)
        small = fit(ink, size, rng, binary)
        nearest = True if binary else bool(i % 2)
        out.append(upscale(small, factor, nearest, dark_on_white=not binary))
    return out


def sklearn_digits() -> tuple[list[np.ndarray], np.ndarray]:
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    imgs = [np.asarray(Image.fromarray((im / 16.0 * 255).round().astype(np.uint8)).resize((64, 64), Image.Resampling.BILINEAR))
            for im in d.images]
    return imgs, d.target.astype(int)


# ---------------------------------------------------------------------------------------------
# writing the sets


def check_outside_repo(root: Path) -> None:
    """Datasets are never committed: refuse a folder inside the source tree."""
    from desktop_denoiser.core.errors import DenoiserError

    r = root.expanduser().resolve()
    if r == REPO or REPO in r.parents:
        raise DenoiserError(f"{root} is inside the source tree ({REPO}); build the held-out sets outside it.")


def _write_set(root: Path, name: str, images: list[np.ndarray], labels) -> dict:
    """Write one set into ``root/name`` atomically (a temporary folder renamed at the end)."""
    from PIL import Image

    tmp = root / f".{name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    counts = {d: 0 for d in range(10)}
    for img, label in zip(images, labels):
        folder = tmp / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{name}-{int(label)}-{counts[int(label)]:05d}.png", optimize=False)
        counts[int(label)] += 1
    final = root / name
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return counts


def make(name: str, per_digit: int, seed: int) -> tuple[list[np.ndarray], list[int]]:
    """The images and labels of set ``name`` (``per_digit`` each), deterministically from ``seed``."""
    if name == "sklearn-8x8":
        imgs, labels = sklearn_digits()
        return imgs, list(labels)
    if name == "pen-canvas":
        from . import heldout_canvas

        return heldout_canvas.draw_set(per_digit, _rng(seed, name))
    rng = _rng(seed, name)
    images, labels = [], []
    for digit in range(10):
        made = [pen_canvas_png(digit, rng) for _ in range(per_digit)] if name == "pen-280" else low_res_digits(name, digit, per_digit, rng)
        images += made
        labels += [digit] * len(made)
    return images, labels


def build(root, scale: float = 1.0, seed: int = SEED, names=None, log: Callable[[str], None] = print) -> dict:
    """Build the sets (all, or ``names``) into ``root`` (outside the repo); a set already built with
    the same version, seed and size is kept. Returns the manifest."""
    root = Path(root).expanduser()
    check_outside_repo(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    sets = manifest.setdefault("sets", {})
    for s in SETS:
        if names and s.name not in names:
            continue
        per_digit = max(1, int(round(s.per_digit * scale))) if s.per_digit else 0
        want = {"version": VERSION, "seed": seed, "per_digit": per_digit}
        if all(sets.get(s.name, {}).get(k) == v for k, v in want.items()) and (root / s.name).is_dir():
            continue
        log(f"held-out: building {s.name} ({per_digit or 'all'} per digit)…")
        images, labels = make(s.name, per_digit, seed)
        counts = _write_set(root, s.name, images, labels)
        sets[s.name] = dict(want, images=sum(counts.values()), per_digit_counts=counts)
        manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    (root / "README.md").write_text(describe(manifest))
    return manifest


def describe(manifest: Optional[dict] = None) -> str:
    """The README of the sets: a Markdown table of what each is, how it was made, its size."""
    sets = (manifest or {}).get("sets", {})
    lines = ["| set | kind | source | how it was made | images |", "|---|---|---|---|---|"]
    for s in SETS:
        n = sets.get(s.name, {}).get("images")
        size = f"{n:,}" if n else ("1,797" if s.name == "sklearn-8x8" else f"{10 * s.per_digit:,}")
        lines.append(f"| `{s.name}` | {s.kind} | {s.source} | {s.made} | {size} |")
    fonts = ", ".join(p.stem for p in heldout_fonts.available()) or "none installed"
    return ("# Held-out handwriting (never trained on, not MNIST)\n\n" + "\n".join(lines)
            + f"\n\nFonts: {fonts}. Seed {(manifest or {}).get('sets', {}).get('pen-280', {}).get('seed', SEED)}, "
              f"generator version {VERSION}: `python -m desktop_denoiser.benchmarks.heldout --out DIR`.\n")


def default_root() -> Path:
    """Where the benchmark keeps the sets: $DESKTOP_DENOISER_HELDOUT, else a cache folder."""
    env = os.environ.get("DESKTOP_DENOISER_HELDOUT")
    return Path(env) if env else Path.home() / ".cache" / "desktop-denoiser" / "heldout"


def cli(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m desktop_denoiser.benchmarks.heldout", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help=f"folder outside the repository (default: {default_root()})")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the default sizes (default: 1)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--sets", default=None, help="comma-separated subset of: " + ", ".join(KINDS))
    args = p.parse_args(argv)
    from desktop_denoiser.core.errors import DenoiserError

    try:
        build(args.out or default_root(), args.scale, args.seed, args.sets.split(",") if args.sets else None,
              log=lambda t: print(t, file=sys.stderr))
    except DenoiserError as exc:
        print(f"heldout: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(cli())
