"""Print the benchmark tables (Markdown, fixed-width columns), after the machine they ran on.

    python -m desktop_denoiser.benchmarks.run [--quick | --full] [--tables protocol1,noise_speed] [--figure sweep.png]
    desktop-denoiser evaluate [--quick | --full] [--tables ...]

Tables (in this order; ``--tables`` picks some):

* ``protocol1``   the first article: uniform noise 0.9; PSNR, SSIM, classifier accuracy
* ``protocol2``   the second article: blur + uniform noise; the networks and classical filters,
                  and the article's sweep of growing blur and noise (``--figure`` saves a PNG)
* ``budget``      dense, conv and U-Net trained from scratch for the same CPU time
* ``noise_speed`` the article's per-image noise loop against our numpy and TF paths
* ``throughput``  training images per second per architecture
* ``latency``     one digit, denoise + classify (Pipeline.run), median and p95
* ``gui``         time to a usable window; the event loop's worst stall during a training
* ``generalisation`` held-out handwriting that is not MNIST (benchmarks/heldout.py), the default
                  pipeline per set, before/after classifiers (``$DESKTOP_DENOISER_BENCH_CLASSIFIERS``)

``--quick`` (the default) takes a few minutes on 2 cores; ``--full`` uses the whole test set,
900 CPU-s of training per architecture, and the full 240,000-digit noise loop. Sizes can be
shrunk for tests through :data:`benchmarks.common.OVERRIDES` or ``DESKTOP_DENOISER_BENCH_<NAME>``.
Models come from the model store (the bundled ``classifier``, ``unet-mixed``,
``conv-blur+uniform`` and ``dense-uniform``); a missing one skips its row with a note.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import traceback
from typing import Callable, Optional, Sequence

from .common import Models, Table, log

TABLES = ("protocol1", "protocol2", "budget", "noise_speed", "throughput", "latency", "gui", "generalisation")


@dataclasses.dataclass
class Context:
    full: bool
    models: Models
    figure: Optional[str] = None


def _table_functions() -> dict[str, Callable[[Context], list[Table]]]:
    from . import budget, generalisation, gui_bench, protocols, speed

    return {
        "protocol1": protocols.protocol1,
        "protocol2": protocols.protocol2,
        "budget": budget.budget,
        "noise_speed": speed.noise_speed,
        "throughput": speed.throughput,
        "latency": speed.latency,
        "gui": gui_bench.gui,
        "generalisation": generalisation.generalisation,
    }


def _select(tables: Optional[Sequence[str]]) -> list[str]:
    if not tables:
        return list(TABLES)
    chosen = [t.strip() for t in tables if t and t.strip()]
    unknown = [t for t in chosen if t not in TABLES]
    if unknown:
        raise ValueError(f"unknown table(s): {', '.join(unknown)}; choose from: {', '.join(TABLES)}")
    return chosen


def _default_mnist() -> None:
    """Like the tests: use the shared MNIST file next to the checkout when none is configured."""
    from pathlib import Path

    shared = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist.npz"
    if not os.environ.get("DESKTOP_DENOISER_MNIST") and shared.is_file():
        os.environ["DESKTOP_DENOISER_MNIST"] = str(shared)


def main(full: bool = False, tables: Optional[list[str]] = None, figure: Optional[str] = None, store=None) -> int:
    """Run the chosen tables (all by default) and print them; 0 when every table ran."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _default_mnist()
    try:
        chosen = _select(tables)
    except ValueError as exc:
        print(f"benchmarks: error: {exc}", file=sys.stderr)
        return 2
    from .common import machine_table

    started = time.perf_counter()
    mode = "full" if full else "quick"
    print(f"## Desktop Denoiser benchmarks ({mode})\n", flush=True)
    print(machine_table().render(), flush=True)
    ctx = Context(full=full, models=Models(store), figure=figure)
    functions = _table_functions()
    failed = []
    for name in chosen:
        log(f"table {name} …")
        t0 = time.perf_counter()
        try:
            for table in functions[name](ctx):
                print(table.render(), flush=True)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken table must not hide the others
            failed.append(name)
            traceback.print_exc(file=sys.stderr)
            print(f"### {name}: failed\n\n- {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}\n",
                  flush=True)
        log(f"table {name} took {time.perf_counter() - t0:.0f} s")
    total = time.perf_counter() - started
    print(f"_{mode} run of {', '.join(chosen)}: {total / 60:.1f} min wall"
          + (f"; failed: {', '.join(failed)}_" if failed else "_"), flush=True)
    return 1 if failed else 0


def cli(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m desktop_denoiser.benchmarks.run",
                                description="Print the Desktop Denoiser benchmark tables.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a few minutes on 2 cores (the default)")
    mode.add_argument("--full", action="store_true", help="the full benchmark (hours on 2 cores)")
    p.add_argument("--tables", default=None, help=f"comma-separated subset of: {', '.join(TABLES)}")
    p.add_argument("--figure", default=None, metavar="PNG", help="save the sweep figure (protocol2) to this PNG")
    p.add_argument("--mnist", default=None, help="path to mnist.npz (default: $DESKTOP_DENOISER_MNIST)")
    args = p.parse_args(argv)
    if args.mnist:
        os.environ["DESKTOP_DENOISER_MNIST"] = args.mnist
    tables = args.tables.split(",") if args.tables else None
    return main(full=args.full, tables=tables, figure=args.figure)


if __name__ == "__main__":
    sys.exit(cli())
