"""``desktop-denoiser --self-test``: prove that an installation (or a PyInstaller bundle) works.

Headless (no window, no display needed). It

1. finds the bundled sample digit (``resources/sample_digit.png``, MNIST test image #0, a '7',
   drawn as black ink on white paper at 140 × 140 like a scan) and the default denoiser and
   classifier of the model store,
2. imports the GUI libraries (PySide6's QtCore/QtGui/QtWidgets, pyqtgraph and the app's own
   ``desktop_denoiser.gui`` modules) without opening a window, so a bundle that lost a Qt module is
   caught,
3. computes a frame of the sample (:func:`~desktop_denoiser.core.frame.compute`, as the window
   does): the MNIST convention, ``uniform:0.5`` noise (seed 0), denoise and classify,
4. checks that the reconstruction is a finite 28 × 28 image, that it is closer to the clean
   digit than the noisy input is (PSNR), and that the classifier reads the right digit,
5. starts a training process (a child, as the window's trainings run) that must report a
   missing data set: child processes work, in a frozen bundle too.

It prints one line per check (``ok`` or ``FAIL`` with the figures), the library versions and
the compute device, and returns 0 when every check passed, 1 otherwise. A missing sample or
missing models is one clear line and 1, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import platform
import sys
import time
from pathlib import Path
from typing import Optional, TextIO

#: The bundled sample image, in the resources folder.
SAMPLE_NAME = "sample_digit.png"
#: Its digit (it is MNIST's x_test[0]).
SAMPLE_LABEL = 7
#: The corruption the sample is put through, and its seed.
NOISE = "uniform:0.5"
SEED = 0
#: GUI modules imported (without opening a window) to prove the GUI stack is complete.
GUI_MODULES = ("desktop_denoiser.gui.app", "desktop_denoiser.gui.main_window")


class _Abort(Exception):
    """A prerequisite is missing: report one line and stop."""


class _Report:
    def __init__(self, out: TextIO):
        self.out = out
        self.failures = 0
        self.checks = 0

    def line(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def check(self, name: str, passed: bool, detail: str) -> bool:
        self.checks += 1
        if not passed:
            self.failures += 1
        self.line(f"{'ok  ' if passed else 'FAIL'}  {name}: {detail}")
        return passed


def _version(module_name: str) -> str:
    try:
        module = __import__(module_name)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"unavailable ({type(exc).__name__})"
    return str(getattr(module, "__version__", "?"))


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _find_sample() -> Path:
    from .core import paths

    folder = paths.resources_dir()
    sample = folder / SAMPLE_NAME
    if not sample.is_file():
        raise _Abort(f"the sample image {SAMPLE_NAME} is missing from {folder}")
    return sample


def _find_models():
    from .core.store import ModelStore

    store = ModelStore()
    where = f"{store.bundled_dir} (bundled) or {store.user_dir} (user)"
    denoiser = store.default("denoiser")
    classifier = store.default("classifier")
    missing = [kind for kind, entry in (("denoiser", denoiser), ("classifier", classifier)) if entry is None]
    if missing:
        broken = [e.name for e in store.entries() if e.error]
        extra = f" ({len(broken)} unusable: {', '.join(broken)})" if broken else ""
        what = " and no ".join(missing)
        raise _Abort(f"no {what} model found in {where}{extra}")
    return store, denoiser, classifier


def _gui_libraries() -> tuple[bool, str]:
    """Import the GUI stack without creating a window; returns (ok, versions or the error)."""
    try:
        import PySide6
        from PySide6 import QtCore, QtGui, QtWidgets  # noqa: F401 - importing is the test

        qt = f"PySide6 {PySide6.__version__} (Qt {QtCore.qVersion()})"
    except Exception as exc:  # noqa: BLE001
        return False, f"PySide6 cannot be imported ({_first_line(exc)})"
    try:
        import pyqtgraph
    except Exception as exc:  # noqa: BLE001
        return False, f"{qt}, but pyqtgraph cannot be imported ({_first_line(exc)})"
    versions = f"{qt}, pyqtgraph {pyqtgraph.__version__}"
    # The window's own modules (imported, nothing shown): catches a Qt module missing from a bundle.
    imported = []
    for name in GUI_MODULES:
        try:
            present = importlib.util.find_spec(name) is not None
        except ImportError:
            present = False
        if not present:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001
            return False, f"{versions}, but {name} cannot be imported ({_first_line(exc)})"
        imported.append(name.rsplit(".", 1)[-1])
    gui = f"gui modules {', '.join(imported)} imported" if imported else "no gui modules found"
    return True, f"{versions}, {gui}"


def _training_process() -> tuple[bool, str]:
    """Start a real training process (as the window does) with an MNIST file that does not
    exist: it must start, import the trainer and TensorFlow, and report that one failure. This
    proves that child processes work (a frozen bundle needs ``multiprocessing.freeze_support``)."""
    import tempfile

    from .core.noise import NoiseSpec
    from .core.store import ModelStore
    from .core.training import TrainConfig
    from .core.training_process import TrainingProcess

    with tempfile.TemporaryDirectory(prefix="desktop-denoiser-selftest-") as tmp:
        missing = Path(tmp) / "no-mnist.npz"
        config = TrainConfig(arch="dense", noise=NoiseSpec.parse(NOISE), epochs=1, subset=100, mnist=str(missing))
        t0 = time.perf_counter()
        events = list(TrainingProcess(config, ModelStore(Path(tmp) / "b", Path(tmp) / "u")).events())
        seconds = time.perf_counter() - t0
    end = events[-1][1] if events and events[-1][0] == "end" else None
    statuses = [e[1] for e in events if e[0] == "status"]
    ok = end is not None and end.failed and "MNIST file not found" in end.message and "Loading MNIST…" in statuses
    detail = (f"a child process started, loaded the trainer and reported the missing data set in {seconds:.1f} s"
              if ok else f"expected a report of the missing data set, got {[e[0] for e in events]}: "
              f"{end.describe() if end is not None else None}")
    return ok, detail


def _versions(report: _Report) -> None:
    import keras
    import numpy as np
    import tensorflow as tf

    from .core import device

    report.line(f"versions: python {platform.python_version()}, tensorflow {tf.__version__}, keras {keras.__version__}, "
                f"numpy {np.__version__}, scipy {_version('scipy')}, pillow {_version('PIL')}")
    report.line(f"device: {device.describe()}")


def _load_models(report: _Report, store, d_entry, c_entry):
    from .core import workflows

    t_load = time.perf_counter()
    pipeline, d_used, c_used = workflows.load_pipeline(store, str(d_entry.path), str(c_entry.path))
    folders = sorted({str(d_entry.path.parent), str(c_entry.path.parent)})
    report.line(f"models: denoiser {d_used.name} ({d_entry.source}), classifier {c_used.name} ({c_entry.source}), "
                f"loaded in {time.perf_counter() - t_load:.1f} s from {' and '.join(folders)}")
    return pipeline


def _check_frame(report: _Report, f) -> None:
    """The checks on the sample's frame: shape, finite pixels, PSNR gained, the digit read."""
    import numpy as np

    out_img = np.asarray(f.reconstruction)
    report.check("shape", out_img.shape == (28, 28), f"reconstruction {out_img.shape}, expected (28, 28)")
    finite = bool(np.all(np.isfinite(out_img)))
    if finite:
        detail = f"all {out_img.size} pixels finite, range [{float(out_img.min()):.3f}, {float(out_img.max()):.3f}]"
    else:
        detail = f"{int(np.sum(~np.isfinite(out_img)))} of {out_img.size} pixels are NaN or infinite"
    report.check("finite", finite, detail)
    if out_img.shape == (28, 28) and finite:
        p_noisy, p_out = f.psnr_noisy, f.psnr
        report.check("psnr", p_out > p_noisy,
                     f"denoised {p_out:.2f} dB vs noisy {p_noisy:.2f} dB ({p_out - p_noisy:+.2f} dB, noise {NOISE}, seed {SEED})")
    else:
        report.check("psnr", False, "not measured (the reconstruction is unusable)")
    noisy_digit = int(np.argmax(f.probs_noisy)) if f.probs_noisy is not None else None
    report.check("digit", f.digit == SAMPLE_LABEL,
                 f"predicted {f.digit} ({100 * (f.confidence or 0):.1f}%) on the reconstruction, "
                 f"expected {SAMPLE_LABEL} (noisy input: {noisy_digit})")
    report.line(f"inference: {1000 * f.seconds:.1f} ms per image")


def _checks(report: _Report, sample: Path, store, d_entry, c_entry) -> None:
    """Every check after the sample and the models were found; a failure stops them with one line."""
    stage = "loading TensorFlow"
    try:
        from .core import frame, imageio
        from .core.noise import NoiseSpec

        _versions(report)
        stage = "importing the GUI libraries"
        report.check("gui libraries", *_gui_libraries())
        stage = "reading the sample"
        image = imageio.load_image(sample)
        stage = "loading the models"
        pipeline = _load_models(report, store, d_entry, c_entry)
        stage = "denoising the sample"
        f = frame.compute(pipeline, image, noise=NoiseSpec.parse(NOISE), seed=SEED)
        stage = "checking the result"
        _check_frame(report, f)
        stage = "starting a training process"
        report.check("training process", *_training_process())
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        report.check(stage, False, _first_line(exc))


def run_self_test(out: Optional[TextIO] = None) -> int:
    """Run the self-test, printing to ``out`` (default stdout); returns 0 (all ok) or 1."""
    from . import __version__

    report = _Report(out or sys.stdout)
    t0 = time.perf_counter()
    try:
        sample = _find_sample()
        store, d_entry, c_entry = _find_models()
    except _Abort as exc:
        report.line(f"FAIL  self-test: {exc}")
        return 1
    except Exception as exc:  # noqa: BLE001 - a self-test never shows a traceback
        report.line(f"FAIL  self-test: could not look for the sample and models ({_first_line(exc)})")
        return 1
    report.line(f"desktop-denoiser {__version__} self-test")
    _checks(report, sample, store, d_entry, c_entry)
    total = time.perf_counter() - t0
    if report.failures:
        report.line(f"self-test FAILED: {report.failures} of {report.checks} checks failed ({total:.1f} s)")
        return 1
    report.line(f"self-test passed: {report.checks} checks ok ({total:.1f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_self_test())
