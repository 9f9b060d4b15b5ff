"""The ``--self-test`` and the standalone build (``build_installer.py``).

Fast tests run the self-test in-process against small, really trained models and check its
failure modes (no models, no sample image); they also cover the build script's helpers. The
``slow`` test builds the whole PyInstaller bundle into a temporary folder and runs the built
application (``pytest -m slow``; it takes 10-20 minutes on two cores).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from desktop_denoiser import selftest

REPO = Path(__file__).resolve().parents[1]
CHECKS = ("gui libraries", "shape", "finite", "psnr", "digit", "training process")


def _load_build_installer():
    spec = importlib.util.spec_from_file_location("build_installer", REPO / "build_installer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------
# small trained models for the self-test


def _train(store, name, **config):
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.training import TrainConfig, Trainer

    cfg = TrainConfig(subset=3000, val_limit=500, patience=None, seed=0, epochs=2, batch_size=32, **config)
    result = Trainer(cfg).run()
    figures = workflows.test_metrics(result, store, limit=500)
    return store.save(result.model, workflows.metadata(result, figures), name, folder=store.bundled_dir)  # as shipped


@pytest.fixture(scope="module")
def selftest_models(tmp_path_factory, mnist) -> Path:
    """A classifier and a U-Net denoiser (uniform:0.5) trained for 2 epochs on 3000 digits.

    Batches of 32 rather than the default 128: with so few images the extra steps are what
    makes them good enough (about 93 % accuracy and +13 dB PSNR) for the self-test's checks to
    pass with a wide margin. About 40 s on two CPU cores.
    """
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.store import ModelStore

    folder = tmp_path_factory.mktemp("selftest_models")
    store = ModelStore(bundled_dir=folder, user_dir=tmp_path_factory.mktemp("selftest_user"))
    clf = _train(store, "classifier", arch="classifier", noise=NoiseSpec("none"))
    assert clf.meta["metrics"]["test_accuracy"] >= 0.85, clf.meta["metrics"]
    unet = _train(store, "unet-uniform", arch="unet", noise=NoiseSpec.parse("uniform:0.5"))
    m = unet.meta["metrics"]
    assert m["test_psnr"] > m["test_psnr_noisy"] + 3, m
    return folder


# ----------------------------------------------------------------------------------------------
# the self-test, in-process


def test_sample_digit_is_a_scan_like_seven():
    from PIL import Image

    from desktop_denoiser.core import paths
    from desktop_denoiser.core.preprocess import DARK_ON_LIGHT, analyse

    path = paths.resources_dir() / selftest.SAMPLE_NAME
    assert path.is_file(), path
    with Image.open(path) as im:
        assert im.size == (140, 140)
        a = np.asarray(im.convert("L"))
    assert np.median(a) > 200 and a.min() < 30  # black ink on white paper
    analysis = analyse(Image.open(path))
    assert analysis.polarity == DARK_ON_LIGHT and not analysis.empty and not analysis.noisy
    assert selftest.SAMPLE_LABEL == 7


def test_self_test_passes_with_trained_models(selftest_models, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(selftest_models))
    monkeypatch.setenv("DESKTOP_DENOISER_HOME", str(tmp_path / "home"))
    status = selftest.run_self_test()
    out = capsys.readouterr().out
    assert status == 0, out
    for check in CHECKS:
        assert any(line.startswith("ok") and f" {check}:" in line for line in _lines(out)), (check, out)
    assert "FAIL" not in out
    assert "tensorflow 2." in out and "device: " in out and "PySide6 6." in out and "pyqtgraph" in out
    assert "self-test passed" in out
    assert str(selftest_models) in out


def test_self_test_fails_with_an_empty_models_folder(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "no_models"
    empty.mkdir()
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(empty))
    monkeypatch.setenv("DESKTOP_DENOISER_HOME", str(tmp_path / "home"))
    assert selftest.run_self_test() == 1
    captured = capsys.readouterr()
    lines = _lines(captured.out + captured.err)
    assert len(lines) == 1, lines
    assert lines[0].startswith("FAIL") and "no denoiser" in lines[0] and str(empty) in lines[0], lines


def test_self_test_names_unusable_models(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "bad_models"
    folder.mkdir()
    (folder / "unet-mixed.keras").write_bytes(b"not a zip")
    (folder / "unet-mixed.json").write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(folder))
    monkeypatch.setenv("DESKTOP_DENOISER_HOME", str(tmp_path / "home"))
    assert selftest.run_self_test() == 1
    lines = _lines(capsys.readouterr().out)
    assert len(lines) == 1 and "unusable: unet-mixed" in lines[0], lines


def test_self_test_fails_without_the_sample_image(tmp_path, monkeypatch, capsys):
    from desktop_denoiser.core import paths

    empty = tmp_path / "resources"
    empty.mkdir()
    monkeypatch.setattr(paths, "resources_dir", lambda: empty)
    assert selftest.run_self_test() == 1
    captured = capsys.readouterr()
    lines = _lines(captured.out + captured.err)
    assert len(lines) == 1, lines
    assert lines[0].startswith("FAIL") and selftest.SAMPLE_NAME in lines[0] and str(empty) in lines[0], lines


def test_self_test_reports_a_broken_step_as_one_fail_line(selftest_models, monkeypatch, tmp_path, capsys):
    from desktop_denoiser.core import preprocess

    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(selftest_models))
    monkeypatch.setenv("DESKTOP_DENOISER_HOME", str(tmp_path / "home"))

    def broken(image):
        raise ValueError("simulated failure")

    monkeypatch.setattr(preprocess, "analyse", broken)  # the frame's first step (core.frame.prepare)
    assert selftest.run_self_test() == 1
    out = capsys.readouterr().out
    assert "FAIL  denoising the sample: ValueError: simulated failure" in out
    assert "Traceback" not in out and "self-test FAILED" in out


def test_cli_self_test_without_models_is_one_line_and_exit_1(tmp_path):
    empty = tmp_path / "no_models"
    empty.mkdir()
    env = dict(os.environ, DESKTOP_DENOISER_BUNDLED=str(empty), DESKTOP_DENOISER_HOME=str(tmp_path / "home"),
               PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "desktop_denoiser", "--self-test"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc
    assert len(_lines(proc.stdout)) == 1 and "no denoiser" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------------------------
# build_installer.py helpers (fast)


def test_build_installer_explains_a_missing_pyinstaller(monkeypatch, capsys):
    bi = _load_build_installer()
    monkeypatch.setitem(sys.modules, "PyInstaller", None)  # makes 'import PyInstaller' fail
    with pytest.raises(SystemExit) as exc:
        bi.main(["--skip-self-test"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "PyInstaller is not installed" in err and "pip install" in err and "Traceback" not in err


def test_build_installer_stages_only_finished_models(tmp_path):
    bi = _load_build_installer()
    src = tmp_path / "trained_models"
    src.mkdir()
    for name in ("classifier.keras", "classifier.json", "unet-mixed.keras", "unet-mixed.json",
                 ".unet-mixed.keras.tmp123", "notes.txt"):
        (src / name).write_bytes(b"x")
        (src / name).chmod(0o600)  # how the model store's atomic saves leave them
    target = tmp_path / "staged"
    assert bi.stage_models(src, target) == ["classifier", "unet-mixed"]
    assert sorted(p.name for p in target.iterdir()) == ["classifier.json", "classifier.keras", "unet-mixed.json", "unet-mixed.keras"]
    if os.name == "posix":
        assert all(p.stat().st_mode & 0o777 == 0o644 for p in target.iterdir())
    assert bi.stage_models(tmp_path / "missing", target) == [] and not any(target.iterdir())


def test_build_installer_clean_environment(tmp_path, monkeypatch):
    bi = _load_build_installer()
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    monkeypatch.setenv("PYTHONHOME", "/elsewhere")
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", "/models")
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]))
    env = bi.clean_environment(tmp_path)
    assert not any(k.startswith("PYTHON") for k in env)
    assert "DESKTOP_DENOISER_BUNDLED" not in env and env["DESKTOP_DENOISER_HOME"] == str(tmp_path)
    assert env["QT_QPA_PLATFORM"] == "offscreen"
    assert str(Path(sys.executable).parent) not in env["PATH"].split(os.pathsep)
    assert "/usr/bin" in env["PATH"].split(os.pathsep)


def test_build_installer_spec_is_valid_python(tmp_path):
    bi = _load_build_installer()
    spec = bi.write_spec(tmp_path, tmp_path / "main.py", tmp_path / "m", tmp_path / "r")
    text = spec.read_text(encoding="utf-8")
    compile(text, str(spec), "exec")
    assert '"trained_models"' in text and '"resources"' in text and "tensorboard" in text
    assert "'PySide6.QtCore'" not in text and "'PySide6.QtQuick'" in text


# ----------------------------------------------------------------------------------------------
# the real build (slow)


def _repo_models_usable() -> bool:
    from desktop_denoiser.core.store import ModelStore

    store = ModelStore(bundled_dir=REPO / "trained_models", user_dir=REPO / "trained_models")
    return store.default("denoiser") is not None and store.default("classifier") is not None


@pytest.mark.slow
def test_build_installer_builds_a_working_application(tmp_path, request):
    pytest.importorskip("PyInstaller", reason="PyInstaller is not installed (pip install '.[installer]')")
    models = REPO / "trained_models" if _repo_models_usable() else request.getfixturevalue("selftest_models")
    dist, work = tmp_path / "dist", tmp_path / "work"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESKTOP_DENOISER_")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(REPO / "build_installer.py"), "--dist", str(dist), "--work", str(work), "--models", str(models)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=3300,
    )
    print(f"build + self-test: {time.perf_counter() - t0:.0f} s")
    print(proc.stdout[-5000:])
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    for check in CHECKS:
        assert any(line.startswith("ok") and f" {check}:" in line for line in _lines(proc.stdout)), (check, proc.stdout)
    assert "self-test passed" in proc.stdout and "FAIL" not in proc.stdout

    exe = dist / "desktop-denoiser" / ("desktop-denoiser" + (".exe" if sys.platform == "win32" else ""))
    bi = _load_build_installer()
    home = tmp_path / "home"
    home.mkdir()
    run_env = bi.clean_environment(home)
    helped = subprocess.run([str(exe), "--help"], cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300)
    assert helped.returncode == 0 and "--self-test" in helped.stdout, helped
    listed = subprocess.run([str(exe), "models"], cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed
    bundled = sorted(p.stem for p in Path(models).glob("*.keras") if not p.name.startswith("."))
    for name in bundled:
        assert any(line.startswith("bundled") and f" {name} " in f"{line} " for line in listed.stdout.splitlines()), (name, listed.stdout)
    assert "_internal" in listed.stdout.splitlines()[0]  # the bundle's own folder, not the checkout's
