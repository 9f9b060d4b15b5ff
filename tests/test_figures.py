"""The one path for a frame, a model's figures and an evaluation (core/frame.py, core/figures.py,
core/evaluation.py), and ``evaluate --model`` built on them."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from desktop_denoiser.core import data as data_mod
from desktop_denoiser.core import evaluation, frame, preprocess
from desktop_denoiser.core.figures import CLASSIFIER, DENOISER, TEXT_KEYS, ModelFigures
from desktop_denoiser.core.noise import NoiseSpec

STORED = {"test_images": 500, "test_noise": "uniform:level=0.9", "classifier": "classifier", "test_psnr": 19.15,
          "test_psnr_noisy": 6.23, "test_ssim": 0.847, "test_ssim_noisy": 0.179, "test_accuracy_clean": 1.0,
          "test_accuracy_noisy": 0.118, "test_accuracy_denoised": 0.954}


# figures -----------------------------------------------------------------------------------------


def test_stored_figures_round_trip():
    f = ModelFigures.from_metrics(DENOISER, STORED)
    assert (f.psnr, f.accuracy_denoised, f.images, f.noise, f.classifier) == (19.15, 0.954, 500, "uniform:level=0.9", "classifier")
    assert f.to_metrics() == STORED
    assert TEXT_KEYS == {"test_noise", "classifier"}


def test_figures_of_the_wrong_type_read_as_missing():
    f = ModelFigures.from_metrics(DENOISER, {"test_psnr": "high", "test_ssim": float("nan"), "test_accuracy_denoised": True,
                                             "test_images": 2.5, "classifier": 3})
    assert (f.psnr, f.ssim, f.accuracy_denoised, f.images, f.classifier) == (None, None, None, None, None)
    assert not f.measured and f.headline() == "not measured" and f.to_metrics() == {}
    assert ModelFigures.from_metrics(CLASSIFIER, None) == ModelFigures(kind=CLASSIFIER)


def test_descriptions():
    f = ModelFigures.from_metrics(DENOISER, STORED)
    assert f.headline() == "test PSNR 19.15 dB, accuracy on denoised 95.40%"
    assert f.short() == "PSNR 19.15 dB, acc 95.40%"
    assert f.lines() == ["measured on 500 test digits, noise uniform:level=0.9",
                         "PSNR 19.15 dB (noisy 6.23 dB), SSIM 0.847 (noisy 0.179)",
                         "accuracy (classifier): denoised 95.40%, noisy 11.80%, clean 100.00%"]
    c = ModelFigures(kind=CLASSIFIER, images=10_000, accuracy=0.9961)
    assert c.headline() == "test accuracy 99.61%" and c.short() == "acc 99.61%"
    assert c.lines() == ["test accuracy 99.61% on 10,000 test digits"]
    # a denoiser measured without a classifier says nothing about accuracy
    bare = ModelFigures(kind=DENOISER, psnr=20.0, psnr_noisy=10.0, ssim=0.8, ssim_noisy=0.2)
    assert bare.headline() == "test PSNR 20.00 dB" and len(bare.lines()) == 2


# evaluation --------------------------------------------------------------------------------------


def _oracle(labels):
    """A 'classifier' that reads a digit right exactly when the image is the clean one."""
    def classify(images):
        probs = np.full((len(images), 10), 0.0, np.float32)
        right = np.array([np.array_equal(im, c) for im, c in zip(images, _oracle.clean)])
        probs[np.arange(len(images)), np.where(right, labels, (labels + 1) % 10)] = 1.0
        return probs
    return classify


def test_figures_of_known_arrays(mnist):
    clean = data_mod.to_float(mnist.x_test[:20])
    labels = mnist.y_test[:20]
    noisy = NoiseSpec("uniform", {"level": 0.5}).apply(clean, 1)
    _oracle.clean = clean
    f = evaluation.figures_of(clean, clean.copy(), noisy, labels, _oracle(labels), "uniform:0.5")
    assert f.psnr == 100.0 and f.ssim == pytest.approx(1.0)  # a perfect output: PSNR is capped at 100 dB
    assert f.psnr_noisy < 20 and f.ssim_noisy < 0.8
    assert (f.accuracy_clean, f.accuracy_denoised, f.accuracy_noisy) == (1.0, 1.0, 0.0)
    assert f.images == 20 and f.noise == "uniform:0.5"
    without = evaluation.figures_of(clean, noisy, labels=labels, classify=_oracle(labels), with_clean=False)
    assert without.accuracy_clean is None and without.accuracy_denoised == 0.0 and without.psnr == pytest.approx(f.psnr_noisy)


# frames ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pipeline(tiny_models):
    from desktop_denoiser.core import workflows

    return workflows.load_pipeline(tiny_models.store)[0]


def test_prepare_an_image_and_a_ready_digit(mnist):
    digit = data_mod.to_float(mnist.x_test[0])
    paper = Image.fromarray(255 - mnist.x_test[0]).resize((140, 140))  # dark ink on white paper
    p = frame.prepare(paper, noise=NoiseSpec.parse("uniform:0.5"), seed=3)
    np.testing.assert_array_equal(p.clean, preprocess.analyse(paper).image)
    np.testing.assert_array_equal(p.noisy, NoiseSpec.parse("uniform:0.5").apply(p.clean, 3))
    assert not p.empty and p.analysis.polarity == preprocess.DARK_ON_LIGHT
    r = frame.prepare(ready28=digit)
    assert r.analysis is None and not r.empty and r.noisy is r.clean
    np.testing.assert_array_equal(r.clean, digit)
    assert frame.prepare(ready28=np.zeros((28, 28))).empty


def test_a_frame_is_the_pipeline_on_the_noisy_digit(tiny_pipeline, mnist):
    digit = data_mod.to_float(mnist.x_test[1])
    noise = NoiseSpec.parse("gaussian:0.3")
    f = frame.compute(tiny_pipeline, ready28=digit, noise=noise, seed=7)
    expected = tiny_pipeline.run(noise.apply(digit, 7))
    np.testing.assert_allclose(f.reconstruction, expected.reconstruction, atol=1e-6)
    np.testing.assert_allclose(f.probs_reconstruction, expected.probs_reconstruction, atol=1e-6)
    assert f.digit == int(np.argmax(expected.probs_reconstruction)) and 0 < f.confidence <= 1
    assert f.psnr > f.psnr_noisy and f.noise_changed_it and f.seconds > 0
    clean_frame = frame.compute(tiny_pipeline, ready28=digit)
    assert not clean_frame.noise_changed_it and clean_frame.psnr_noisy == 100.0


def test_an_empty_frame_has_no_reconstruction(tiny_pipeline):
    f = frame.compute(tiny_pipeline, Image.new("L", (60, 60), 255))
    assert f.empty and f.reconstruction is None and f.digit is None and f.confidence is None
    assert frame.compute(None, ready28=np.eye(28, dtype=np.float32)).reconstruction is None  # no models yet


def test_a_batch_of_frames_matches_one_at_a_time(tiny_pipeline, mnist):
    digits = data_mod.to_float(mnist.x_test[:6])
    noise = NoiseSpec.parse("uniform:0.5")
    prepared = [frame.prepare(ready28=d, noise=noise, seed=k) for k, d in enumerate(digits)]
    batch = frame.finish_batch(tiny_pipeline, prepared, classify=True)
    for p, b in zip(prepared, batch):
        single = frame.finish(tiny_pipeline, p)
        np.testing.assert_allclose(b.reconstruction, single.reconstruction, atol=1e-5)
        assert b.digit == single.digit and b.probs_noisy is None
    assert frame.finish_batch(tiny_pipeline, []) == []


# evaluate --model --------------------------------------------------------------------------------


def test_evaluate_a_model_prints_and_saves_the_same_figures(tiny_models, tmp_path, monkeypatch, capsys):
    from desktop_denoiser import cli

    folder = tmp_path / "models"
    shutil.copytree(tiny_models.folder, folder)
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(folder))
    name = tiny_models.conv_name
    assert cli.main(["evaluate", "--model", name, "--limit", "300", "--save"]) == 0
    out = capsys.readouterr().out.splitlines()
    stored = json.loads((folder / f"{name}.json").read_text())["metrics"]
    figures = ModelFigures.from_metrics(DENOISER, stored)
    assert figures.images == 300 and figures.classifier == tiny_models.classifier_name
    assert out[0] == name and [line.strip() for line in out[1:4]] == figures.lines()
    assert out[-1] == f"saved the figures into {folder / (name + '.json')}"
    assert cli.main(["evaluate", "--model", tiny_models.classifier_name, "--limit", "300"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == tiny_models.classifier_name and out[1].strip().startswith("test accuracy ")
    assert out[1].strip().endswith("on 300 test digits")
