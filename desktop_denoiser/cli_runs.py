"""The ``runs`` command (the record of every training) and ``models card`` / ``models export``.

Each problem is a DenoiserError (one line on stderr, printed by ``cli.main``)."""

from __future__ import annotations

import sys

from .core.errors import ConfigError


def runs_command(args) -> int:
    from .core import run_report, runs

    what = getattr(args, "runs_command", None)
    if what is None:
        for line in run_report.table(runs.all_runs()):
            print(line)
        return 0
    if what == "show":
        for line in run_report.show(runs.find(args.id)):
            print(line)
        return 0
    if what == "compare":
        return _compare(args)
    run = runs.find(args.id)
    runs.delete(run)
    saved = f"; its model {run.model.get('name')} is kept" if run.model.get("saved") else ""
    print(f"deleted run {run.run_id}{saved}")
    return 0


def _compare(args) -> int:
    from .core import run_figure, run_report, runs

    chosen = []
    for prefix in args.ids:
        run = runs.find(prefix)
        if any(r.run_id == run.run_id for r in chosen):
            raise ConfigError(f"'{prefix}' names run {run.short_id} a second time; compare different runs.")
        chosen.append(run)
    if len(chosen) < 2:
        raise ConfigError("Give at least two runs to compare.")
    unreadable = next((r for r in chosen if r.error), None)
    if unreadable is not None:
        raise ConfigError(f"Run {unreadable.short_id} cannot be read: {unreadable.error}.")
    for line in run_report.compare(chosen):
        print(line)
    if args.figure:
        path = run_figure.write(chosen, args.figure, overwrite=args.overwrite)
        print(f"wrote {path}")
    return 0


def models_command(args, store) -> int:
    if args.models_command == "card":
        return _card(args, store)
    return _export(args, store)


def _card(args, store) -> int:
    from .core import model_card

    entry = store.find(args.name)
    if entry.error:
        raise ConfigError(f"{entry.name} is unusable: {entry.error}")
    text = model_card.card(entry)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    path = model_card.write(text, args.output, overwrite=args.overwrite)
    print(f"wrote {path}")
    return 0


def _export(args, store) -> int:
    from .core import export

    export.check_target(args.format, args.output, args.overwrite)  # before any work
    loaded = store.load(args.name)
    done = export.export(loaded.model, loaded.entry, args.format, args.output, overwrite=args.overwrite)
    print(done.describe())
    return 0
