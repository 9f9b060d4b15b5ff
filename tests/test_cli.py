"""The ``desktop-denoiser`` command, run as a real subprocess (``python -m desktop_denoiser``)
against the session's tiny trained models."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from conftest import fail_metadata_writes, read_only_folder  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
ERROR_PREFIX = "desktop-denoiser: error:"
# TensorFlow's C++ start-up lines, which TF_CPP_MIN_LOG_LEVEL does not silence (see test_tf_log_noise)
TF_NOISE = ("WARNING:", "I0000", "E0000", "W0000")
CLASSIFY_LINE = re.compile(r"^(?P<path>.+)\t(?P<digit>\d)\t(?P<prob>[01]\.\d{4})$")


def run_cli(*args, bundled=None, home, cwd, timeout=600) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the command must quiet TensorFlow itself
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["DESKTOP_DENOISER_HOME"] = str(home)
    if bundled is not None:
        env["DESKTOP_DENOISER_BUNDLED"] = str(bundled)
    return subprocess.run(
        [sys.executable, "-m", "desktop_denoiser", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


def stderr_lines(proc, filter_tf=True) -> list[str]:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if filter_tf:
        lines = [line for line in lines if not line.startswith(TF_NOISE)]
    return lines


def assert_one_error_line(proc, *words, exact_prefix=True) -> str:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    lines = stderr_lines(proc)
    assert len(lines) == 1, f"expected one line on stderr, got:\n{proc.stderr}"
    (line,) = lines
    if exact_prefix:
        assert line.startswith(ERROR_PREFIX), line
    else:
        assert re.match(r"^desktop-denoiser( [a-z]+)?: error: \S", line), line
    for word in words:
        assert word in line, line
    assert "Traceback" not in proc.stderr
    return line


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def cli(tiny_models, home, tmp_path):
    """run_cli with the tiny models as the bundled folder and a fresh user folder."""

    def run(*args, **kwargs):
        kwargs.setdefault("bundled", tiny_models.folder)
        return run_cli(*args, home=home, cwd=tmp_path, **kwargs)

    return run


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


# ----------------------------------------------------------------------------------------------
# help


@pytest.mark.parametrize(
    "command, options",
    [
        ((), ["train", "denoise", "evaluate", "models", "gui", "--version", "--self-test"]),
        (("train",), ["--arch", "--noise", "--epochs", "--batch-size", "--lr", "--subset", "--patience", "--seed",
                      "--time-budget", "--lr-schedule", "--mnist", "--name", "--out", "--eval-limit", "uniform"]),
        (("denoise",), ["IN", "--output", "--recursive", "--overwrite", "--noise", "--seed", "--model", "--classifier",
                        "--classify", "--size"]),
        (("evaluate",), ["--model", "--noise", "--limit", "--quick", "--full", "--tables", "--mnist"]),
        (("models",), ["--paths"]),
        (("gui",), ["window"]),
    ],
)
def test_help(command, options, home, tmp_path):
    proc = run_cli(*command, "--help", home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: desktop-denoiser")
    text = " ".join(proc.stdout.split())  # argparse wraps lines
    for option in options:
        assert option in text, option
    assert stderr_lines(proc) == []


def test_version(home, tmp_path):
    from desktop_denoiser import __version__

    proc = run_cli("--version", home=home, cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"desktop-denoiser {__version__}"


# ----------------------------------------------------------------------------------------------
# models


def test_models_lists_the_tiny_models(cli, tiny_models, home):
    proc = cli("models", "--paths")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"bundled: {tiny_models.folder}" in out
    assert f"user:    {home / 'models'}" in out
    assert f"new models go to: {home / 'models'}" in out  # never the bundled folder by itself (issue 12)
    lines = {line.split()[2]: line for line in out.splitlines() if line.startswith("bundled ")}
    # other tests (the GUI's) may have added models to the shared folder
    assert set(lines) >= {tiny_models.denoiser_name, tiny_models.conv_name, tiny_models.classifier_name}
    assert "classifier" in lines[tiny_models.classifier_name] and "acc " in lines[tiny_models.classifier_name]
    assert "denoiser" in lines[tiny_models.denoiser_name] and "PSNR" in lines[tiny_models.denoiser_name]
    assert lines[tiny_models.denoiser_name].count("(default)") == 1
    assert lines[tiny_models.classifier_name].count("(default)") == 1
    assert "(default)" not in lines[tiny_models.conv_name]
    assert str(tiny_models.folder / f"{tiny_models.conv_name}.keras") in lines[tiny_models.conv_name]
    assert stderr_lines(proc) == []


def test_models_with_an_empty_store(tmp_path, home):
    proc = run_cli("models", bundled=tmp_path / "empty", home=home, cwd=tmp_path)
    assert proc.returncode == 0
    assert "no models" in proc.stdout


# ----------------------------------------------------------------------------------------------
# denoise


def test_denoise_one_file(cli, digit_pngs, tmp_path):
    source, label = digit_pngs[0]  # dark ink on light paper
    out = tmp_path / "out.png"
    proc = cli("denoise", source, "-o", out, "--classify")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    m = CLASSIFY_LINE.match(lines[0])
    assert m, lines[0]
    assert m["path"] == str(source)
    assert int(m["digit"]) == label
    assert 0.1 <= float(m["prob"]) <= 1.0
    assert _png_size(out) == (28, 28)
    pixels = np.asarray(Image.open(out).convert("L"), np.float32)
    # an MNIST-style digit: light ink on a dark background
    assert pixels.max() > 150 and np.median(pixels) < 60
    assert stderr_lines(proc) == []


def test_denoise_a_folder_classifies_both_polarities(cli, digit_pngs, tmp_path):
    folder = digit_pngs[0][0].parent
    out = tmp_path / "out"
    proc = cli("denoise", folder, "-o", out, "--classify")
    assert proc.returncode == 0, proc.stderr
    labels = {str(path): label for path, label in digit_pngs}
    found = {}
    for line in proc.stdout.splitlines():
        m = CLASSIFY_LINE.match(line)
        assert m, line
        found[m["path"]] = int(m["digit"])
    assert set(found) == set(labels)
    for polarity in ("dark-on-light", "light-on-dark"):
        paths = [p for p in labels if polarity in p]
        correct = sum(found[p] == labels[p] for p in paths)
        assert len(paths) == 10
        assert correct >= 9, f"{polarity}: {correct}/10 correct: " + ", ".join(
            f"{Path(p).name}->{found[p]}" for p in paths if found[p] != labels[p])
    # one 28x28 PNG per input, named after it
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(Path(p).stem + ".png" for p in labels)
    assert all(_png_size(out / name) == (28, 28) for name in written)
    assert stderr_lines(proc) == ["desktop-denoiser: 20 written, 0 skipped, 0 failed"]


def test_denoise_with_added_noise_and_size(cli, digit_pngs, tmp_path):
    source, _ = digit_pngs[1]  # light ink on dark
    out = tmp_path / "noisy-denoised.png"
    proc = cli("denoise", source, "-o", out, "--noise", "uniform:0.5", "--seed", "3", "--size", "56", "--classify")
    assert proc.returncode == 0, proc.stderr
    assert CLASSIFY_LINE.match(proc.stdout.strip())
    assert _png_size(out) == (56, 56)
    assert stderr_lines(proc) == []


def test_train_then_list(tmp_path, home, tiny_models):
    out_dir = tmp_path / "trained"
    proc = run_cli("train", "--arch", "conv", "--epochs", "1", "--subset", "500", "--out", out_dir, "--eval-limit", "200",
                   home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    err = stderr_lines(proc)
    assert any(re.match(r"^epoch 1/1 \|.*\| +100\.0%  batch \d+/\d+  loss \d", line) for line in err), proc.stderr
    assert any(line.startswith("epoch 1: loss ") and "val_loss" in line for line in err), proc.stderr
    out = proc.stdout
    assert re.search(r"^Finished 1 epoch in \d+ s; best epoch 1, saved as \S+\. On CPU", out, re.M), out
    assert re.search(r"^PSNR \d+\.\d\d dB \(noisy \d+\.\d\d dB\), SSIM", out, re.M), out
    m = re.search(r"^saved (\S+) to (.+\.keras)$", out, re.M)
    assert m, out
    name, path = m[1], Path(m[2])
    assert name == "conv-mixed"
    assert path == out_dir / "conv-mixed.keras" and path.is_file() and path.with_suffix(".json").is_file()
    assert sorted(p.name for p in out_dir.iterdir()) == ["conv-mixed.json", "conv-mixed.keras"]  # no temporary files

    listed = run_cli("models", bundled=out_dir, home=home, cwd=tmp_path)
    assert listed.returncode == 0
    rows = [line for line in listed.stdout.splitlines() if line.startswith("bundled ")]
    assert len(rows) == 1 and "conv-mixed" in rows[0] and "denoiser" in rows[0] and "noise mixed" in rows[0]
    assert not (home / "models").exists()  # nothing went to the user's folder


# ----------------------------------------------------------------------------------------------
# errors: exit code != 0 and exactly one line on stderr


def test_error_missing_input_file(cli, tmp_path):
    proc = cli("denoise", tmp_path / "nothere.png", "-o", tmp_path / "out.png")
    assert proc.returncode == 1
    assert_one_error_line(proc, "nothere.png")
    assert not (tmp_path / "out.png").exists()


def test_error_missing_model_name(cli, digit_pngs, tmp_path):
    proc = cli("denoise", digit_pngs[0][0], "-o", tmp_path / "out.png", "--model", "no-such-model")
    assert proc.returncode == 1
    line = assert_one_error_line(proc, "no-such-model")
    assert "unet-mixed" in line  # lists what is available
    assert not (tmp_path / "out.png").exists()


def test_error_no_models_at_all(digit_pngs, tmp_path, home):
    proc = run_cli("denoise", digit_pngs[0][0], "-o", tmp_path / "out.png", bundled=tmp_path / "none", home=home, cwd=tmp_path)
    assert proc.returncode == 1
    assert_one_error_line(proc, "train")


@pytest.fixture(scope="module")
def corrupt_png_run(tiny_models, tmp_path_factory):
    """One run on a corrupt PNG (it loads the models, hence TensorFlow), shared by two tests."""
    folder = tmp_path_factory.mktemp("corrupt")
    bad = folder / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + np.random.default_rng(0).bytes(300))
    proc = run_cli("denoise", bad, "-o", folder / "out.png", bundled=tiny_models.folder, home=folder / "home", cwd=folder)
    return proc, folder / "out.png"


def test_error_corrupt_png(corrupt_png_run):
    proc, out = corrupt_png_run
    assert proc.returncode == 1
    assert_one_error_line(proc, "corrupt.png")
    assert not out.exists()
    # the TF start-up lines (if any) are the only other output, each a single log line
    assert all(line.startswith(TF_NOISE) or line.startswith(ERROR_PREFIX) or line.startswith("To enable")
               for line in stderr_lines(proc, filter_tf=False))


def test_tf_log_noise(corrupt_png_run):
    proc, _ = corrupt_png_run
    assert len(stderr_lines(proc, filter_tf=False)) == 1, proc.stderr


ARGPARSE_ERRORS = [
    (("denoise", "IN.png", "-o", "out.png", "--noise", "speckle"), ["--noise", "speckle"]),
    (("denoise", "IN.png", "-o", "out.png", "--noise", "uniform:7"), ["--noise", "range"]),
    (("train", "--arch", "resnet"), ["--arch", "resnet"]),
    (("train", "--epochs", "abc"), ["--epochs", "abc"]),
    (("train", "--epochs", "0"), ["--epochs"]),
    (("denoise", "IN.png"), ["--output"]),
    (("frobnicate",), ["frobnicate"]),
]


@pytest.mark.parametrize("args, words", ARGPARSE_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_usage_errors_are_one_line(args, words, digit_pngs, home, tmp_path):
    args = [str(digit_pngs[0][0]) if a == "IN.png" else a for a in args]
    proc = run_cli(*args, home=home, cwd=tmp_path)
    assert proc.returncode == 2
    assert_one_error_line(proc, *words, exact_prefix=False)
    assert proc.stdout == ""
    assert not (tmp_path / "out.png").exists()


def test_usage_errors_have_the_common_prefix(home, tmp_path):
    proc = run_cli("train", "--epochs", "abc", home=home, cwd=tmp_path)
    assert stderr_lines(proc)[0].startswith(ERROR_PREFIX)


# ----------------------------------------------------------------------------------------------
# output file names (in-process: cli.main with the tiny models, no extra TensorFlow start-up)


@pytest.fixture
def in_process(tiny_models, monkeypatch, tmp_path):
    from desktop_denoiser import cli as cli_mod

    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(tiny_models.folder))
    monkeypatch.chdir(tmp_path)
    return cli_mod.main


def _two_formats_of_one_digit(mnist, folder: Path) -> list[Path]:
    folder.mkdir()
    paths = [folder / "digit.png", folder / "digit.jpg"]
    big = Image.fromarray(mnist.x_test[0]).resize((84, 84))
    for p in paths:
        big.save(p)
    return paths


def test_single_input_with_an_output_folder(in_process, digit_pngs, tmp_path):
    source, _ = digit_pngs[0]
    out = tmp_path / "outdir"
    assert in_process(["denoise", str(source), "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [source.stem + ".png"]


def test_inputs_with_the_same_stem_get_separate_outputs(in_process, mnist, tmp_path):
    _two_formats_of_one_digit(mnist, tmp_path / "in")
    out = tmp_path / "out"
    assert in_process(["denoise", str(tmp_path / "in"), "-o", str(out)]) == 0
    assert len(list(out.iterdir())) == 2


def test_denoising_into_the_input_folder_keeps_the_originals(in_process, mnist, tmp_path):
    folder = tmp_path / "in"
    paths = _two_formats_of_one_digit(mnist, folder)
    before = {p: p.read_bytes() for p in paths}
    in_process(["denoise", str(folder), "-o", str(folder)])
    assert {p: p.read_bytes() for p in paths} == before


# ----------------------------------------------------------------------------------------------
# train and the store: options checked before any work, names reserved, nothing lost




TINY_TRAIN = ("train", "--arch", "conv", "--epochs", "1", "--subset", "300", "--eval-limit", "50")


def test_train_refuses_a_name_too_long_before_training(tmp_path, home):
    out = tmp_path / "out"
    proc = run_cli(*TINY_TRAIN, "--name", "n" * 300, "--out", out, home=home, cwd=tmp_path)
    assert proc.returncode == 1
    assert assert_one_error_line(proc) == (
        "desktop-denoiser: error: The model name is too long (300 characters; at most 100).")  # and no epoch ran
    assert not out.exists() and not (home / "models").exists()


def test_train_refuses_a_read_only_out_folder_before_training(tmp_path, home):
    """It used to train, then save into the user's folder instead, exit 0."""
    out = tmp_path / "ro"
    undo = read_only_folder(out)
    try:
        proc = run_cli(*TINY_TRAIN, "--out", out, home=home, cwd=tmp_path)
        assert proc.returncode == 1
        line = assert_one_error_line(proc, f"Cannot write to {out}: ")
        assert line.endswith(("Operation not permitted", "Permission denied", "Read-only file system")), line
        assert list(out.iterdir()) == []
    finally:
        undo()
    assert not (home / "models").exists()  # nothing went to the user's folder either


def test_two_trainings_of_one_name_at_once_give_two_consistent_models(tmp_path, home):
    """Two real `train --name same` processes side by side (different architectures, so each
    .json can be checked against the .keras beside it)."""
    import json

    from desktop_denoiser.core.store import ModelStore

    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
               DESKTOP_DENOISER_HOME=str(home))
    runs = {arch: subprocess.Popen([sys.executable, "-m", "desktop_denoiser", "train", "--arch", arch, "--epochs", "1",
                                    "--subset", "300", "--eval-limit", "50", "--name", "same", "--out", str(out)],
                                   cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for arch in ("conv", "dense")}
    outputs = {arch: p.communicate(timeout=600) for arch, p in runs.items()}
    assert all(p.returncode == 0 for p in runs.values()), outputs
    saved = {}
    for arch, (stdout, _) in outputs.items():
        m = re.search(r"^saved (\S+) to (.+\.keras)$", stdout, re.M)
        assert m, stdout
        saved[arch] = m[1]
    assert sorted(saved.values()) == ["same", "same-2"]
    assert sorted(p.name for p in out.iterdir()) == ["same-2.json", "same-2.keras", "same.json", "same.keras"]
    notes = [err for _, err in outputs.values() if "A model named same exists or is being trained" in err]
    assert len(notes) == 1  # the second run was told at its start
    store = ModelStore(bundled_dir=out, user_dir=home / "models")
    for arch, name in saved.items():
        meta = json.loads((out / f"{name}.json").read_text())
        model = store.load(name, "denoiser").model
        assert meta["architecture"] == arch == model.name  # the metadata describes the model beside it
        assert meta["parameters"] == model.count_params()
        assert "test_psnr" in meta["metrics"]  # the figures were written into the right file


def test_models_copes_with_metadata_of_the_wrong_types(tiny_models, tmp_path, home):
    import json
    import shutil

    bundled = tmp_path / "bundled"
    shutil.copytree(tiny_models.folder, bundled)
    json_path = bundled / f"{tiny_models.denoiser_name}.json"
    meta = json.loads(json_path.read_text())
    json_path.write_text(json.dumps({**meta, "metrics": {**meta["metrics"], "test_psnr": "high"}, "created": 5}))
    clf_path = bundled / f"{tiny_models.classifier_name}.json"
    clf_path.write_text(json.dumps({**json.loads(clf_path.read_text()), "metrics": None}))
    proc = run_cli("models", bundled=bundled, home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and stderr_lines(proc) == []
    lines = {line.split()[2]: line for line in proc.stdout.splitlines() if line.startswith("bundled ")}
    assert "[unknown: created, metrics.test_psnr]" in lines[tiny_models.denoiser_name]
    assert "PSNR" not in lines[tiny_models.denoiser_name] and "(default)" in lines[tiny_models.denoiser_name]
    assert "[unknown: metrics]" in lines[tiny_models.classifier_name]


def test_a_corrupt_user_model_does_not_hide_the_bundled_default(cli, tiny_models, digit_pngs, home, tmp_path):
    """A corrupt unet-mixed.keras in the user's folder used to shadow the bundled one: no denoiser."""
    user = home / "models"
    user.mkdir(parents=True)
    good = (tiny_models.folder / f"{tiny_models.denoiser_name}.keras").read_bytes()
    (user / f"{tiny_models.denoiser_name}.keras").write_bytes(good[: len(good) // 3])
    (user / f"{tiny_models.denoiser_name}.json").write_bytes(
        (tiny_models.folder / f"{tiny_models.denoiser_name}.json").read_bytes())
    out = tmp_path / "out.png"
    proc = cli("denoise", digit_pngs[0][0], "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert _png_size(out) == (28, 28)
    listed = cli("models")
    assert listed.returncode == 0
    rows = [line for line in listed.stdout.splitlines() if f" {tiny_models.denoiser_name} " in line + " "]
    user_row = next(r for r in rows if r.startswith("user "))
    bundled_row = next(r for r in rows if r.startswith("bundled "))
    assert "unusable" in user_row and "corrupt or truncated" in user_row and "(default)" not in user_row
    assert "(default)" in bundled_row


def test_ctrl_c_while_tensorflow_imports_is_one_line(monkeypatch, capsys, tmp_path):
    from desktop_denoiser import cli as cli_mod
    from desktop_denoiser.core import device

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(device, "import_tensorflow_quietly", interrupted)
    assert cli_mod.main(["train", "--out", str(tmp_path / "out")]) == 130
    err = capsys.readouterr().err
    assert err == "desktop-denoiser: interrupted\n"


def _train_in_process(tmp_path, monkeypatch, *extra):
    from desktop_denoiser import cli as cli_mod

    monkeypatch.chdir(tmp_path)
    return cli_mod.main([*TINY_TRAIN, "--out", str(tmp_path / "out"), *extra])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_the_save(mnist, tmp_path, monkeypatch, capsys, presses):
    """Once: the model is still saved, and nobody is told it stops "after this batch". Twice:
    the save stops, and leaves nothing behind."""
    import signal

    from desktop_denoiser.core.store import ModelStore

    real_save = ModelStore.save

    def save_with_ctrl_c(self, *args, **kwargs):
        for _ in range(presses):
            os.kill(os.getpid(), signal.SIGINT)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(ModelStore, "save", save_with_ctrl_c)
    code = _train_in_process(tmp_path, monkeypatch)
    captured = capsys.readouterr()
    assert "Stopping after this batch" not in captured.err
    assert "The training is over; saving and measuring the model (Ctrl+C again to stop" in captured.err
    out = tmp_path / "out"
    if presses == 1:
        assert code == 0, captured.err
        assert "saved conv-mixed to" in captured.out
        assert sorted(p.name for p in out.iterdir()) == ["conv-mixed.json", "conv-mixed.keras"]
    else:
        assert code == 130
        assert captured.err.rstrip().endswith("desktop-denoiser: interrupted")
        assert list(out.iterdir()) == []  # no half model, no temporary file, no lock


def test_train_says_when_the_model_was_saved_but_its_figures_were_not(mnist, tmp_path, monkeypatch, capsys):
    """The disk fills up after the model was saved: exit 0 (the model is there and usable), and
    the message says which file failed and how to measure again."""
    import json

    fail_metadata_writes(monkeypatch)
    code = _train_in_process(tmp_path, monkeypatch, "--name", "full")
    captured = capsys.readouterr()
    target = tmp_path / "out" / "full.keras"
    assert code == 0, captured.err
    assert (f"Saved full to {target}, but its test figures were not written (Could not save {target.with_suffix('.json')}: "
            "No space left on device); measure it again with: desktop-denoiser evaluate --model full --save") in captured.err
    assert "test figures: none (see above)" in captured.out and f"saved full to {target}" in captured.out
    assert json.loads(target.with_suffix(".json").read_text())["metrics"] == {}


# ----------------------------------------------------------------------------------------------
# where new models go (issue 12): the user's folder, never a checkout's trained_models/ by itself

SMALL_TRAIN = ("train", "--arch", "conv", "--epochs", "1", "--subset", "200", "--eval-limit", "200")


def _files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too: a lock or temporary file left is a change)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _saved(proc) -> tuple[str, Path]:
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"^saved (\S+) to (.+\.keras)$", proc.stdout, re.M)
    assert m, proc.stdout
    return m[1], Path(m[2])


@pytest.fixture
def checkout(tiny_models, tmp_path) -> Path:
    """A source checkout's trained_models/: the tiny models in a writable folder of their own."""
    import shutil

    folder = tmp_path / "trained_models"
    shutil.copytree(tiny_models.folder, folder)
    return folder


def _classifier_figures(meta: dict, classifier: str) -> None:
    m = meta["metrics"]
    assert m["classifier"] == classifier and m["test_images"] == 200
    for key in ("test_accuracy_clean", "test_accuracy_noisy", "test_accuracy_denoised"):
        assert 0.0 <= m[key] <= 1.0, (key, m)
    assert m["test_accuracy_clean"] > 0.8  # the tiny classifier reads clean digits: it was really used


def test_train_from_a_checkout_leaves_the_bundled_folder_untouched(checkout, tmp_path, home):
    import json

    before = _files(checkout)
    proc = run_cli(*SMALL_TRAIN, "--noise", "uniform:0.9", "--name", "conv-uniform", bundled=checkout, home=home,
                   cwd=tmp_path)
    name, path = _saved(proc)
    # the bundled folder holds conv-uniform: the new one is conv-uniform-2, in the user's folder
    assert (name, path) == ("conv-uniform-2", home / "models" / "conv-uniform-2.keras")
    assert _files(checkout) == before  # byte for byte: no model, no lock, no temporary file
    assert sorted(_files(home / "models")) == ["conv-uniform-2.json", "conv-uniform-2.keras"]
    _classifier_figures(json.loads(path.with_suffix(".json").read_text()), "classifier")
    listed = run_cli("models", bundled=checkout, home=home, cwd=tmp_path)
    assert f"new models go to: {home / 'models'}" in listed.stdout
    assert any(line.startswith("user ") and " conv-uniform-2 " in line for line in listed.stdout.splitlines()), listed.stdout


def test_train_bundled_replaces_the_model_of_that_name_in_place(checkout, tiny_models, tmp_path, home):
    import json

    name = tiny_models.conv_name
    before = _files(checkout)
    old_meta = json.loads((checkout / f"{name}.json").read_text())
    proc = run_cli(*SMALL_TRAIN, "--noise", "uniform:0.9", "--name", name, "--bundled", bundled=checkout, home=home,
                   cwd=tmp_path)
    saved, path = _saved(proc)
    assert (saved, path) == (name, checkout / f"{name}.keras")  # the same name: no -2
    after = _files(checkout)
    assert sorted(after) == sorted(before)  # nothing added (no NAME-2, no lock or temporary file left)
    assert {k: v for k, v in after.items() if not k.startswith(name + ".")} == {
        k: v for k, v in before.items() if not k.startswith(name + ".")}  # the other models untouched
    assert after[f"{name}.keras"] != before[f"{name}.keras"]  # new content, both halves
    meta = json.loads(after[f"{name}.json"])
    assert meta["run_id"] != old_meta["run_id"]
    assert meta["config"]["subset"] == 200 != old_meta["config"]["subset"]  # this run's, not the old one's
    _classifier_figures(meta, tiny_models.classifier_name)
    assert not (home / "models").exists()  # nothing went to the user's folder


def test_train_out_writes_only_there_and_measures_with_the_bundled_classifier(checkout, tmp_path, home):
    import json

    before = _files(checkout)
    out = tmp_path / "elsewhere"
    proc = run_cli(*SMALL_TRAIN, "--out", out, bundled=checkout, home=home, cwd=tmp_path)
    name, path = _saved(proc)
    assert (name, path) == ("conv-mixed", out / "conv-mixed.keras")
    assert sorted(_files(out)) == ["conv-mixed.json", "conv-mixed.keras"]
    _classifier_figures(json.loads(path.with_suffix(".json").read_text()), "classifier")
    assert _files(checkout) == before and not (home / "models").exists()


def test_train_out_and_bundled_together_is_a_usage_error(tmp_path, home):
    proc = run_cli(*SMALL_TRAIN, "--out", tmp_path / "o", "--bundled", home=home, cwd=tmp_path)
    assert proc.returncode == 2
    assert_one_error_line(proc, "--bundled", "--out")
    assert not (tmp_path / "o").exists() and not (home / "models").exists()


def test_train_bundled_refuses_an_installed_apps_models_before_training(monkeypatch, capsys, tmp_path):
    from desktop_denoiser import cli as cli_mod
    from desktop_denoiser.core import paths, training

    bundled = tmp_path / "share" / "trained_models"
    bundled.mkdir(parents=True)
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(bundled))
    monkeypatch.setattr(paths, "is_installed_location", lambda path: Path(path) == bundled)
    monkeypatch.setattr(training.Trainer, "run", lambda self: pytest.fail("trained although nothing can be saved"))
    assert cli_mod.main([*SMALL_TRAIN, "--bundled"]) == 1
    assert capsys.readouterr().err == (f"desktop-denoiser: error: --bundled re-creates the models of a source checkout; "
                                       f"{bundled} belongs to an installed app.\n")
    assert list(bundled.iterdir()) == []
