#!/usr/bin/env python
"""What recording a run costs a training: the same tiny training with and without a RunRecorder.

    python scripts/bench_runs.py [--repeat 5] [--arch dense] [--subset 6000] [--batch-size 32] [--epochs 3]

Each repetition trains the same config (same seed) twice, once plain and once recorded (into a
temporary folder), in alternating order after one warm-up run of each; images/s is the
trainer's own mean over its fit (validation and the epoch writes included). A small, fast
model with small batches is the worst case: the most batches per second, so the most
per-batch callbacks. Also timed on their own: one recorded batch (the wrapper's append) and
one epoch's write (losses.npy + run.json, atomically).

Target (issue 14): the recorded run within 2% of the plain one. Timings are noisy on a loaded
machine; the tests never assert them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _config(args):
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.training import TrainConfig

    return TrainConfig(arch=args.arch, noise=NoiseSpec.parse("uniform:0.5"), epochs=args.epochs, batch_size=args.batch_size,
                       subset=args.subset, val_limit=500, patience=None, seed=0)


def train_once(args, folder, recorded: bool) -> tuple[float, float, float]:
    """(images/s over the fit, wall clock; images per CPU-second of this process over the whole
    run, which other programs on the machine disturb less; the run's wall seconds)."""
    from desktop_denoiser.core.run_recorder import RunRecorder
    from desktop_denoiser.core.training import Trainer

    trainer = Trainer(_config(args))
    cpu0 = time.process_time()
    if not recorded:
        result = trainer.run()
    else:
        with RunRecorder(trainer, uuid.uuid4().hex, folder=folder) as record:
            result = trainer.run()
            record.trained(result)
        assert record.run.steps == result.steps and not record.broken
    images = result.steps * args.batch_size
    return result.images_per_s, images / (time.process_time() - cpu0), result.seconds


def callback_cost(folder) -> tuple[float, float]:
    """(microseconds per recorded batch, milliseconds per epoch write of 5,000 batches)."""
    from desktop_denoiser.core.run_recorder import RunRecorder
    from desktop_denoiser.core.training import EpochResult

    class Fake:
        config = _config(argparse.Namespace(arch="dense", epochs=1, batch_size=32, subset=100))
        on_epoch, on_batch = staticmethod(lambda e: None), None

    trainer = Fake()
    with RunRecorder(trainer, uuid.uuid4().hex, folder=folder) as record:
        n = 200_000
        t0 = time.perf_counter()
        for step in range(1, n + 1):
            trainer.on_batch(step, 0.5)
        per_batch = (time.perf_counter() - t0) / n * 1e6
        del record._steps[5000:], record._losses[5000:]
        writes = []
        for i in range(20):
            t0 = time.perf_counter()
            trainer.on_epoch(EpochResult(i + 1, 0.5, 0.5, 20.0, 1.0, 5000))
            writes.append(time.perf_counter() - t0)
    return per_batch, 1000 * statistics.median(writes)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--arch", default="dense")
    p.add_argument("--subset", type=int, default=6000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    from desktop_denoiser.core import device

    device.import_tensorflow_quietly()
    rates: dict[str, list] = {"plain": [], "recorded": []}
    with tempfile.TemporaryDirectory() as tmp:
        train_once(args, tmp, False), train_once(args, tmp, True)  # warm-up: TensorFlow's first graphs
        for i in range(args.repeat):
            order = ("plain", "recorded") if i % 2 == 0 else ("recorded", "plain")
            for mode in order:
                rates[mode].append(train_once(args, tmp, mode == "recorded"))
                print(f"[bench] repetition {i + 1}: {mode} {rates[mode][-1][0]:,.0f} images/s", file=sys.stderr, flush=True)
        per_batch_us, per_epoch_ms = callback_cost(tmp)
    _table(args, rates, per_batch_us, per_epoch_ms)
    return 0


def _table(args, rates, per_batch_us: float, per_epoch_ms: float) -> None:
    from desktop_denoiser.core import device

    steps = args.epochs * (args.subset // args.batch_size)
    print(f"{args.arch}, subset {args.subset}, batch {args.batch_size}, {args.epochs} epochs ({steps} batches), "
          f"{args.repeat} repetitions, {device.describe()}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'':10} {'img/s (wall) median':>20} {'min':>8} {'max':>8} {'img/CPU-s median':>17}")
    for mode, values in rates.items():
        wall, cpu = [v[0] for v in values], [v[1] for v in values]
        print(f"{mode:10} {statistics.median(wall):20,.0f} {min(wall):8,.0f} {max(wall):8,.0f} {statistics.median(cpu):17,.0f}")
    for i, label in ((0, "wall img/s"), (1, "img per CPU-second")):
        paired = [1 - r[i] / p[i] for p, r in zip(rates["plain"], rates["recorded"])]  # neighbours in time
        print(f"overhead, {label}: median of paired runs {100 * statistics.median(paired):+.2f}% (target < 2%)")
    seconds = statistics.median(v[2] for v in rates["plain"])
    parts = (per_batch_us * 1e-6 * steps + per_epoch_ms * 1e-3 * (args.epochs + 1)) / seconds
    print(f"one recorded batch: {per_batch_us:.2f} µs; one epoch's write (5,000 batches): {per_epoch_ms:.2f} ms; "
          f"so recording adds {100 * parts:.3f}% to a {seconds:.1f} s run")


if __name__ == "__main__":
    sys.exit(main())
