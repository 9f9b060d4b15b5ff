"""``denoise`` on a folder: the batched run against the one-at-a-time loop it replaced, same run.

    python -m benchmarks.denoise_files [--files 2000] [--no-cli] [--mnist PATH]

Writes ``--files`` 28×28 PNGs (MNIST test digits, light on dark) into a temporary folder and
denoises them with the store's default denoiser (``unet-mixed``), TensorFlow on one thread as
``desktop-denoiser denoise`` runs it. All rows but the last are timed after start-up (models
loaded, worker processes started), as the issue's "160 files/s after start-up" was:

* one at a time (before issue 11): per file, the old ``workflows.denoise_file`` body --
  :func:`filebatch.prepare`, ``Pipeline.run`` (the single-digit graph, which also classifies
  when a classifier is loaded, as the old command always loaded one), ``imageio.save_png``
  (one fsync per file);
* decode + preprocess alone (:func:`filebatch.prepare`) on 1 thread, 2 threads and the worker
  processes: why the workers are processes (the GIL);
* the batched run (:func:`filebatch.run`): in this process, then with the worker processes
  (what the command does), without and with ``--classify``;
* the command itself, end to end in a fresh process: TensorFlow's import, the models' loading
  and the workers' start included.

CPU seconds include the worker processes'.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .common import Table, load_note, machine_table


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _children_cpu(pool) -> float:
    """CPU seconds of a process pool's live workers so far (Linux /proc), else 0."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for proc in getattr(pool, "_processes", {}).values():
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def _write_inputs(folder: Path, n: int) -> list[Path]:
    from PIL import Image

    try:
        from desktop_denoiser.core import data

        digits = data.load_mnist().x_test
    except Exception:  # noqa: BLE001 - no MNIST: strokes on black, still 28x28 digits-like images
        rng = np.random.default_rng(0)
        digits = np.zeros((500, 28, 28), np.uint8)
        for d in digits:
            r = rng.integers(6, 22, 4)
            d[min(r[0], r[1]):max(r[0], r[1]) + 2, r[2]:r[2] + 3] = 255
            d[r[3]:r[3] + 3, 6:22] = 255
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        p = folder / f"scan{i:05d}.png"
        Image.fromarray(digits[i % len(digits)]).save(p)
        paths.append(p)
    return paths


def _prepare_all(paths) -> int:
    from desktop_denoiser.core import filebatch

    for p in paths:
        filebatch.prepare(p)
    return len(paths)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.denoise_files", description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=2000, help="how many 28x28 PNGs (default: 2000)")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end run of the command")
    ap.add_argument("--mnist", default=None, help="path to mnist.npz")
    args = ap.parse_args(argv)
    if args.mnist:
        os.environ["DESKTOP_DENOISER_MNIST"] = args.mnist
    from .run import _default_mnist

    _default_mnist()

    from desktop_denoiser.core import device

    device.import_tensorflow_quietly()
    device.use_one_thread()  # as the command
    from desktop_denoiser.core import filebatch, imageio, workflows
    from desktop_denoiser.core.store import ModelStore

    print(machine_table().render(), flush=True)
    n = args.files
    table = Table("denoise_files", f"`denoise` on a folder of {n:,} 28×28 PNGs (unet-mixed, TensorFlow on one thread)",
                  ["path", "files", "seconds", "files/s", "CPU s", "files per CPU-s"])

    def row(label, files, seconds, cpu):
        table.add(label, f"{files:,}", f"{seconds:.2f}", f"{files / seconds:,.0f}", f"{cpu:.2f}",
                  f"{files / cpu:,.0f}" if cpu > 0 else "–")
        print(f"  {label}: {files / seconds:,.0f} files/s", file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="denoise-bench-"))
    try:
        paths = _write_inputs(work / "in", n)
        store = ModelStore()
        pipeline, d_entry, c_entry = workflows.load_pipeline(store, None, None, need_classifier=False)

        # one at a time, as before
        out = work / "old"
        out.mkdir()
        t0, c0 = time.perf_counter(), _cpu()
        for p in paths:
            one = pipeline.run(filebatch.prepare(p))
            imageio.save_png(out / f"{p.stem}.png", filebatch.output_pixels(one.reconstruction))
        row("one at a time (before)", n, time.perf_counter() - t0, _cpu() - c0)

        # decode + preprocess alone
        t0, c0 = time.perf_counter(), _cpu()
        _prepare_all(paths)
        row("decode + preprocess only, 1 thread", n, time.perf_counter() - t0, _cpu() - c0)
        halves = [paths[0::2], paths[1::2]]
        with cf.ThreadPoolExecutor(2) as pool:
            t0, c0 = time.perf_counter(), _cpu()
            list(pool.map(_prepare_all, halves))
            row("decode + preprocess only, 2 threads", n, time.perf_counter() - t0, _cpu() - c0)
        workers = max(1, filebatch.worker_count(10**6))
        t0, c0 = time.perf_counter(), _cpu()
        pool = filebatch.process_pool(workers)
        list(pool.map(_prepare_all, [paths[:1]] * workers))  # started, imported, one file each
        startup = time.perf_counter() - t0
        try:
            t0, k0 = time.perf_counter(), _children_cpu(pool)
            list(pool.map(_prepare_all, [paths[k::workers] for k in range(workers)]))
            row(f"decode + preprocess only, {workers} processes", n, time.perf_counter() - t0, _children_cpu(pool) - k0)

            # the batched run
            for label, use, classify in (("batched, in this process", None, False),
                                         (f"batched + {workers} worker processes (the command)", pool, False),
                                         (f"batched + {workers} worker processes, --classify", pool, True)):
                if classify and pipeline.classifier is None:
                    continue
                out = work / f"new-{label}"
                plan = filebatch.plan([str(work / "in")], str(out))
                t0, c0, k0 = time.perf_counter(), _cpu(), _children_cpu(pool)
                s = filebatch.run(plan, lambda: pipeline, classify=classify, workers=workers if use else 0, pool=use)
                seconds = time.perf_counter() - t0
                assert s.written == n, s
                row(label, n, seconds, _cpu() - c0 + (_children_cpu(pool) - k0 if use else 0))
        finally:
            pool.shutdown()
        table.note(f"starting the {workers} worker processes (spawn, import numpy, scipy, Pillow): {startup:.2f} s, "
                   "not counted above; the command starts them while its models load")

        if not args.no_cli:
            out = work / "cli"
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                          os.environ.get("PYTHONPATH")])))
            t0, c0 = time.perf_counter(), _cpu()
            proc = subprocess.run([sys.executable, "-m", "desktop_denoiser", "denoise", str(work / "in"), "-o", str(out)],
                                  env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr.strip().splitlines()[-1])
            row("`desktop-denoiser denoise IN -o OUT`, start-up included", n, seconds, _cpu() - c0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table.note(f"denoiser {d_entry.name}" + (f", classifier {c_entry.name}" if c_entry else "")
               + f"; {os.cpu_count()} cores; batches of {filebatch.CHUNK}")
    table.note("every path writes one PNG per input, atomically; before: one fsync per file, now one per batch")
    busy = load_note()
    if busy:
        table.note(busy)
    print(table.render(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
