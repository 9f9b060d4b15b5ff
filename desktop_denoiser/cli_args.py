"""The ``desktop-denoiser`` command line's arguments: the parser, its commands and the argument
types (each bad value is one line on stderr, exit 2)."""

from __future__ import annotations

import argparse

from . import __version__
from .core.errors import ConfigError


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


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _share(text: str) -> float:
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be from 0 (the folder alone) to below 1, got {text}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
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
    from .core.noise import DESCRIPTIONS

    noise_help = "noise as KIND or KIND:VALUE or KIND:NAME=VALUE,... where KIND is one of: " + "; ".join(
        f"{k} ({v})" for k, v in DESCRIPTIONS.items()
    )
    p = _Parser(prog="desktop-denoiser", description="Clean noisy handwritten digits with denoising autoencoders.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--self-test", action="store_true", help="load the bundled models, denoise a sample, exit 0 or 1")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.add_parser("gui", help="open the window (the default)", description="Open the Desktop Denoiser window.")
    for add in (_add_train, _add_denoise, _add_evaluate, _add_models, _add_explore, _add_sweep, _add_runs):
        add(sub, noise_help)
    return p


def _add_train(sub, noise_help: str) -> None:
    """The ``train`` command's arguments."""
    from .core.models import ARCHITECTURES

    t = sub.add_parser("train", help="train a denoiser or the classifier",
                       description="Train a model on MNIST and store it. With --data DIR: on a folder of your own digits "
                                   "too (a classifier: one subfolder per digit, DIR/0/... to DIR/9/...; a denoiser: any "
                                   "images below DIR, no labels needed), mixed with MNIST (--mnist-ratio). A seeded part "
                                   "of the folder (--val-fraction) is held out, never trained on: it validates each "
                                   "epoch, and the model is measured on it as well as on the MNIST test set. An epoch is "
                                   "then one pass over the folder's training part (with the MNIST share on top). "
                                   "--init NAME fine-tunes a stored model (e.g. the bundled classifier) instead of "
                                   "training from scratch. The model's metadata and card say which data it saw.")
    t.add_argument("--arch", default="unet", choices=list(ARCHITECTURES), help="architecture (default: unet)")
    t.add_argument("--noise", type=_noise, default=None,
                   help=noise_help + " (default: mixed; for the classifier: none, else a random half of "
                   "its training digits are corrupted with it)")
    t.add_argument("--epochs", type=_positive_int, default=10, help="epochs (default: 10)")
    t.add_argument("--batch-size", type=_positive_int, default=128, help="batch size (default: 128)")
    t.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: 1e-3; with --init a tenth of it, 1e-4: fine-tuning keeps what the "
                        "model knows)")
    t.add_argument("--subset", type=_positive_int, default=None, help="train on this many images (default: all)")
    t.add_argument("--val-fraction", type=_positive_float, default=0.1, help="validation fraction (default: 0.1)")
    t.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs, 0 = off (default: 3)")
    t.add_argument("--seed", type=_seed, default=0, help=f"random seed, 0 to {SEED_MAX} (default: 0)")
    t.add_argument("--time-budget", type=_positive_float, default=None, metavar="SECONDS", help="stop after this much training time")
    t.add_argument("--lr-schedule", choices=["cosine", "constant"], default="cosine", help="learning-rate schedule (default: cosine)")
    t.add_argument("--mnist", default=None, help="path to mnist.npz (default: $DESKTOP_DENOISER_MNIST, else Keras's download)")
    t.add_argument("--name", default=None, help="model name in the store (default: ARCH-NOISE)")
    where = t.add_mutually_exclusive_group()
    where.add_argument("--out", default=None, metavar="DIR",
                       help="folder to store the model in, and nowhere else (default: your data folder, see 'models')")
    where.add_argument("--bundled", action="store_true",
                       help="store it with the bundled models (trained_models/ of a source checkout), replacing a model "
                            "of the same name: how the shipped models are re-created")
    t.add_argument("--eval-limit", type=_positive_int, default=None, help="test images to measure on (default: all 10000)")
    t.add_argument("--bottleneck", type=_positive_int, default=None, metavar="N",
                   help="code size of dense or conv, 1 to 784 (default: the articles' 64 for dense, 128 = 4x4x8 for conv)")
    t.add_argument("--data", default=None, metavar="DIR",
                   help="also train on this folder of your own digits (the classifier: subfolders 0/ to 9/; a denoiser: "
                        "any images below it); unreadable files are skipped, each said on stderr")
    t.add_argument("--mnist-ratio", type=_share, default=None, metavar="R",
                   help="with --data: the share of MNIST digits in each batch, 0 (the folder alone) to below 1 "
                        "(default: 0.5)")
    t.add_argument("--init", default=None, metavar="NAME",
                   help="start from this stored model's weights (name or .keras path, of the same architecture, e.g. "
                        "'classifier', the bundled one) instead of from scratch")
    t.add_argument("--reconstructions", type=lambda text: [n.strip() for n in text.split(",") if n.strip()], default=None,
                   metavar="NAME,...",
                   help="the classifier: half of each batch is these denoisers' reconstructions of augmented training "
                        "digits, noisy with each denoiser's own training noise or clean (what the app classifies)")
    t.add_argument("--augment", choices=["basic", "handwriting"], default="basic",
                   help="the classifier's augmentation: basic (stroke width, rotation, scale, shift; the default) or "
                        "handwriting (also slant, elastic distortion, low resolution, binarised)")
    t.add_argument("--flag-ones", type=_fraction, default=0.0, metavar="SHARE",
                   help="the classifier: give this share of the training 1s a European flag, 0 to 1 (default: 0; "
                        "MNIST's 1s are bare strokes, and a flagged 1 is otherwise read as 7)")


def _add_denoise(sub, noise_help: str) -> None:
    """The ``denoise`` command's arguments."""
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


def _add_evaluate(sub, noise_help: str) -> None:
    """The ``evaluate`` command's arguments."""
    e = sub.add_parser("evaluate", help="measure models and print benchmark tables",
                       description="Without --model: the benchmark tables (desktop_denoiser/benchmarks). "
                                   "With --model: one model's figures. With --folder DIR: how the models read a "
                                   "labelled folder of your own digits, one subfolder per digit (DIR/0/... to DIR/9/...).")
    e.add_argument("--model", default=None, help="measure this model only (with --folder: the denoiser to use)")
    e.add_argument("--noise", type=_noise, default=None,
                   help="noise to measure with (default: the model's own; with --folder: none)")
    e.add_argument("--folder", default=None, metavar="DIR",
                   help="a labelled folder of your own digits: accuracy overall and per digit, the confusion matrix, "
                        "the worst-read files")
    e.add_argument("--classifier", default=None, help="with --folder: classifier name or .keras path")
    e.add_argument("--seed", type=_seed, default=0, help=f"with --folder: noise seed, 0 to {SEED_MAX} (default: 0)")
    e.add_argument("--report", default=None, type=_output_path, metavar="OUT.html",
                   help="with --folder: write an HTML report (the matrix, the misread digits as images)")
    e.add_argument("--figure", default=None, type=_output_path, metavar="OUT.png",
                   help="with --folder: write a PNG figure (the matrix and a sheet of the misread digits)")
    e.add_argument("--overwrite", action="store_true", help="replace OUT.html / OUT.png if they exist")
    e.add_argument("--limit", type=_positive_int, default=None, help="test images (default: all)")
    e.add_argument("--save", action="store_true", help="with --model: write the figures into the model's metadata")
    mode = e.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="benchmark tables in a few minutes (the default)")
    mode.add_argument("--full", action="store_true", help="the full benchmark (long)")
    e.add_argument("--tables", default=None, help="comma-separated subset of tables to run")
    e.add_argument("--mnist", default=None, help="path to mnist.npz")


def _add_models(sub, noise_help: str) -> None:
    """The ``models`` command's arguments."""
    m = sub.add_parser("models", help="list the model store; a model's card; export a model",
                       description="List the bundled and the user's models (without a subcommand), write a model's "
                                   "card, or export a model for other programs.")
    m.add_argument("--paths", action="store_true", help="show file paths")
    msub = m.add_subparsers(dest="models_command", metavar="SUBCOMMAND", parser_class=_Parser)
    c = msub.add_parser("card", help="a model's card (Markdown)",
                        description="A model's card in Markdown: its data, noise, settings, figures, training and limits.")
    c.add_argument("name", metavar="NAME", help="model name or .keras path")
    c.add_argument("-o", "--output", default=None, type=_output_path, metavar="OUT.md",
                   help="write it to this file (default: print it)")
    c.add_argument("--overwrite", action="store_true", help="replace OUT.md if it exists")
    x = msub.add_parser("export", help="export a model as a SavedModel, TFLite or ONNX",
                        description="Export a model in a format TensorFlow (or tf2onnx) writes, then check it: loaded "
                                    "back, its outputs on test digits must match the Keras model's.")
    x.add_argument("name", metavar="NAME", help="model name or .keras path")
    x.add_argument("--format", required=True, choices=["savedmodel", "tflite", "onnx"],
                   help="savedmodel (a folder), tflite or onnx (a file; onnx needs the extra desktop-denoiser[onnx])")
    x.add_argument("-o", "--output", required=True, type=_output_path, metavar="PATH", help="where to write it")
    x.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")


def _add_runs(sub, noise_help: str) -> None:
    """The ``runs`` command's arguments."""
    r = sub.add_parser("runs", help="the record of every training",
                       description="Every training (from the window and from 'train') is recorded as it goes. Without "
                                   "a subcommand: the table of runs. IDs may be shortened to a unique prefix.")
    rsub = r.add_subparsers(dest="runs_command", metavar="SUBCOMMAND", parser_class=_Parser)
    s = rsub.add_parser("show", help="everything recorded of one run", description="Everything recorded of one run.")
    s.add_argument("id", metavar="ID", help="run id (or a unique prefix)")
    c = rsub.add_parser("compare", help="what differs between runs, their figures side by side",
                        description="The settings that differ between runs and their figures side by side; "
                                    "--figure draws their loss curves overlaid.")
    c.add_argument("ids", nargs="+", metavar="ID", help="two or more run ids (or unique prefixes)")
    c.add_argument("--figure", default=None, type=_output_path, metavar="OUT.png", help="draw the loss curves into this PNG")
    c.add_argument("--overwrite", action="store_true", help="replace OUT.png if it exists")
    d = rsub.add_parser("delete", help="delete a run's record (not its model)",
                        description="Delete a run's record (its model is kept). A running run is refused.")
    d.add_argument("id", metavar="ID", help="run id (or a unique prefix)")


def _add_explore(sub, noise_help: str) -> None:
    """The ``explore`` command's arguments."""
    x = sub.add_parser("explore", help="draw a view of the autoencoder lab as a PNG",
                       description="Draw one view of the autoencoder lab for a model: the latent map, the learned "
                                   "manifold, an interpolation, iterated denoising, the layers inside, or a comparison "
                                   "with the other denoisers and classical filters. Without --input, MNIST test digits "
                                   "0 (and 1) are used.")
    x.add_argument("--model", default=None, help="model name or .keras path (default: the store's default denoiser)")
    x.add_argument("--view", required=True, choices=["map", "manifold", "interpolate", "iterate", "inside", "compare"],
                   help="the view to draw")
    x.add_argument("--input", nargs="+", default=[], metavar="IMAGE", help="one input image (two for interpolate)")
    x.add_argument("--noise", type=_noise, default=None,
                   help="corrupt the inputs first (default: the model's own noise; none for interpolate and manifold): "
                        + noise_help)
    x.add_argument("--seed", type=_seed, default=0, help=f"noise seed, 0 to {SEED_MAX} (default: 0)")
    x.add_argument("--figure", required=True, type=_output_path, metavar="OUT.png", help="the PNG to write")
    x.add_argument("--overwrite", action="store_true", help="replace the figure if it exists")
    x.add_argument("--count", type=_positive_int, default=5000, help="test digits on the map (default: 5000)")
    x.add_argument("--method", choices=["auto", "pca", "tsne", "code"], default="auto",
                   help="map projection (default: auto: the code itself when it is 2-D, else PCA; tsne needs scikit-learn)")
    x.add_argument("--steps", type=_positive_int, default=12, help="interpolation steps (default: 12)")
    x.add_argument("--grid", type=_positive_int, default=15, help="manifold grid size (default: 15)")
    x.add_argument("--zero-skips", action="store_true", help="inside a U-Net: zero its skip connections")
    x.add_argument("--mnist", default=None, help="path to mnist.npz (default: $DESKTOP_DENOISER_MNIST)")


def _sweep_values(name: str):
    """An argparse type: comma-separated values of the sweep setting ``name``, checked by the core."""

    def parse(text: str) -> list:
        from .core.sweeps import parse_values

        try:
            return parse_values(name, text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = name.replace("_", " ")  # argparse names the type in its "invalid ... value" message
    return parse


def _sweep_noise(text: str) -> list:
    """``KIND`` or ``KIND:PARAMS`` (one noise), or ``KIND,KIND,...`` (the noise kind swept)."""
    from .core.noise import NoiseSpec

    try:
        if ":" in text:
            return [NoiseSpec.parse(text)]
        return [NoiseSpec.parse(kind) for kind in _sweep_values("noise")(text)]
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _ShowAction(argparse.Action):
    """``sweep show ID``: the only positional form of ``sweep``."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values and (len(values) != 2 or values[0] != "show"):
            parser.error(f"unexpected {' '.join(values)!r}; use 'sweep show ID' (or 'sweep --list')")
        setattr(namespace, self.dest, values[1] if values else None)


def _add_sweep(sub, noise_help: str) -> None:
    """The ``sweep`` command's arguments."""
    s = sub.add_parser(
        "sweep", help="train and compare models over one or two settings",
        description="Train one denoiser per combination of the values given (at most two settings with more than "
                    "one value), one after the other, measure each on the same test digits (PSNR and the default "
                    "classifier's accuracy on its output, beside the noisy input's), print a line per run and draw "
                    "the chart. The models are stored as PREFIX-<values>; the sweep is recorded in your data folder "
                    "('sweep --list', 'sweep show ID'). Ctrl+C stops it after the current batch, keeping the runs "
                    "that finished.")
    s.add_argument("show", nargs="*", action=_ShowAction, metavar="show ID", help="show a recorded sweep (its id, "
                   "a unique beginning of it, or 'latest')")
    s.add_argument("--list", action="store_true", help="list the recorded sweeps")
    s.add_argument("--arch", type=_sweep_values("arch"), default=["dense"], metavar="A,B,...",
                   help="architectures: dense, conv, unet (default: dense)")
    s.add_argument("--noise", type=_sweep_noise, default=None, metavar="NOISE",
                   help="the noise, or several kinds to sweep (KIND,KIND,...) (default: uniform): " + noise_help)
    s.add_argument("--noise-level", type=_sweep_values("noise_level"), default=None, metavar="X,Y,...",
                   help="noise levels: the noise's first parameter, as in --noise KIND:VALUE (uniform: level)")
    s.add_argument("--bottleneck", type=_sweep_values("bottleneck"), default=None, metavar="N,M,...",
                   help="code sizes of dense or conv (default: the articles')")
    s.add_argument("--epochs", type=_sweep_values("epochs"), default=[3], metavar="N,M,...", help="epochs (default: 3)")
    s.add_argument("--lr", type=_sweep_values("learning_rate"), default=None, metavar="X,Y,...",
                   help="learning rates (default: the architecture's)")
    s.add_argument("--subset", type=_sweep_values("subset"), default=None, metavar="N,M,...",
                   help="training digits (default: all)")
    s.add_argument("--batch-size", type=_positive_int, default=128, help="batch size (default: 128)")
    s.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs, 0 = off (default: 3)")
    s.add_argument("--seed", type=_seed, default=0, help=f"random seed of every run, 0 to {SEED_MAX} (default: 0)")
    s.add_argument("--eval-limit", type=_positive_int, default=1000, help="test digits each run is measured on (default: 1000)")
    s.add_argument("--mnist", default=None, help="path to mnist.npz (default: $DESKTOP_DENOISER_MNIST)")
    s.add_argument("--figure", type=_output_path, default=None, metavar="OUT.png", help="write the chart as a PNG")
    s.add_argument("--overwrite", action="store_true", help="replace the figure if it exists")
    s.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local: one run after the other here (the default); ray: one Ray task per run (the ray extra)")
    s.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --backend ray: the cluster to join (default: start a local Ray instance)")
    s.add_argument("--name", default="sweep", metavar="PREFIX", help="model names are PREFIX-<values> (default: sweep)")
    s.add_argument("--out", default=None, metavar="DIR",
                   help="folder to store the models in, and nowhere else (default: your data folder)")
