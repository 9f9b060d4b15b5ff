"""``denoise`` on a folder: the batched run against the one-at-a-time loop it replaced, same run.

    python -m desktop_denoiser.benchmarks.denoise_files [--files 2000] [--no-cli] [--mnist PATH]

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


def _parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m desktop_denoiser.benchmarks.denoise_files", description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=2000, help="how many 28x28 PNGs (default: 2000)")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end run of the command")
    ap.add_argument("--mnist", default=None, help="path to mnist.npz")
    return ap.parse_args(argv)


def _set_up(args) -> None:
    """MNIST found, TensorFlow imported and on one thread, as the command runs it."""
    if args.mnist:
        os.environ["DESKTOP_DENOISER_MNIST"] = args.mnist
    from .run import _default_mnist

    _default_mnist()

    from desktop_denoiser.core import device

    device.import_tensorflow_quietly()
    device.use_one_thread()  # as the command


def _clock() -> tuple[float, float]:
    """Now: wall-clock and CPU seconds (this process and its reaped children)."""
    return time.perf_counter(), _cpu()


class _Bench:
    """The rows of the table, measured on ``n`` PNGs written into the folder ``work``."""

    def __init__(self, n: int, work: Path):
        from desktop_denoiser.core import workflows
        from desktop_denoiser.core.store import ModelStore

        self.n, self.work = n, work
        self.table = Table("denoise_files", f"`denoise` on a folder of {n:,} 28×28 PNGs (unet-mixed, TensorFlow on one thread)",
                           ["path", "files", "seconds", "files/s", "CPU s", "files per CPU-s"])
        self.paths = _write_inputs(work / "in", n)
        store = ModelStore()
        self.pipeline, self.d_entry, self.c_entry = workflows.load_pipeline(store, None, None, need_classifier=False)

    def row(self, label, files, seconds, cpu) -> None:
        self.table.add(label, f"{files:,}", f"{seconds:.2f}", f"{files / seconds:,.0f}", f"{cpu:.2f}",
                       f"{files / cpu:,.0f}" if cpu > 0 else "–")
        print(f"  {label}: {files / seconds:,.0f} files/s", file=sys.stderr, flush=True)

    def one_at_a_time(self) -> None:
        """Before issue 11: prepare, run the single-digit graph, save (one fsync) per file."""
        from desktop_denoiser.core import filebatch, imageio

        out = self.work / "old"
        out.mkdir()
        t0, c0 = _clock()
        for p in self.paths:
            one = self.pipeline.run(filebatch.prepare(p))
            imageio.save_png(out / f"{p.stem}.png", filebatch.output_pixels(one.reconstruction))
        self.row("one at a time (before)", self.n, time.perf_counter() - t0, _cpu() - c0)

    def prepare_in_threads(self) -> None:
        """Decode + preprocess alone, on 1 thread then 2 (the GIL keeps 2 from helping)."""
        t0, c0 = _clock()
        _prepare_all(self.paths)
        self.row("decode + preprocess only, 1 thread", self.n, time.perf_counter() - t0, _cpu() - c0)
        halves = [self.paths[0::2], self.paths[1::2]]
        with cf.ThreadPoolExecutor(2) as pool:
            t0, c0 = _clock()
            list(pool.map(_prepare_all, halves))
            self.row("decode + preprocess only, 2 threads", self.n, time.perf_counter() - t0, _cpu() - c0)

    def with_worker_processes(self) -> None:
        """Start the worker processes (timed apart), then the rows that use them."""
        from desktop_denoiser.core import filebatch

        workers = max(1, filebatch.worker_count(10**6))
        t0 = time.perf_counter()
        pool = filebatch.process_pool(workers)
        list(pool.map(_prepare_all, [self.paths[:1]] * workers))  # started, imported, one file each
        startup = time.perf_counter() - t0
        try:
            self.prepare_in_processes(pool, workers)
            self.batched(pool, workers)
        finally:
            pool.shutdown()
        self.table.note(f"starting the {workers} worker processes (spawn, import numpy, scipy, Pillow): {startup:.2f} s, "
                        "not counted above; the command starts them while its models load")

    def prepare_in_processes(self, pool, workers: int) -> None:
        t0, k0 = time.perf_counter(), _children_cpu(pool)
        list(pool.map(_prepare_all, [self.paths[k::workers] for k in range(workers)]))
        self.row(f"decode + preprocess only, {workers} processes", self.n, time.perf_counter() - t0, _children_cpu(pool) - k0)

    def batched(self, pool, workers: int) -> None:
        """:func:`filebatch.run`: in this process, then with the worker processes, then with --classify."""
        from desktop_denoiser.core import filebatch

        for label, use, classify in (("batched, in this process", None, False),
                                     (f"batched + {workers} worker processes (the command)", pool, False),
                                     (f"batched + {workers} worker processes, --classify", pool, True)):
            if classify and self.pipeline.classifier is None:
                continue
            out = self.work / f"new-{label}"
            plan = filebatch.plan([str(self.work / "in")], str(out))
            t0, c0, k0 = time.perf_counter(), _cpu(), _children_cpu(pool)
            s = filebatch.run(plan, lambda: self.pipeline, classify=classify, workers=workers if use else 0, pool=use)
            seconds = time.perf_counter() - t0
            assert s.written == self.n, s
            self.row(label, self.n, seconds, _cpu() - c0 + (_children_cpu(pool) - k0 if use else 0))

    def command(self) -> None:
        """``desktop-denoiser denoise IN -o OUT`` in a fresh process, start-up included."""
        out = self.work / "cli"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                                      os.environ.get("PYTHONPATH")])))
        t0, c0 = _clock()
        proc = subprocess.run([sys.executable, "-m", "desktop_denoiser", "denoise", str(self.work / "in"), "-o", str(out)],
                              env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1])
        self.row("`desktop-denoiser denoise IN -o OUT`, start-up included", self.n, seconds, _cpu() - c0)

    def add_notes(self) -> None:
        from desktop_denoiser.core import filebatch

        self.table.note(f"denoiser {self.d_entry.name}" + (f", classifier {self.c_entry.name}" if self.c_entry else "")
                        + f"; {os.cpu_count()} cores; batches of {filebatch.CHUNK}")
        self.table.note("every path writes one PNG per input, atomically; before: one fsync per file, now one per batch")
        busy = load_note()
        if busy:
            self.table.note(busy)


def main(argv=None) -> int:
    args = _parse_args(argv)
    _set_up(args)
    print(machine_table().render(), flush=True)
    work = Path(tempfile.mkdtemp(prefix="denoise-bench-"))
    try:
        bench = _Bench(args.files, work)
        bench.one_at_a_time()
        bench.prepare_in_threads()
        bench.with_worker_processes()
        if not args.no_cli:
            bench.command()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bench.add_notes()
    print(bench.table.render(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
