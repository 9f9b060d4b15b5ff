"""``desktop-denoiser evaluate --folder DIR``: how well the models read a labelled folder of
one's own digits (``DIR/0/...`` to ``DIR/9/...``).

Prints the accuracy overall and per digit, the confusion matrix and the worst-read files;
each file or folder left out is one line on stderr; ``--report OUT.html`` and ``--figure OUT.png``
write the core report (:mod:`core.folder_report`), never replacing a file without ``--overwrite``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .core.errors import ConfigError
from .terminal import FilesBar, one_line, quote_path

WORST = 10


def evaluate_folder(args, store_factory) -> int:
    from .core import device, digit_folder, folder_evaluation, folder_report, workflows

    targets = [(Path(t), what) for t, what in ((args.report, "report"), (args.figure, "figure")) if t]
    for target, what in targets:  # before any work: a refusal costs nothing
        suffixes = (".html", ".htm") if what == "report" else (".png",)
        if target.suffix.lower() not in suffixes:
            raise ConfigError(f"The {what} must be a {suffixes[0]} file, not {target.name}.")
        if target.exists() and not args.overwrite:
            raise ConfigError(f"{target} exists; give --overwrite to replace it.")
    device.use_one_thread()  # the workers decode on the other cores while the models load
    bars: list[FilesBar] = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(FilesBar(sys.stderr, total))  # (on a terminal, for more than a few hundred files)
        bars[0].update(done, total)

    try:
        folder = digit_folder.read_folder(args.folder, labelled=True, on_progress=progress)
    finally:
        if bars:
            bars[0].clear()
    for line in folder.problems:
        print(f"desktop-denoiser: {one_line(line)}", file=sys.stderr)
    pipeline, denoiser, classifier = workflows.load_pipeline(store_factory(), args.model, args.classifier)
    result = folder_evaluation.evaluate_folder(pipeline, folder, args.noise, args.seed, denoiser.name,
                                               classifier.name if classifier else "-")
    for line in report_lines(result):
        print(line)
    for target, what in targets:
        write = folder_report.write_html if what == "report" else folder_report.write_figure
        print(f"wrote {write(result, target, overwrite=args.overwrite)}")
    return 0


def report_lines(result) -> list[str]:
    """What ``evaluate --folder`` prints: the heading, the accuracy per digit, the confusion
    matrix and the worst-read files."""
    from .core.folder_report import percent, summary_lines

    lines = summary_lines(result)
    per, counts, m = result.per_digit, result.counts, result.confusion
    lines += ["", "digit  images  accuracy"]
    lines += [f"{d:>5}  {int(counts[d]):>6}  {percent(per[d]):>8}" for d in range(10)]
    lines += ["", "confusion matrix (rows: true digit, columns: digit read)",
              "true " + "".join(f"{p:>5}" for p in range(10))]
    lines += [f"{t:>4} " + "".join(f"{int(m[t, p]):>5}" for p in range(10)) for t in range(10)]
    worst = result.worst(WORST)
    lines += ["", f"worst read ({len(worst)} of {int((~result.correct).sum())} misread): path, true, read, p(read), p(true)"]
    lines += [f"{quote_path(str(w.path))}\t{w.true}\t{w.predicted}\t{w.p_predicted:.4f}\t{w.p_true:.4f}" for w in worst]
    return lines
