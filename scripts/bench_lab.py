#!/usr/bin/env python
"""Time the autoencoder lab's computations on the bundled models and print a table.

    python scripts/bench_lab.py [--models dense-uniform,conv-blur+uniform,dense-2d] [--repeat 200] [--tsne]

Budgets (issue 13), on this 2-core CPU:
* the PCA map of 5,000 test digits ready (encoding them included): ≤ 3 s;
* the window's frame, denoise + classify (Pipeline.run) + the lab's live markers (encode the
  input, its noisy version and the reconstruction in one call, then project): ≤ 5 ms median;
* a 12-step interpolation (encode 2, decode 12, classify 24, one compiled call): ≤ 50 ms.
Iterated denoising and the layers view are timed too; ``--tsne`` adds the t-SNE map (minutes).
Timings are medians of ``--repeat`` calls after a warm-up; a loaded machine gives larger ones.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BUDGETS = {"map_s": 3.0, "frame_ms": 5.0, "interp_ms": 50.0}


def _median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def bench_model(store, name: str, repeat: int, tsne: bool) -> dict:
    from desktop_denoiser.core import lab as lab_mod
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.lab.interpolate import interpolate
    from desktop_denoiser.core.lab.iterate import iterate
    from desktop_denoiser.core.noise import NoiseSpec

    t0 = time.perf_counter()
    lab = lab_mod.load(store, name)
    row = {"model": name, "code": lab.bottleneck.description, "ready_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    images, labels = lab_mod.mnist_digits(5000)
    lmap = lab_mod.build_map(lab, images, labels, "pca")
    row["map_s"] = time.perf_counter() - t0
    pipe, _, _ = workflows.load_pipeline(store, name)
    clean = images[0]
    noisy = NoiseSpec.parse("uniform:0.5").apply(clean, seed=0)
    recon = pipe.run(noisy).reconstruction
    row["markers_ms"] = _median_ms(lambda: lmap.markers(lab, noisy=noisy, clean=clean, reconstruction=recon), repeat)
    row["pipeline_ms"] = _median_ms(lambda: pipe.run(noisy), repeat)

    def frame():
        p = pipe.run(noisy)
        lmap.markers(lab, noisy=noisy, clean=clean, reconstruction=p.reconstruction)

    row["frame_ms"] = _median_ms(frame, repeat)
    row["interp_ms"] = _median_ms(lambda: interpolate(lab, images[0], images[1], 12), max(repeat // 4, 10))
    result = iterate(lab, noisy, max_steps=30)
    row["iterate_ms"] = _median_ms(lambda: iterate(lab, noisy, max_steps=30), max(repeat // 10, 5))
    row["iterate_steps"] = result.steps
    row["layers_ms"] = _median_ms(lambda: lab.layers(noisy), max(repeat // 4, 10))
    if tsne and lab_mod.tsne_available():
        t0 = time.perf_counter()
        lab_mod.build_map(lab, images, labels, "tsne")
        row["tsne_s"] = time.perf_counter() - t0
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="dense-uniform,conv-blur+uniform,dense-2d")
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--tsne", action="store_true", help="also time the t-SNE map of 5,000 digits (minutes)")
    args = ap.parse_args(argv)

    from desktop_denoiser.core import device

    device.import_tensorflow_quietly()
    from desktop_denoiser.core.store import ModelStore

    store = ModelStore()
    rows = [bench_model(store, name, args.repeat, args.tsne) for name in args.models.split(",")]
    cols = [("model", "model", "{}"), ("ready_s", "lab ready s", "{:.2f}"), ("map_s", "PCA map 5000 s", "{:.2f}"),
            ("markers_ms", "markers ms", "{:.2f}"), ("pipeline_ms", "denoise+classify ms", "{:.2f}"),
            ("frame_ms", "frame total ms", "{:.2f}"), ("interp_ms", "interp 12 ms", "{:.1f}"),
            ("iterate_ms", "iterate ms", "{:.1f}"), ("iterate_steps", "steps", "{}"),
            ("layers_ms", "layers ms", "{:.2f}")]
    if any("tsne_s" in r for r in rows):
        cols.append(("tsne_s", "t-SNE 5000 s", "{:.0f}"))
    cells = [[fmt.format(r[key]) if key in r else "-" for key, _, fmt in cols] for r in rows]
    widths = [max(len(title), *(len(c[i]) for c in cells)) for i, (_, title, _) in enumerate(cols)]
    print("  ".join(title.rjust(w) for (_, title, _), w in zip(cols, widths)))
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths)))
    over = [f"{r['model']}: {key} {r[key]:.2f} > {limit}" for r in rows for key, limit in BUDGETS.items() if r[key] > limit]
    print("budgets: map ≤ 3 s, frame ≤ 5 ms, interpolation ≤ 50 ms: " + ("all met" if not over else "; ".join(over)))
    print(f"load average: {os.getloadavg()[0]:.1f} (2 cores; more means other work shares them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
