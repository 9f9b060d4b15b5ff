#!/usr/bin/env python
"""Write digits that are NOT MNIST as a labelled folder (``OUT/0/…`` to ``OUT/9/…``), to try
``train --data`` and ``evaluate --folder`` on: scikit-learn's 8 × 8 digits (``load_digits``, 1,797
digits written by 43 people, UCI), upscaled with Pillow and saved as dark ink on white PNGs.

    python scripts/make_digit_folder.py OUT --size 64 --per-digit 40,50

``--per-digit A,B,...`` writes one folder per number, OUT/part1, OUT/part2, ..., with that many
digits of each class, disjoint (a seeded shuffle): e.g. a fine-tune part and a held-out part.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--size", type=int, default=64, help="image side in pixels (default: 64)")
    p.add_argument("--per-digit", default="40,50", help="digits of each class per part, comma-separated (default: 40,50)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from sklearn.datasets import load_digits

    digits = load_digits()
    parts = [int(n) for n in args.per_digit.split(",")]
    rng = np.random.default_rng(args.seed)
    if args.out.exists() and any(args.out.iterdir()):
        print(f"{args.out} exists and is not empty; give a new folder", file=sys.stderr)
        return 1
    for d in range(10):
        idx = rng.permutation(np.flatnonzero(digits.target == d))
        if sum(parts) > len(idx):
            print(f"only {len(idx)} digits of {d}; ask for fewer per part", file=sys.stderr)
            return 1
        start = 0
        for k, n in enumerate(parts, 1):
            folder = args.out / f"part{k}" / str(d)
            folder.mkdir(parents=True, exist_ok=True)
            for i in idx[start:start + n]:
                ink = digits.images[i] / 16.0  # 0 (paper) .. 1 (ink)
                small = Image.fromarray(np.uint8(np.rint(255 * (1.0 - ink))))  # dark ink on white, like a scan
                small.resize((args.size, args.size), Image.Resampling.BICUBIC).save(folder / f"sk{i:04d}.png")
            start += n
    print(f"wrote {', '.join(f'{args.out}/part{k} ({10 * n} digits)' for k, n in enumerate(parts, 1))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
