#!/usr/bin/env python
"""Build Desktop Denoiser as a standalone one-folder application with PyInstaller.

    python build_installer.py [--clean] [--skip-self-test] [--dist DIR] [--work DIR] [--models DIR]

The result is ``DIST/desktop-denoiser/`` holding the ``desktop-denoiser`` executable (with
``.exe`` on Windows) and its ``_internal`` folder; it runs without a Python installation. The
bundled models (``trained_models/*.keras`` + ``*.json``) and ``resources/`` sit at the bundle
root (``sys._MEIPASS``), where :mod:`desktop_denoiser.core.paths` looks for them.

Everything PyInstaller needs (entry script, staged data, the ``.spec``) is generated in the
work folder (default ``build/installer``); nothing is written into the package. The script
ends by running the built application's ``--self-test`` in a clean environment (no
``PYTHONPATH``, no Python on ``PATH``, off-screen Qt, an empty user data folder) and exits
with its status: 0 = built and working.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import NoReturn
from pathlib import Path

ROOT = Path(__file__).resolve().parent
APP = "desktop-denoiser"
DEFAULT_MODELS = ("unet-mixed", "classifier")  # what the app opens by default (core/store.py)

# PySide6 modules the app and pyqtgraph import. QtCore/QtGui/QtWidgets are the app's;
# pyqtgraph imports QtOpenGL unconditionally (PlotCurveItem) and QtSvg (SVG export, SVG icons)
# and QtOpenGLWidgets when present. Every other PySide6 module is excluded.
QT_MODULES_KEPT = {"QtCore", "QtGui", "QtWidgets", "QtOpenGL", "QtOpenGLWidgets", "QtSvg"}

# Packages that are never needed at run time (some are optional imports of TensorFlow, Keras,
# scipy, Pillow or pyqtgraph, which PyInstaller would otherwise follow).
EXCLUDES = [
    "tensorboard", "tensorboard_data_server", "tensorboard_plugin_profile", "tensorflow_datasets",
    "matplotlib", "IPython", "ipykernel", "ipywidgets", "jupyter", "jupyter_client", "jupyter_core",
    "notebook", "nbformat", "tkinter", "_tkinter", "PIL.ImageTk", "PIL._tkinter_finder",
    "pytest", "_pytest", "pytestqt", "pytest_benchmark", "hypothesis",
    "torch", "jax", "jaxlib", "flax", "openvino", "pandas", "sklearn", "skimage", "cv2",
    "PyQt5", "PyQt6", "PySide2", "shiboken2",
    "pyqtgraph.examples", "pyqtgraph.opengl", "OpenGL",
    "keras.src.backend.jax", "keras.src.backend.torch", "keras.src.backend.openvino",
    # Only TensorFlow's remote debugger/RPC modules import grpc; cryptography and OpenSSL are
    # optional extras of requests/urllib3; StableHLO (25 MB) is for exporting models only.
    "grpc", "cryptography", "OpenSSL", "tensorflow.compiler.mlir.stablehlo",
    "desktop_denoiser.benchmarks", "tests",
]

HIDDEN_IMPORTS = [
    "desktop_denoiser.selftest",  # imported lazily by the CLI
]

# Data files not worth shipping: Qt's translations (the app is in English), QML (not used).
DATA_DROP_PARTS = ("translations", "qml")


def _pyside6_excludes() -> list[str]:
    try:
        import PySide6
    except ImportError:
        return []
    folder = Path(PySide6.__file__).parent
    names = {p.name.split(".")[0] for p in folder.iterdir() if p.name.startswith("Qt") and p.suffix in (".so", ".pyd", ".pyi")}
    return sorted(f"PySide6.{n}" for n in names if n not in QT_MODULES_KEPT)


# ------------------------------------------------------------------------------------------


def _fail(message: str, status: int = 1) -> NoReturn:
    print(f"build_installer: error: {message}", file=sys.stderr, flush=True)
    sys.exit(status)


def _pyinstaller_version() -> str:
    try:
        import PyInstaller
    except ImportError:
        _fail(f"PyInstaller is not installed; install it with:\n    {sys.executable} -m pip install 'pyinstaller>=6'\n"
              f"(or: pip install -e '.[installer]')")
    version = getattr(PyInstaller, "__version__", "0")
    try:
        major = int(version.split(".")[0])
    except ValueError:
        major = 0
    if major < 6:
        _fail(f"PyInstaller {version} is too old; upgrade with:\n    {sys.executable} -m pip install -U 'pyinstaller>=6'")
    return version


def _copy_files(files, target: Path) -> list[Path]:
    """Copy files, made readable by everyone: the model store saves through temporary files
    created private (0600), which would make a system-wide install unusable for other users."""
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for f in files:
        shutil.copyfile(f, target / f.name)
        os.chmod(target / f.name, 0o644)
        copied.append(target / f.name)
    return copied


def stage_models(source: Path, target: Path) -> list[str]:
    """Copy the finished models (``NAME.keras`` with its ``NAME.json``) into ``target``.

    Temporary files of a save in progress (``.NAME...``) are left out, so the build can run while
    models are being trained. Returns the model names.
    """
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    if not source.is_dir():
        return []
    names = []
    for keras_file in sorted(source.glob("*.keras")):
        if keras_file.name.startswith("."):
            continue
        meta = keras_file.with_suffix(".json")
        _copy_files([keras_file] + ([meta] if meta.is_file() else []), target)
        names.append(keras_file.stem)
    return names


def stage_resources(source: Path, target: Path) -> int:
    if target.exists():
        shutil.rmtree(target)
    if not source.is_dir():
        target.mkdir(parents=True)
        return 0
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".*", "__pycache__", "*.pyc", "*.xcf", "*.psd"),
                    copy_function=shutil.copyfile)
    files = [p for p in target.rglob("*") if p.is_file()]
    for p in files:
        os.chmod(p, 0o644)
    return len(files)


ENTRY_SCRIPT = '''\
"""Entry point of the frozen Desktop Denoiser (generated by build_installer.py)."""
import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from desktop_denoiser.cli import main

    sys.exit(main())
'''


def write_spec(work: Path, entry: Path, models: Path, resources: Path) -> Path:
    """Generate the PyInstaller spec (one-folder, console executable)."""
    excludes = EXCLUDES + _pyside6_excludes()
    spec = f'''\
# Generated by build_installer.py -- edit that script, not this file.
from PyInstaller.utils.hooks import collect_submodules

hiddenimports = {HIDDEN_IMPORTS!r} + collect_submodules("desktop_denoiser")

a = Analysis(
    [{str(entry)!r}],
    pathex=[{str(ROOT)!r}],
    binaries=[],
    datas=[({str(models)!r}, "trained_models"), ({str(resources)!r}, "resources")],
    hiddenimports=hiddenimports,
    hookspath=[],
    hooksconfig={{}},
    runtime_hooks=[],
    excludes={excludes!r},
    noarchive=False,
    # Keep the app's .py sources next to the bytecode: tf.function's autograph reads them.
    module_collection_mode={{"desktop_denoiser": "pyz+py"}},
)

_drop = {DATA_DROP_PARTS!r}


def _keep(dest):
    parts = dest.replace("\\\\", "/").split("/")
    return not (len(parts) > 2 and parts[0] == "PySide6" and parts[1] == "Qt" and parts[2] in _drop)


a.datas = [d for d in a.datas if _keep(d[0])]

pyz = PYZ(a.pure)
exe = EXE(
    pyz,
    a.scripts,
    [],
    exclude_binaries=True,
    name={APP!r},
    debug=False,
    strip=False,
    upx=False,
    console=True,
)
coll = COLLECT(exe, a.binaries, a.datas, strip=False, upx=False, name={APP!r})
'''
    path = work / f"{APP}.spec"
    path.write_text(spec, encoding="utf-8")
    return path


def folder_size(folder: Path) -> tuple[int, int]:
    """(bytes, files) of a folder, symlinks counted as links (not followed)."""
    total = files = 0
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
                files += 1
            except OSError:
                pass
    return total, files


def clean_environment(home: Path) -> dict:
    """The environment of a machine without Python: no PYTHON* variables, no Python on PATH."""
    python_dirs = {Path(sys.executable).parent.resolve(), Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    env = {}
    for key, value in os.environ.items():
        upper = key.upper()
        if upper.startswith(("PYTHON", "PYENV", "CONDA", "VIRTUAL_ENV", "PIP_", "DESKTOP_DENOISER_")):
            continue
        if upper in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "QT_PLUGIN_PATH", "QML2_IMPORT_PATH"):
            continue
        env[key] = value
    kept = []
    for entry in env.get("PATH", "").split(os.pathsep):
        if not entry:
            continue
        p = Path(entry)
        try:
            resolved = p.resolve()
        except OSError:
            continue
        if any(resolved == d or d in resolved.parents for d in python_dirs) or "pyenv" in entry or "venv" in entry:
            continue
        kept.append(entry)
    env["PATH"] = os.pathsep.join(kept)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["DESKTOP_DENOISER_HOME"] = str(home)  # the user's models must not stand in for the bundled ones
    return env


def run_self_test(exe: Path, timeout: float = 900) -> int:
    print(f"\n$ {exe} --self-test   (clean environment, QT_QPA_PLATFORM=offscreen)", flush=True)
    with tempfile.TemporaryDirectory(prefix="dd-selftest-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([str(exe), "--self-test"], cwd=tmp, env=clean_environment(home),
                                  stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"build_installer: the self-test did not finish within {timeout:.0f} s", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"build_installer: the built application could not be started: {exc}", file=sys.stderr)
            return 1
    print(f"self-test exit status {proc.returncode} ({time.perf_counter() - t0:.1f} s)", flush=True)
    return 1 if proc.returncode != 0 else 0


def _human(n: float) -> str:
    return f"{n / 2**30:.2f} GB ({n / 2**20:,.0f} MB)" if n >= 2**30 else f"{n / 2**20:,.1f} MB"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Build the standalone Desktop Denoiser application with PyInstaller.")
    p.add_argument("--clean", action="store_true", help="delete the work folder, PyInstaller's cache and the previous build first")
    p.add_argument("--skip-self-test", action="store_true", help="do not run the built application's --self-test")
    p.add_argument("--dist", default=str(ROOT / "dist"), metavar="DIR", help="where the application folder goes (default: dist)")
    p.add_argument("--work", default=None, metavar="DIR", help="PyInstaller's work folder (default: build/installer)")
    p.add_argument("--models", default=str(ROOT / "trained_models"), metavar="DIR",
                   help="folder of the models to bundle (default: trained_models)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    version = _pyinstaller_version()
    dist = Path(args.dist).resolve()
    work = Path(args.work).resolve() if args.work else ROOT / "build" / "installer"
    app_dir = dist / APP
    exe = app_dir / (APP + (".exe" if sys.platform == "win32" else ""))

    if args.clean:
        for folder in (work, app_dir):
            if folder.exists():
                print(f"removing {folder}", flush=True)
                shutil.rmtree(folder)
    work.mkdir(parents=True, exist_ok=True)

    models = stage_models(Path(args.models), work / "data" / "trained_models")
    if not models:
        print(f"build_installer: warning: no models in {args.models}; the application will have to train its own "
              "and its self-test will fail", file=sys.stderr)
    else:
        missing = [m for m in DEFAULT_MODELS if m not in models]
        note = f" (missing the default {', '.join(missing)})" if missing else ""
        print(f"bundling {len(models)} model(s): {', '.join(models)}{note}", flush=True)
    n_resources = stage_resources(ROOT / "resources", work / "data" / "resources")
    if not (work / "data" / "resources" / "sample_digit.png").is_file():
        print("build_installer: warning: resources/sample_digit.png is missing; the self-test will fail", file=sys.stderr)
    print(f"bundling {n_resources} resource file(s)", flush=True)

    entry = work / "desktop_denoiser_main.py"
    entry.write_text(ENTRY_SCRIPT, encoding="utf-8")
    spec = write_spec(work, entry, work / "data" / "trained_models", work / "data" / "resources")

    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(dist), "--workpath", str(work / "pyinstaller"), str(spec)]
    if args.clean:
        cmd.insert(3, "--clean")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("DESKTOP_DENOISER_BUNDLED", None)
    print(f"PyInstaller {version}, Python {sys.version.split()[0]}: building {app_dir} (this takes a while)…", flush=True)
    t0 = time.perf_counter()
    try:
        status = subprocess.call(cmd, cwd=str(work), env=env)
    except KeyboardInterrupt:
        print("build_installer: interrupted", file=sys.stderr)
        return 130
    seconds = time.perf_counter() - t0
    if status != 0 or not exe.is_file():
        _fail(f"PyInstaller failed (exit status {status}) after {seconds:.0f} s; see its messages above")

    size, files = folder_size(app_dir)
    minutes, secs = divmod(int(round(seconds)), 60)
    print(f"\nbuilt {exe}", flush=True)
    print(f"build time {minutes} min {secs:02d} s; bundle {_human(size)} in {files} files ({app_dir})", flush=True)
    if args.skip_self_test:
        return 0
    status = run_self_test(exe)
    print("build_installer: OK" if status == 0 else "build_installer: the built application FAILED its self-test",
          file=sys.stderr if status else sys.stdout, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
