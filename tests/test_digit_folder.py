"""Labelled folders of one's own digits (issue 15): reading them (``core.digit_folder``), the
evaluation (``core.folder_evaluation``), the reports (``core.folder_report``) and
``desktop-denoiser evaluate --folder``.

The folder is made of MNIST test digits saved as PNG and JPEG files (dark ink on white, like
paper, some at 3×), with an unreadable file, a blank image, an empty digit folder, a folder named
``x`` and a stray file at the top. The models are the shipped ones (read only, nothing trained)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_denoiser.core import digit_folder, file_work, folder_evaluation, folder_report, frame, imageio
from desktop_denoiser.core.errors import DenoiserError, SaveError
from desktop_denoiser.core.noise import NoiseSpec

from conftest import in_process_cli

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "trained_models"
PER_DIGIT = 11  # images per digit (none of 7: its folder is empty)
NOISE = NoiseSpec.parse("uniform:1.2")  # strong enough that a few digits are misread


def make_folder(mnist, root: Path) -> dict:
    """The test folder; returns what it holds: images per digit and the paths."""
    x, y = mnist.x_test, mnist.y_test
    counts = {d: 0 for d in range(10)}
    for i in range(len(y)):
        d = int(y[i])
        if all(counts[k] >= PER_DIGIT for k in range(10) if k != 7):
            break
        if d == 7 or counts[d] >= PER_DIGIT:
            continue
        folder = root / str(d) / ("scans" if counts[d] % 4 == 3 else "")  # a subfolder of a digit counts too
        folder.mkdir(parents=True, exist_ok=True)
        paper = Image.fromarray(255 - x[i])
        if counts[d] % 2:
            paper.resize((84, 84), Image.Resampling.BICUBIC).convert("RGB").save(folder / f"t{i:05d}.jpg", quality=92)
        else:
            paper.save(folder / f"t{i:05d}.png")
        counts[d] += 1
    (root / "7").mkdir()
    (root / "7" / "notes.txt").write_text("no sevens yet")
    (root / "x").mkdir()
    Image.fromarray(255 - x[0]).save(root / "x" / "unsure.png")
    Image.fromarray(255 - x[1]).save(root / "stray.png")
    (root / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    Image.fromarray(np.full((40, 40), 250, np.uint8)).save(root / "4" / "blank.png")
    return {"counts": counts, "total": sum(counts.values())}


@pytest.fixture(scope="module")
def made(mnist, tmp_path_factory):
    root = tmp_path_factory.mktemp("own") / "digits"
    return root, make_folder(mnist, root)


@pytest.fixture(scope="module")
def folder(made):
    return digit_folder.read_folder(made[0], workers=0)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from desktop_denoiser.core import workflows
    from desktop_denoiser.core.inference import Pipeline
    from desktop_denoiser.core.store import ModelStore

    store = ModelStore(bundled_dir=BUNDLED, user_dir=tmp_path_factory.mktemp("user_models"))
    loaded = workflows.load_models(store, "unet-mixed", "classifier")
    return Pipeline(loaded.denoiser.model, loaded.classifier.model, warmup=False)  # (batches only: no single-image graph)


@pytest.fixture(scope="module")
def result(pipeline, folder):
    return folder_evaluation.evaluate_folder(pipeline, folder, NOISE, seed=3, denoiser="unet-mixed", classifier="classifier")


# ----------------------------------------------------------------------------------------------
# reading


def test_a_labelled_folder_is_read_with_its_labels_and_problems(made, folder):
    root, expected = made
    assert folder.root == root
    assert folder.images.shape == (expected["total"], 28, 28) and folder.images.dtype == np.uint8
    assert folder.labels.dtype == np.int64 and folder.labels.shape == (expected["total"],)
    assert folder.counts == expected["counts"] and folder.counts[7] == 0
    for path, label in zip(folder.paths, folder.labels):
        assert path.relative_to(root).parts[0] == str(label)
    assert any("scans" in p.parts for p in folder.paths)
    assert {p.suffix for p in folder.paths} == {".png", ".jpg"}
    problems = "\n".join(folder.problems)
    assert len(folder.problems) == 5, problems
    assert re.search(r"x: ignored, 'x' is not a digit", problems)
    assert re.search(r"stray\.png: ignored, it is not in a digit folder", problems)
    assert re.search(r"broken\.png: skipped, the PNG data is corrupt", problems)
    assert re.search(r"blank\.png: skipped, there is no digit in it", problems)
    assert re.search(r"digit 7: .*7 is empty, it holds no image files", problems)


def test_every_image_is_preprocessed_as_an_opened_file(folder):
    for k in (0, 5, len(folder) - 1):
        opened = file_work.prepare_file(folder.paths[k])  # File › Open's path
        assert np.array_equal(folder.images[k], imageio.to_uint8(opened.clean))
    clean = folder.clean()
    assert clean.max() == 1.0 and np.all(clean.mean(axis=(1, 2)) > 0.02)  # every image has ink
    assert clean[:, :2, :].mean() < 0.01  # light digits on black, as MNIST (the file was dark on white)


def test_the_worker_processes_read_the_same(made, folder):
    parallel = digit_folder.read_folder(made[0], workers=2)
    assert parallel.paths == folder.paths and np.array_equal(parallel.images, folder.images)
    assert parallel.problems == folder.problems


def test_an_unlabelled_folder_is_every_image_below_it(made):
    root, expected = made
    seen = []
    loose = digit_folder.read_folder(root, labelled=False, workers=0, on_progress=lambda d, t: seen.append((d, t)))
    assert loose.labels is None and loose.counts == {}
    assert len(loose) == expected["total"] + 2  # x/unsure.png and stray.png too
    assert seen[-1] == (expected["total"] + 4, expected["total"] + 4)  # the broken and the blank were tried
    assert len(loose.problems) == 2


def test_folders_that_cannot_be_used_say_why(made, tmp_path):
    root, _ = made
    with pytest.raises(DenoiserError, match=r"no digit subfolders 0/ to 9/.*image_dataset_from_directory"):
        digit_folder.read_folder(root / "x")
    with pytest.raises(DenoiserError, match="No such folder"):
        digit_folder.read_folder(tmp_path / "missing")
    with pytest.raises(DenoiserError, match="is a file, not a folder"):
        digit_folder.read_folder(root / "stray.png")
    bad = tmp_path / "bad"
    (bad / "3").mkdir(parents=True)
    (bad / "3" / "a.png").write_text("not a picture")
    with pytest.raises(DenoiserError, match=r"no usable digit images \(1 image files found"):
        digit_folder.read_folder(bad)


# ----------------------------------------------------------------------------------------------
# the evaluation


def test_the_accuracy_is_that_of_the_frame_path(pipeline, folder, result):
    clean = folder.clean()
    prepared = [frame.prepare(ready28=clean[i], noise=NOISE, seed=3 + i) for i in range(len(clean))]
    frames = frame.finish_batch(pipeline, prepared, classify=True)
    read = np.array([f.digit for f in frames])
    assert np.array_equal(result.predicted, read)
    assert result.accuracy == pytest.approx(np.mean(read == folder.labels))
    assert 0.5 < result.accuracy < 1.0, "the noise should make a few digits misread"
    m = result.confusion
    assert m.shape == (10, 10) and m.sum() == len(folder)
    assert list(m.sum(axis=1)) == [folder.counts[d] for d in range(10)]
    assert np.trace(m) == int(np.sum(read == folder.labels))
    for d in range(10):
        if folder.counts[d]:
            assert result.per_digit[d] == pytest.approx(np.mean(read[folder.labels == d] == d))
    assert result.per_digit[7] is None
    assert np.allclose(result.noisy[4], prepared[4].noisy) and np.allclose(result.reconstructions[4], frames[4].reconstruction)


def test_the_worst_read_are_the_misread_by_their_true_digit(result):
    misread = result.misread()
    assert len(misread) == int(np.sum(~result.correct)) > 0
    p_true = [m.p_true for m in misread]
    assert p_true == sorted(p_true)
    assert all(m.predicted != m.true and m.noisy.shape == m.reconstruction.shape == (28, 28) for m in misread)
    assert [m.path for m in result.worst(3)] == [m.path for m in misread[:3]]
    m = misread[0]
    assert m.predicted == int(np.argmax(m.probs)) and str(m.true) == m.path.relative_to(result.root).parts[0]
    cell = result.cell(m.true, m.predicted)
    assert len(cell) == result.confusion[m.true, m.predicted] and m.path in [c.path for c in cell]
    assert len(result.cell(0, 0)) == result.confusion[0, 0]


# ----------------------------------------------------------------------------------------------
# the reports


def test_the_html_report_holds_the_numbers_and_the_images(result, tmp_path):
    target = folder_report.write_html(result, tmp_path / "report.html")
    page = target.read_text("utf-8")
    misread = result.misread()
    assert page.count("data:image/png;base64,") == 2 * len(misread)  # what the model saw, twice each
    assert f"accuracy {100 * result.accuracy:.1f}%" in page
    assert f'title="true 0, read 0">{result.confusion[0, 0]}</td>' in page
    assert str(misread[0].path) in page and f"<b>{misread[0].true}</b> read as <b>{misread[0].predicted}</b>" in page
    assert "x: ignored" in page and "uniform:level=1.2" in page
    with pytest.raises(SaveError, match="exists; give --overwrite"):
        folder_report.write_html(result, target)
    target.write_text("mine")
    folder_report.write_html(result, target, overwrite=True)
    assert target.read_text("utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary file left


def test_the_png_figure(result, tmp_path):
    target = folder_report.write_figure(result, tmp_path / "figure.png")
    with Image.open(target) as im:
        assert im.size == folder_report.figure_size(len(result.misread())) and im.size[0] == folder_report.WIDTH
        assert im.mode == "RGB"
    with pytest.raises(SaveError):
        folder_report.write_figure(result, target)
    with pytest.raises(DenoiserError, match="must be a .png"):
        folder_report.write_figure(result, tmp_path / "figure.jpg")


# ----------------------------------------------------------------------------------------------
# the command


@pytest.fixture
def main(monkeypatch, capsys, tmp_path):
    return in_process_cli(monkeypatch, capsys, tmp_path, BUNDLED)


def test_evaluate_folder_prints_the_figures_and_writes_the_reports(main, made, result, tmp_path):
    root, expected = made
    report, figure = tmp_path / "r.html", tmp_path / "r.png"
    code, out, err = main("evaluate", "--folder", root, "--noise", "uniform:1.2", "--seed", 3, "--report", report,
                          "--figure", figure)
    assert code == 0, err
    lines = out.splitlines()
    assert f"accuracy {100 * result.accuracy:.1f}% on the reconstructions ({int(result.correct.sum())}/{len(result)})" in out
    assert "confusion matrix (rows: true digit, columns: digit read)" in out
    row3 = next(line for line in lines if line.startswith("   3 "))
    assert [int(v) for v in row3.split()[1:]] == list(result.confusion[3])
    worst = [line for line in lines if "\t" in line]
    assert len(worst) == min(10, len(result.misread()))
    assert worst[0].split("\t")[0] == str(result.worst(1)[0].path)
    assert len([e for e in err if e.startswith("desktop-denoiser: ")]) == 5 and any("broken.png" in e for e in err)
    assert report.read_text("utf-8").count("data:image/png;base64,") == 2 * len(result.misread())
    assert Image.open(figure).size[0] == folder_report.WIDTH
    before = report.read_bytes()
    code, out, err = main("evaluate", "--folder", root, "--report", report)
    assert code == 1 and err == [f"desktop-denoiser: error: {report} exists; give --overwrite to replace it."]
    assert report.read_bytes() == before


def test_evaluate_an_unusable_folder_is_one_line(main, made, tmp_path):
    root, _ = made
    code, out, err = main("evaluate", "--folder", root / "x")
    assert code == 1 and len(err) == 1 and "no digit subfolders 0/ to 9/" in err[0] and out == ""
    code, _, err = main("evaluate", "--report", tmp_path / "a.html")
    assert code == 1 and err == ["desktop-denoiser: error: --report and --figure go with --folder DIR."]
