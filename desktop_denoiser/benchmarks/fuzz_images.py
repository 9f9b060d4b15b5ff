#!/usr/bin/env python3
"""Fuzz the image loader and the MNIST preprocessing with mutated PNG, JPEG, BMP and GIF files.

    python -m desktop_denoiser.benchmarks.fuzz_images [SECONDS] [--seed N]

Every mutated file goes through ``load_image`` and, when it loads, ``to_mnist``. The only
acceptable outcomes are an image or :class:`ImageError`; any other exception is a crash: the
input is saved to ``tests/data/fuzz_crashes/`` (created only when there is one) so
``tests/test_imageio.py`` replays it as a regression test. Prints outcome counts at the end and
exits with status 1 if anything crashed.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import struct
import sys
import tempfile
import time
import traceback
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]  # the checkout (the fuzzer saves crashes into its tests/)
sys.path.insert(0, str(ROOT))

from desktop_denoiser.core.errors import ImageError  # noqa: E402
from desktop_denoiser.core.imageio import load_image  # noqa: E402
from desktop_denoiser.core.preprocess import to_mnist  # noqa: E402

CRASH_DIR = ROOT / "tests" / "data" / "fuzz_crashes"


# ----------------------------------------------------------------------------------------------
# Seed files


def _digit_like(size=(40, 32)) -> np.ndarray:
    w, h = size
    rng = np.random.default_rng(0)
    a = np.full((h, w), 235, np.uint8)
    a[4 : h - 4, w // 2 - 2 : w // 2 + 2] = 20
    a[4:8, w // 4 : w // 2] = 30
    return np.clip(a.astype(int) + rng.integers(-15, 15, a.shape), 0, 255).astype(np.uint8)


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def seed_files() -> list[tuple[str, bytes]]:
    g = _digit_like()
    L = Image.fromarray(g)
    rgb = Image.merge("RGB", [L, L.point(lambda v: v // 2), L])
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray(255 - g))
    p = rgb.convert("P", palette=Image.ADAPTIVE, colors=16)
    i16 = Image.fromarray(g.astype(np.uint16) * 257)
    frame2 = Image.fromarray(255 - g)
    seeds = [
        ("png", _encode(L, "PNG")),
        ("png", _encode(rgb, "PNG")),
        ("png", _encode(rgba, "PNG")),
        ("png", _encode(p, "PNG", transparency=0)),
        ("png", _encode(i16, "PNG")),
        ("png", _encode(L.convert("LA"), "PNG")),
        ("png", _encode(L.convert("1"), "PNG")),
        ("png", _encode(L, "PNG", save_all=True, append_images=[frame2], duration=50)),
        ("jpg", _encode(rgb, "JPEG", quality=80)),
        ("jpg", _encode(L, "JPEG", quality=60, progressive=True)),
        ("bmp", _encode(rgb, "BMP")),
        ("bmp", _encode(p, "BMP")),
        ("bmp", _encode(L.convert("1"), "BMP")),
        ("gif", _encode(L, "GIF", save_all=True, append_images=[frame2], duration=50)),
    ]
    return seeds


# ----------------------------------------------------------------------------------------------
# Mutations


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute chunk CRCs so mutations reach the PNG decoder instead of the CRC check."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out, pos = bytearray(data[:8]), 8
    while pos + 12 <= len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + n
        if end > len(data):
            break
        out += data[pos : pos + 8 + n] + struct.pack(">I", zlib.crc32(data[pos + 4 : pos + 8 + n]) & 0xFFFFFFFF)
        pos = end
    return bytes(out + data[pos:])


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        op = int(rng.integers(0, 8))
        n = len(b)
        if op == 0 and n:  # bit flips
            for _ in range(int(rng.integers(1, 9))):
                i = int(rng.integers(0, n))
                b[i] ^= 1 << int(rng.integers(0, 8))
        elif op == 1 and n:  # truncation
            del b[int(rng.integers(0, n)) :]
        elif op == 2:  # insertion
            i = int(rng.integers(0, n + 1))
            b[i:i] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
        elif op == 3 and n:  # overwrite
            i = int(rng.integers(0, n))
            k = int(rng.integers(1, 16))
            b[i : i + k] = rng.integers(0, 256, k, dtype=np.uint8).tobytes()
        elif op == 4 and n > 40:  # header fields: sizes, depth, colour type, offsets
            i = int(rng.integers(2, 40))
            b[i] = int(rng.choice([0, 1, 2, 3, 4, 6, 8, 16, 0x7F, 0x80, 0xFF, int(rng.integers(0, 256))]))
        elif op == 5 and n > 16:  # duplicate a slice
            i = int(rng.integers(0, n))
            k = int(rng.integers(1, min(256, n - i) + 1))
            j = int(rng.integers(0, n))
            b[j:j] = b[i : i + k]
        elif op == 6 and n > 16:  # delete a slice
            i = int(rng.integers(0, n))
            del b[i : i + int(rng.integers(1, 64))]
        elif op == 7 and n > 8:  # interesting 32-bit values
            i = int(rng.integers(0, n - 4))
            v = int(rng.choice([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 65535, 65536, 100000]))
            b[i : i + 4] = struct.pack(">I", v)
    out = bytes(b)
    if rng.random() < 0.5:
        out = fix_png_crcs(out)
    return out


# ----------------------------------------------------------------------------------------------


def run(seconds: float, seed: int) -> int:
    rng = np.random.default_rng(seed)
    seeds = seed_files()
    counts: collections.Counter[str] = collections.Counter()
    crashes: dict[str, str] = {}
    slowest = (0.0, "")
    t_end = time.monotonic() + seconds
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        i = 0
        while time.monotonic() < t_end:
            ext, base = seeds[int(rng.integers(0, len(seeds)))]
            data = mutate(base, rng)
            path = tmpdir / f"case.{ext}"
            path.write_bytes(data)
            t0 = time.perf_counter()
            try:
                im = load_image(path)
                out = to_mnist(im)
                if out.shape != (28, 28) or not np.isfinite(out).all() or out.min() < 0 or out.max() > 1:
                    raise AssertionError(f"to_mnist returned a bad array {out.shape} {out.min()} {out.max()}")
                counts["image"] += 1
            except ImageError:
                counts["ImageError"] += 1
            except Exception as exc:  # noqa: BLE001 - this is what we are looking for
                kind = type(exc).__name__
                counts[f"CRASH {kind}"] += 1
                digest = hashlib.sha1(data).hexdigest()[:16]
                CRASH_DIR.mkdir(parents=True, exist_ok=True)
                target = CRASH_DIR / f"{kind}_{digest}.{ext}"
                target.write_bytes(data)
                crashes[str(target)] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            dt = time.perf_counter() - t0
            if dt > slowest[0]:
                slowest = (dt, f"{ext} seed case #{i}")
            i += 1
    total = sum(counts.values())
    print(f"fuzzed {total} inputs in {seconds:.0f} s ({total / max(seconds, 1e-9):.0f}/s), seed {seed}")
    for k, v in sorted(counts.items()):
        print(f"  {k:20s} {v:7d}  ({100.0 * v / max(total, 1):.1f} %)")
    print(f"  slowest case: {slowest[0] * 1000:.0f} ms ({slowest[1]})")
    for path, msg in crashes.items():
        print(f"  crash saved: {path}: {msg}")
    return 1 if crashes else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("seconds", nargs="?", type=float, default=120.0, help="how long to fuzz (default 120)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: time based)")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    return run(args.seconds, seed)


if __name__ == "__main__":
    sys.exit(main())
