"""The ``desktop-denoiser`` command: gui (default), train, denoise, evaluate, models, explore.

Every problem a person can cause is one line on stderr and a non-zero exit (2 for usage, 1
otherwise); tracebacks are for our bugs only.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Optional, Sequence

from .core import device
from .cli_args import build_parser
from .core.errors import ConfigError, DenoiserError
from .terminal import FilesBar, ProgressBar, one_line, quote_path, summary_line


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        exporting = args.command == "models" and getattr(args, "models_command", None) == "export"
        if args.self_test or exporting or args.command in ("train", "denoise", "evaluate", "explore", "sweep"):
            device.import_tensorflow_quietly()  # in the handler: a Ctrl+C meanwhile is one line too
        if args.self_test:
            from .selftest import run_self_test

            return run_self_test()
        command = args.command or "gui"
        return {"gui": _gui, "train": _train, "denoise": _denoise, "evaluate": _evaluate, "models": _models,
                "explore": _explore, "sweep": _sweep, "runs": _runs}[command](args)
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


def _store(out: Optional[str] = None, bundled: bool = False):
    """The model store; new models go to the user's folder, never into a checkout's git-tracked
    trained_models/ by themselves. ``out``: to that folder and nowhere else (never the user's
    folder behind the user's back); it is read first, then the bundled models, so a denoiser
    trained there is still measured with the shipped classifier. ``bundled``: to the bundled
    folder, replacing a model of the same name (re-creating the shipped models)."""
    from .core import paths
    from .core.store import ModelStore

    if out:
        return ModelStore(write_to=Path(out))
    if bundled:
        folder = paths.bundled_models_dir()
        if paths.is_installed_location(folder):  # an installed app's models are never written to
            raise ConfigError(f"--bundled re-creates the models of a source checkout; {folder} belongs to an installed app.")
        return ModelStore(write_to=folder, overwrite=True)
    return ModelStore()


def _train(args) -> int:
    from .core import models, workflows
    from .core.noise import NoiseSpec
    from .core.store import check_name
    from .core.training import TrainConfig, Trainer
    from .core.training_end import TrainingEnd

    kind = models.get(args.arch).kind
    noise = args.noise or NoiseSpec("mixed" if kind == "denoiser" else "none")
    check_name(args.name)  # refused before any work (the folder is checked when the name is reserved)
    config = TrainConfig(
        arch=args.arch, noise=noise, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
        subset=args.subset, val_fraction=args.val_fraction, patience=args.patience or None, seed=args.seed,
        time_budget=args.time_budget, lr_schedule=args.lr_schedule, mnist=args.mnist, bottleneck=args.bottleneck,
        data=str(Path(args.data).expanduser().absolute()) if args.data else None, mnist_ratio=args.mnist_ratio,
        init=args.init, reconstructions=tuple(args.reconstructions) if args.reconstructions else None, augment=args.augment,
        flag_ones=args.flag_ones,
    ).validate()
    store = _store(args.out, args.bundled)  # (an unusable folder is refused when the name is reserved)
    folder = _training_folder(config, store)  # a bad folder or starting model: refused before any training
    bar = ProgressBar(sys.stderr)
    trainer = Trainer(config, on_progress=bar.update, on_epoch=bar.epoch, on_status=bar.status, store=store, folder=folder)
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
        result, entry = workflows.train_and_save(trainer, store, args.name, bar.status, args.eval_limit,
                                                 origin="command line")
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    bar.close()
    if entry is None:
        print("Cancelled before any batch was trained; nothing was saved.", file=sys.stderr)
        return 1
    end = TrainingEnd.of_result(result, entry, config.to_dict())
    print(f"{end.describe()} On {end.device}.")
    for line in entry.figures.lines() if entry.figures.measured else ["test figures: none (see above)"]:
        print(line)
    if config.data is not None:  # the folder's held-out part, beside the MNIST test set
        from .core import training_data

        print(training_data.held_out_line(entry.meta.get("data"), kind) or "held-out folder figures: none (see above)")
    print(f"saved {entry.name} to {entry.path}")
    return 130 if result.cancelled else 0


def _training_folder(config, store):
    """``train --data``: the folder read and split now (the reader's lines about skipped files on
    stderr, the readable images used), and ``--init`` checked, before any training."""
    from .core import models, training, training_data

    arch = models.get(config.arch)
    if config.init is not None:
        training.init_entry(store, config.init, arch.name)
    if config.data is None:
        return None

    def problem(line: str) -> None:
        print(f"desktop-denoiser: {one_line(line)}", file=sys.stderr, flush=True)

    return training_data.read(config.data, arch.kind, config.val_fraction, config.seed, on_problem=problem)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _denoise(args) -> int:
    from .core import filebatch, workflows

    plan = filebatch.plan(args.inputs, args.output, recursive=args.recursive, overwrite=args.overwrite)  # before any model
    total = len(plan.jobs) + len(plan.problems)
    device.use_one_thread()  # the workers decode on the other cores; one TF thread is enough for the batches
    bar = FilesBar(sys.stderr, len(plan.todo))

    def on_outcome(o) -> None:
        if o.status == filebatch.WRITTEN:
            if o.empty:
                bar.say(f"desktop-denoiser: no digit found in {quote_path(str(o.job.source))} (a blank image)")
            if args.classify:
                bar.clear()
                if o.empty:  # nothing to read: '-' instead of the classifier's guess
                    print(f"{quote_path(str(o.job.source))}\t-\t-", flush=True)
                else:
                    print(f"{quote_path(str(o.job.source))}\t{o.digit}\t{o.confidence:.4f}", flush=True)
        elif o.status == filebatch.SKIPPED:
            bar.say(f"desktop-denoiser: skipped {quote_path(str(o.job.source))}: {one_line(o.message)}")
        else:
            bar.say(f"desktop-denoiser: error: {one_line(o.message)}")

    def load():
        pipeline, _, _ = workflows.load_pipeline(_store(), args.model, args.classifier, need_classifier=args.classify)
        return pipeline

    summary = filebatch.Summary()
    # Ctrl+C while the batches run is noted and acted on between batches: raised inside a
    # TensorFlow call (where the parent spends most of its time once the workers decode and
    # write), the KeyboardInterrupt could be lost and the run went on to the end. Before the
    # batches (planning, the TensorFlow import) it interrupts at once, as by default.
    stop: list = []

    def on_sigint(signum, frame):
        if batching and not stop:
            stop.append(True)
        else:  # before the batches, or a second Ctrl+C
            raise KeyboardInterrupt

    batching: list = []

    def load_then_batch():
        pipeline = load()
        batching.append(True)
        return pipeline

    previous = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
    try:
        filebatch.run(plan, load_then_batch, args.noise, args.seed, args.size, classify=args.classify,
                      overwrite=args.overwrite, on_outcome=on_outcome, on_progress=bar.update, summary=summary,
                      stop_requested=lambda: bool(stop))
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        bar.clear()
        if total > 1 and sys.exc_info()[0] is KeyboardInterrupt:
            print(f"desktop-denoiser: stopped: {summary_line(summary)} before the interruption", file=sys.stderr)
    if total > 1:
        print(f"desktop-denoiser: {summary_line(summary)}", file=sys.stderr, flush=True)
    return 1 if summary.failed else 0


def _evaluate(args) -> int:
    if args.mnist:
        os.environ["DESKTOP_DENOISER_MNIST"] = args.mnist
    if args.folder:
        from .cli_folder import evaluate_folder

        return evaluate_folder(args, _store)
    if args.report or args.figure:
        raise ConfigError("--report and --figure go with --folder DIR.")
    if args.model:
        return _evaluate_model(args)
    from .benchmarks import run as bench

    tables = args.tables.split(",") if args.tables else None
    return bench.main(full=args.full, tables=tables)


def _evaluate_model(args) -> int:
    from .core import workflows
    from .core.figures import CLASSIFIER
    from .core.inference import Pipeline
    from .core.noise import NoiseSpec

    store = _store()
    if store.find(args.model).kind == CLASSIFIER:
        loaded = store.load(args.model, CLASSIFIER)
        pipe, entry, reader = Pipeline(None, loaded.model), loaded.entry, None
    else:  # with the default classifier, when there is one, to read the denoised digits
        pipe, entry, reader = workflows.load_pipeline(store, args.model, need_classifier=False)
    noise = args.noise or NoiseSpec.from_dict(entry.meta.get("noise") or {"kind": "uniform"})
    if args.save:
        figures, entry = workflows.measure_entry(store, entry, pipe, reader, args.limit, noise)
    else:
        figures = workflows.measure(pipe, entry.kind, noise, args.limit)
        figures = figures.with_classifier(reader.name) if reader is not None and entry.kind != CLASSIFIER else figures
    print(entry.name)
    for line in figures.lines():
        print(f"  {line}")
    if args.save:
        print(f"saved the figures into {entry.path.with_suffix('.json')}")
    return 0


def _explore(args) -> int:
    from .core.lab import explore

    opts = explore.Options(count=args.count, method=args.method, steps=args.steps, grid=args.grid,
                           zero_skips=args.zero_skips, mnist=args.mnist)
    path = explore.explore(_store(), args.view, args.figure, args.model, args.input, args.noise, args.seed,
                           args.overwrite, opts)
    print(f"wrote {path}")
    return 0


def _runs(args) -> int:
    from .cli_runs import runs_command

    return runs_command(args)


def _sweep(args) -> int:
    from .cli_sweep import sweep

    return sweep(args, _store)


def _models(args) -> int:
    store = _store()
    if getattr(args, "models_command", None):  # models card / models export
        from .cli_runs import models_command

        return models_command(args, store)
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
