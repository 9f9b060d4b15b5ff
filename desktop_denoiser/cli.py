"""The ``desktop-denoiser`` command: gui (default), train, denoise, evaluate, models.

Every problem a person can cause is one line on stderr and a non-zero exit (2 for usage, 1
otherwise); tracebacks are for our bugs only.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .core import device
from .core.errors import ConfigError, DenoiserError


def _noise(text: str):
    from .core.noise import NoiseSpec

    try:
        return NoiseSpec.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


SEED_MAX = 2**32 - 1  # numpy's and Keras's global seeds take 32 bits


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {SEED_MAX}, got {text}")
    return value


def _output_path(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line on stderr, exit 2
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(2, f"desktop-denoiser: error: {command}{message}\n")


def build_parser() -> argparse.ArgumentParser:
    from .core.models import ARCHITECTURES
    from .core.noise import DESCRIPTIONS

    noise_help = "noise as KIND or KIND:VALUE or KIND:NAME=VALUE,... where KIND is one of: " + "; ".join(
        f"{k} ({v})" for k, v in DESCRIPTIONS.items()
    )
    p = _Parser(prog="desktop-denoiser", description="Clean noisy handwritten digits with denoising autoencoders.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--self-test", action="store_true", help="load the bundled models, denoise a sample, exit 0 or 1")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    sub.add_parser("gui", help="open the window (the default)", description="Open the Desktop Denoiser window.")

    t = sub.add_parser("train", help="train a denoiser or the classifier", description="Train a model on MNIST and store it.")
    t.add_argument("--arch", default="unet", choices=list(ARCHITECTURES), help="architecture (default: unet)")
    t.add_argument("--noise", type=_noise, default=None, help=noise_help + " (default: mixed; for the classifier: none, else a random half of "
                   "its training digits are corrupted with it)")
    t.add_argument("--epochs", type=_positive_int, default=10, help="epochs (default: 10)")
    t.add_argument("--batch-size", type=_positive_int, default=128, help="batch size (default: 128)")
    t.add_argument("--lr", type=_positive_float, default=None, help="learning rate (default: 1e-3)")
    t.add_argument("--subset", type=_positive_int, default=None, help="train on this many images (default: all)")
    t.add_argument("--val-fraction", type=_positive_float, default=0.1, help="validation fraction (default: 0.1)")
    t.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs, 0 = off (default: 3)")
    t.add_argument("--seed", type=_seed, default=0, help=f"random seed, 0 to {SEED_MAX} (default: 0)")
    t.add_argument("--time-budget", type=_positive_float, default=None, metavar="SECONDS", help="stop after this much training time")
    t.add_argument("--lr-schedule", choices=["cosine", "constant"], default="cosine", help="learning-rate schedule (default: cosine)")
    t.add_argument("--mnist", default=None, help="path to mnist.npz (default: $DESKTOP_DENOISER_MNIST, else Keras's download)")
    t.add_argument("--name", default=None, help="model name in the store (default: ARCH-NOISE)")
    t.add_argument("--out", default=None, help="folder to store the model in (default: the model store)")
    t.add_argument("--eval-limit", type=_positive_int, default=None, help="test images to measure on (default: all 10000)")

    d = sub.add_parser(
        "denoise", help="denoise image files",
        description="Denoise images (files or folders) and write PNGs. The outputs mirror the inputs' folders below "
                    "the deepest folder that holds them all: 'denoise scans/ -o out' writes out/NAME.png, "
                    "'denoise a/ b/ -o out' writes out/a/... and out/b/.... An existing file is never replaced "
                    "unless --overwrite is given; each skip is reported, and with several files a summary line "
                    "(written, skipped, failed) ends the run. Exit status 1 when any file failed.")
    d.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders")
    d.add_argument("-o", "--output", required=True, type=_output_path, metavar="OUT",
                   help="output PNG (one input file) or folder")
    d.add_argument("-r", "--recursive", action="store_true", help="also denoise the images in subfolders, keeping their layout")
    d.add_argument("--overwrite", action="store_true", help="replace output files that already exist (never an input)")
    d.add_argument("--noise", type=_noise, default=None, help="corrupt the input first: " + noise_help)
    d.add_argument("--seed", type=_seed, default=0, help=f"noise seed, 0 to {SEED_MAX} (default: 0)")
    d.add_argument("--model", default=None, help="denoiser name or .keras path (default: the store's default)")
    d.add_argument("--classifier", default=None, help="classifier name or .keras path")
    d.add_argument("--classify", action="store_true",
                   help="print path<TAB>digit<TAB>probability per written image; a path holding a tab, newline or "
                        "other control character (or starting with \") is printed in double quotes with C escapes")
    d.add_argument("--size", type=_positive_int, default=28, help="output size in pixels (default: 28)")

    e = sub.add_parser("evaluate", help="measure models and print benchmark tables",
                       description="Without --model: the benchmark tables (see benchmarks/). With --model: one model's figures.")
    e.add_argument("--model", default=None, help="measure this model only")
    e.add_argument("--noise", type=_noise, default=None, help="noise to measure with (default: the model's own)")
    e.add_argument("--limit", type=_positive_int, default=None, help="test images (default: all)")
    e.add_argument("--save", action="store_true", help="with --model: write the figures into the model's metadata")
    mode = e.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="benchmark tables in a few minutes (the default)")
    mode.add_argument("--full", action="store_true", help="the full benchmark (long)")
    e.add_argument("--tables", default=None, help="comma-separated subset of tables to run")
    e.add_argument("--mnist", default=None, help="path to mnist.npz")

    m = sub.add_parser("models", help="list the model store", description="List the bundled and the user's models.")
    m.add_argument("--paths", action="store_true", help="show file paths")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.self_test or args.command in ("train", "denoise", "evaluate"):
            device.import_tensorflow_quietly()  # in the handler: a Ctrl+C meanwhile is one line too
        if args.self_test:
            from .selftest import run_self_test

            return run_self_test()
        command = args.command or "gui"
        return {"gui": _gui, "train": _train, "denoise": _denoise, "evaluate": _evaluate, "models": _models}[command](args)
    except DenoiserError as exc:
        print(f"desktop-denoiser: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("desktop-denoiser: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("desktop-denoiser: error: out of memory", file=sys.stderr)
        return 1


# ------------------------------------------------------------------------------------------


def _gui(args) -> int:
    from .gui.app import run

    return run()


def _store(out: Optional[str] = None):
    from .core.store import ModelStore

    store = ModelStore()
    if out:
        folder = Path(out)
        store.bundled_dir = folder
        store.write_to = folder  # there or nowhere: never the user's folder behind the user's back
    return store


def _train(args) -> int:
    from .core import models, workflows
    from .core.noise import NoiseSpec
    from .core.store import check_name
    from .core.training import TrainConfig, Trainer

    kind = models.get(args.arch).kind
    noise = args.noise or NoiseSpec("mixed" if kind == "denoiser" else "none")
    check_name(args.name)  # refused before any work (the folder is checked when the name is reserved)
    config = TrainConfig(
        arch=args.arch, noise=noise, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        subset=args.subset, val_fraction=args.val_fraction, patience=args.patience or None, seed=args.seed,
        time_budget=args.time_budget, lr_schedule=args.lr_schedule, mnist=args.mnist,
    )
    bar = _ProgressBar(sys.stderr)
    trainer = Trainer(config, on_progress=bar.update, on_epoch=bar.epoch, on_status=bar.status)
    store = _store(args.out)
    finishing = []

    def on_sigint(signum, frame):
        if trainer.running:
            if trainer.cancelled:
                raise KeyboardInterrupt
            bar.status("Stopping after this batch (Ctrl+C again to abort)…")
            trainer.cancel()
        elif finishing:  # the second Ctrl+C after the training: stop now (a save is atomic)
            raise KeyboardInterrupt
        else:
            finishing.append(True)
            bar.status("The training is over; saving and measuring the model (Ctrl+C again to stop; "
                       "a model already saved is kept)…")

    previous = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
    try:
        result, entry = workflows.train_and_save(trainer, store, args.name, bar.status, args.eval_limit)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    bar.close()
    if entry is None:
        print("Cancelled before any batch was trained; nothing was saved.", file=sys.stderr)
        return 1
    m = entry.meta.get("metrics") or {}
    best = f"best epoch {result.best_epoch}" if result.best_epoch else "no complete epoch"
    print(f"{result.stop_reason}: {len(result.history)} epoch(s), {best}, {result.seconds:.0f} s on {result.device}")
    if kind == "classifier" and "test_accuracy" in m:
        print(f"test accuracy {100 * m['test_accuracy']:.2f}%")
    elif kind != "classifier" and {"test_psnr", "test_psnr_noisy", "test_ssim"} <= set(m):
        line = f"test PSNR {m['test_psnr']:.2f} dB (noisy {m['test_psnr_noisy']:.2f}), SSIM {m['test_ssim']:.3f}"
        if "test_accuracy_denoised" in m and "test_accuracy_noisy" in m:
            line += f", accuracy denoised {100 * m['test_accuracy_denoised']:.2f}% (noisy {100 * m['test_accuracy_noisy']:.2f}%)"
        print(line)
    else:
        print("test figures: none (see above)")
    print(f"saved {entry.name} to {entry.path}")
    return 130 if result.cancelled else 0


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _denoise(args) -> int:
    from .core import filebatch, workflows

    plan = filebatch.plan(args.inputs, args.output, recursive=args.recursive, overwrite=args.overwrite)  # before any model
    total = len(plan.jobs) + len(plan.problems)
    device.use_one_thread()  # the workers decode on the other cores; one TF thread is enough for the batches
    bar = _FilesBar(sys.stderr, len(plan.todo))

    def on_outcome(o) -> None:
        if o.status == filebatch.WRITTEN:
            if o.empty:
                bar.say(f"desktop-denoiser: no digit found in {_quote_path(str(o.job.source))} (a blank image)")
            if args.classify:
                bar.clear()
                if o.empty:  # nothing to read: '-' instead of the classifier's guess
                    print(f"{_quote_path(str(o.job.source))}\t-\t-", flush=True)
                else:
                    print(f"{_quote_path(str(o.job.source))}\t{o.digit}\t{o.confidence:.4f}", flush=True)
        elif o.status == filebatch.SKIPPED:
            bar.say(f"desktop-denoiser: skipped {_quote_path(str(o.job.source))}: {_one_line(o.message)}")
        else:
            bar.say(f"desktop-denoiser: error: {_one_line(o.message)}")

    def load():
        pipeline, _, _ = workflows.load_pipeline(_store(), args.model, args.classifier, need_classifier=args.classify)
        return pipeline

    summary = filebatch.Summary()
    try:
        filebatch.run(plan, load, args.noise, args.seed, args.size, classify=args.classify, overwrite=args.overwrite,
                      on_outcome=on_outcome, on_progress=bar.update, summary=summary)
    finally:
        bar.clear()
        if total > 1 and sys.exc_info()[0] is KeyboardInterrupt:
            print(f"desktop-denoiser: stopped: {_summary_line(summary)} before the interruption", file=sys.stderr)
    if total > 1:
        print(f"desktop-denoiser: {_summary_line(summary)}", file=sys.stderr, flush=True)
    return 1 if summary.failed else 0


def _summary_line(s) -> str:
    return f"{s.written} written, {s.skipped} skipped, {s.failed} failed"


def _quote_path(text: str) -> str:
    """A path as one tab-free field: as is, or in double quotes with C escapes when it holds a
    tab, a newline or another character that is not printable (or starts with a quote)."""
    if text.isprintable() and not text.startswith('"'):
        return text
    out = []
    for c in text:
        if c in '\\"':
            out.append("\\" + c)
        elif c in "\t\n\r":
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}[c])
        elif "\udc80" <= c <= "\udcff":  # a byte that is not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def _one_line(message: Optional[str]) -> str:
    """A message that names a file with a newline in it still fits on one line."""
    text = message or ""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _FilesBar:
    """A progress bar for ``denoise`` on a terminal, for more than a few hundred files."""

    MIN_FILES = 300
    WIDTH = 28

    def __init__(self, stream, total: int):
        self.stream = stream
        self.total = total
        self.on = total > self.MIN_FILES and stream.isatty()
        self.t0 = time.monotonic()
        self.active = False

    def update(self, done: int, total: int) -> None:
        if not self.on:
            return
        fraction = done / max(total, 1)
        filled = int(round(self.WIDTH * fraction))
        elapsed = time.monotonic() - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = _clock((total - done) / rate) if rate > 0 else "--:--"
        self.stream.write(f"\r|{'█' * filled}{'·' * (self.WIDTH - filled)}| {100 * fraction:5.1f}%  {done}/{total} files  "
                          f"{rate:,.0f} files/s  ETA {eta}\x1b[K")
        self.stream.flush()
        self.active = True

    def say(self, line: str) -> None:
        self.clear()
        print(line, file=self.stream, flush=True)

    def clear(self) -> None:
        if self.active:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.active = False


def _evaluate(args) -> int:
    if args.mnist:
        os.environ["DESKTOP_DENOISER_MNIST"] = args.mnist
    if args.model:
        return _evaluate_model(args)
    try:
        from benchmarks import run as bench
    except ImportError:
        raise DenoiserError("The benchmark scripts are not installed; run 'evaluate' from a source checkout.") from None
    tables = args.tables.split(",") if args.tables else None
    return bench.main(full=args.full, tables=tables)


def _evaluate_model(args) -> int:
    from .core import data as data_mod
    from .core import evaluation, workflows
    from .core.noise import NoiseSpec

    store = _store()
    entry = store.find(args.model)
    mnist = data_mod.load_mnist()
    x = data_mod.to_float(mnist.x_test[: args.limit])
    y = mnist.y_test[: args.limit]
    if entry.kind == "classifier":
        from .core.inference import Pipeline

        pipe = Pipeline(None, store.load(args.model, "classifier").model)
        acc = evaluation.evaluate_classifier(pipe, x, y)["accuracy"]
        print(f"{entry.name}: accuracy {100 * acc:.2f}% on {len(x)} test digits")
        if args.save:
            store.update_metadata(entry, {"metrics": {"test_accuracy": acc, "test_images": len(x)}})
        return 0
    pipe, d_entry, c_entry = workflows.load_pipeline(store, args.model, need_classifier=False)
    noise = args.noise or NoiseSpec.from_dict(d_entry.meta.get("noise", {"kind": "uniform"}))
    r = evaluation.evaluate_denoiser(pipe, x, y, noise)
    print(f"{d_entry.name} on {r['images']} test digits, noise {r['noise']}")
    print(f"  PSNR  noisy {r['psnr_noisy']:.2f} dB  denoised {r['psnr']:.2f} dB")
    print(f"  SSIM  noisy {r['ssim_noisy']:.3f}     denoised {r['ssim']:.3f}")
    if "accuracy_denoised" in r:
        print(f"  accuracy ({c_entry.name})  clean {100 * r['accuracy_clean']:.2f}%  noisy {100 * r['accuracy_noisy']:.2f}%  "
              f"denoised {100 * r['accuracy_denoised']:.2f}%")
    if args.save:
        figures = {f"test_{k}": v for k, v in r.items() if k != "noise"}
        figures["test_noise"] = r["noise"]
        if c_entry is not None:
            figures["classifier"] = c_entry.name
        store.update_metadata(d_entry, {"metrics": figures})
        print(f"saved the figures into {d_entry.path.with_suffix('.json')}")
    return 0


def _models(args) -> int:
    store = _store()
    entries = store.entries()
    print(f"bundled: {store.bundled_dir}")
    print(f"user:    {store.user_dir}")
    print(f"new models go to: {store.write_dir}")
    if not entries:
        print("no models")
        return 0
    chosen = {d.path for d in (store.default("denoiser"), store.default("classifier")) if d is not None}
    for e in entries:
        default = " (default)" if e.path in chosen else ""  # what the window and denoise use
        line = f"{e.source:8} {e.kind:10} {e.summary()}{default}"
        if args.paths:
            line += f"  {e.path}"
        print(line)
    return 0


# ------------------------------------------------------------------------------------------


class _ProgressBar:
    """A one-line terminal progress bar with ETA; plain lines when not on a terminal."""

    WIDTH = 28

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self.last_plain = 0.0
        self.active = False

    def status(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)

    def update(self, p) -> None:
        filled = int(round(self.WIDTH * p.fraction))
        bar = "█" * filled + "·" * (self.WIDTH - filled)
        eta = _clock(p.eta) if p.eta is not None else "--:--"
        line = (f"epoch {p.epoch}/{p.epochs} |{bar}| {100 * p.fraction:5.1f}%  batch {p.batch}/{p.batches}  "
                f"loss {p.loss:.4f}  {p.images_per_s:,.0f} img/s  ETA {eta}")
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self.stream.flush()
            self.active = True
        elif time.monotonic() - self.last_plain > 10 or p.batch == p.batches:
            self.last_plain = time.monotonic()
            print(line, file=self.stream, flush=True)

    def epoch(self, e) -> None:
        self._clear()
        metric = f"val PSNR {e.val_metric:.2f} dB" if e.val_metric > 1.5 else f"val accuracy {100 * e.val_metric:.2f}%"
        print(f"epoch {e.epoch}: loss {e.loss:.4f}  val_loss {e.val_loss:.4f}  {metric}  ({e.seconds:.0f} s)",
              file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.active:
            self.stream.write("\r\x1b[K")
            self.active = False

    def close(self) -> None:
        self._clear()
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
