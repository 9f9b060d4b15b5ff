"""Shared fixtures for the Desktop Denoiser test suite.

* Qt runs off-screen and TensorFlow is quiet (set at import time, before anything imports them).
* ``DESKTOP_DENOISER_MNIST`` points at the shared MNIST file when it exists and is not set.
* Every test gets its own ``DESKTOP_DENOISER_HOME`` (the user's data folder is never touched).
* ``mnist``: the real MNIST arrays (the test is skipped with a reason when MNIST is missing).
* ``tiny_models``: a small classifier and small U-Net / conv denoisers, really trained once per
  session through :class:`Trainer`, measured and stored with their real metadata.
* ``digit_pngs``: real MNIST test digits written as PNG files in both polarities.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = (REPO_ROOT / ".." / "shared" / "data" / "mnist.npz").resolve()
if not os.environ.get("DESKTOP_DENOISER_MNIST") and SHARED_MNIST.is_file():
    os.environ["DESKTOP_DENOISER_MNIST"] = str(SHARED_MNIST)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

N_DIGIT_PNGS = 10


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Point the user's data folder at a fresh temporary folder for every test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DESKTOP_DENOISER_HOME", str(home))
    return home


def _missing(reason: str):
    """Skip, except under CI (CI=true), where a missing MNIST is a failure: a green CI means the
    whole suite ran."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " (CI=true: the tests that need MNIST must run)")
    pytest.skip(reason)


def _load_mnist_or_skip():
    from desktop_denoiser.core import data
    from desktop_denoiser.core.errors import DatasetError

    keras_cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
    if not os.environ.get(data.ENV_VAR) and not keras_cache.is_file():
        # no download from the tests: MNIST must be given or already in Keras's cache
        _missing(f"MNIST is not available: set {data.ENV_VAR} to mnist.npz (none at {SHARED_MNIST} or {keras_cache})")
    try:
        return data.load_mnist()
    except DatasetError as exc:
        _missing(f"MNIST is not available: {exc}")


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST arrays (uint8); skips the test when MNIST cannot be found."""
    return _load_mnist_or_skip()


# ----------------------------------------------------------------------------------------------
# really trained small models, once per session


@dataclasses.dataclass
class TinyModels:
    folder: Path  # the "bundled" folder holding the models
    user_dir: Path  # the store's user folder (empty)
    store: object  # ModelStore(bundled_dir=folder, user_dir=user_dir)
    denoiser_name: str  # "unet-mixed": a U-Net on the mixed noise, the store's default denoiser
    conv_name: str  # "conv-uniform": the second article's conv autoencoder on uniform:0.9
    classifier_name: str  # "classifier", the store's default classifier
    results: dict  # name -> TrainResult
    seconds: float  # how long training, measuring and saving took


TINY_SUBSET = 3000
TINY_EVAL_LIMIT = 1000  # test images the metadata figures are measured on


def _train_tiny(store, name, **config):
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.training import TrainConfig, Trainer

    settings = dict(subset=TINY_SUBSET, epochs=2, batch_size=32, val_limit=500, patience=None, seed=0)
    cfg = TrainConfig(**{**settings, **config})
    result = Trainer(cfg).run()
    figures = workflows.test_metrics(result, store, limit=TINY_EVAL_LIMIT)
    entry = store.save(result.model, workflows.metadata(result, figures), name, folder=store.bundled_dir)  # as shipped
    assert entry.name == name, f"the fixture's folder already held a model named {name}"
    return result, entry


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, mnist) -> TinyModels:
    """A classifier, a U-Net and a conv denoiser, trained for real on 3000 images (2, 2 and 1 epochs).

    The classifier is saved first, so the denoisers' metadata carries the downstream accuracy.
    The U-Net is trained on the ``mixed`` noise (like the app's default model) and named
    ``unet-mixed``, so it is the store's default denoiser; trained on ``uniform:0.9`` only, it
    would turn clean digits into mush (clean inputs are far from its training inputs).
    About 40 CPU-seconds.
    """
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.store import ModelStore

    t0 = time.perf_counter()
    folder = tmp_path_factory.mktemp("tiny_models")
    user_dir = tmp_path_factory.mktemp("tiny_user") / "models"
    store = ModelStore(bundled_dir=folder, user_dir=user_dir)
    clf, clf_entry = _train_tiny(store, "classifier", arch="classifier", noise=NoiseSpec("none"))
    acc = clf_entry.meta["metrics"]["test_accuracy"]
    assert acc >= 0.85, f"the tiny classifier reached only {acc:.3f} test accuracy"
    conv, conv_entry = _train_tiny(store, "conv-uniform", arch="conv", noise=NoiseSpec.parse("uniform:0.9"), epochs=1)
    unet, unet_entry = _train_tiny(store, "unet-mixed", arch="unet", noise=NoiseSpec("mixed"))
    results = {clf_entry.name: clf, conv_entry.name: conv, unet_entry.name: unet}
    return TinyModels(
        folder=folder, user_dir=user_dir, store=store, denoiser_name=unet_entry.name, conv_name=conv_entry.name,
        classifier_name=clf_entry.name, results=results, seconds=time.perf_counter() - t0,
    )


# ----------------------------------------------------------------------------------------------
# real digits as image files


def first_digits_of_each_class(mnist, count: int = N_DIGIT_PNGS) -> list[int]:
    """Indices of the first test digit of each class, in order of appearance."""
    seen: dict[int, int] = {}
    for i, label in enumerate(mnist.y_test):
        if int(label) not in seen:
            seen[int(label)] = i
            if len(seen) == count:
                break
    return list(seen.values())


@pytest.fixture
def digit_pngs(tmp_path, mnist) -> list[tuple[Path, int]]:
    """The first 10 test digits of different classes as PNG files at 3× size (84×84):
    for each, one black-on-white (``*-dark-on-light.png``) and one white-on-black
    (``*-light-on-dark.png``). Returns ``[(path, label), ...]`` (20 entries, alternating)."""
    from PIL import Image

    folder = tmp_path / "digits"
    folder.mkdir()
    out = []
    for i in first_digits_of_each_class(mnist):
        label = int(mnist.y_test[i])
        big = Image.fromarray(mnist.x_test[i]).resize((84, 84), Image.Resampling.BICUBIC)
        light_on_dark = np.asarray(big, dtype=np.uint8)
        for polarity, pixels in (("dark-on-light", 255 - light_on_dark), ("light-on-dark", light_on_dark)):
            path = folder / f"test{i:04d}-label{label}-{polarity}.png"
            Image.fromarray(np.ascontiguousarray(pixels)).save(path)
            out.append((path, label))
    return out


# ----------------------------------------------------------------------------------------------
# the main window with the tiny models (GUI tests)

GUI_TIMEOUT = 120_000


@pytest.fixture
def make_window(qtbot, tiny_models, tmp_path):
    """Build MainWindows on the tiny models with their own settings file; each is shown, waits
    for its models (unless ``load_models=False``) and is closed (training stopped) afterwards."""
    from PySide6.QtCore import QSettings

    from desktop_denoiser.core.store import ModelStore
    from desktop_denoiser.gui.main_window import MainWindow

    made = []
    bundled = tmp_path / "bundled"  # a copy per test: models trained in the window land here
    shutil.copytree(tiny_models.folder, bundled)

    def make(settings_name: str = "settings.ini", load_models: bool = True):
        store = ModelStore(bundled_dir=bundled, user_dir=tmp_path / "user_models")
        settings = QSettings(str(tmp_path / settings_name), QSettings.Format.IniFormat)
        w = MainWindow(store=store, settings=settings, load_models=load_models)
        qtbot.addWidget(w)
        made.append(w)
        if load_models:
            w.show()
            qtbot.waitUntil(lambda: w._models is not None, timeout=GUI_TIMEOUT)
        return w

    yield make
    for w in made:
        if w.is_training():
            w.cancel_training()
            w._training.wait(GUI_TIMEOUT)
        w.close()


@pytest.fixture
def window(make_window):
    return make_window()


def open_image(qtbot, window, path, timeout: int = 30_000) -> bool:
    """``window.open_image(path)`` and wait until it is read (in its background thread):
    True when the image was shown, False when it was refused (with a message box)."""
    with qtbot.waitSignal(window.image_opened, timeout=timeout) as blocker:
        window.open_image(str(path))
    assert blocker.args[1] == str(path)
    return blocker.args[0]


def in_process_cli(monkeypatch, capsys, cwd: Path, bundled: Path):
    """``run(*args)``: cli.main in this process with the models of ``bundled``, in ``cwd``;
    returns (exit code, stdout, stderr lines)."""
    from desktop_denoiser import cli

    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(bundled))
    monkeypatch.chdir(cwd)

    def run(*args):
        capsys.readouterr()
        code = cli.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, [line for line in err.splitlines() if line.strip()]

    return run


def read_only_folder(path: Path):
    """Make ``path`` a folder nobody may create files in, even root (chattr +i); returns the undo,
    or skips the test when that cannot be done here."""
    import stat
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    if getattr(os, "geteuid", lambda: 1)() != 0:
        os.chmod(path, 0o555)
        return lambda: os.chmod(path, stat.S_IRWXU)
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)
    pytest.skip("running as root where chattr +i is not available: cannot make a read-only folder")


def fail_metadata_writes(monkeypatch) -> None:
    """From now on writing a model's metadata (its ``*.tmp.json``) fails as on a full disk."""
    import errno

    real_write_bytes = Path.write_bytes

    def disk_full_for_metadata(self, data):
        if self.name.endswith(".tmp.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full_for_metadata)
