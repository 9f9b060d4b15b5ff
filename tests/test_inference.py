"""desktop_denoiser.core.inference (and evaluation): the compiled denoise + classify pipeline,
with the session's really trained models."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from desktop_denoiser.core import data as data_mod
from desktop_denoiser.core import evaluation, metrics, workflows
from desktop_denoiser.core.inference import Pipeline
from desktop_denoiser.core.noise import NoiseSpec


@pytest.fixture(scope="module")
def loaded(tiny_models):
    store = tiny_models.store
    return (store.load(tiny_models.denoiser_name, "denoiser").model,
            store.load(tiny_models.classifier_name, "classifier").model)


@pytest.fixture(scope="module")
def pipeline(loaded):
    return Pipeline(*loaded)


@pytest.fixture(scope="module")
def test_digits(mnist):
    return data_mod.to_float(mnist.x_test[:1000]), mnist.y_test[:1000]


def test_run_shapes_and_probabilities(pipeline, test_digits):
    x, _ = test_digits
    pred = pipeline.run(x[0])
    assert pred.noisy.shape == pred.reconstruction.shape == (28, 28)
    assert pred.probs_noisy.shape == pred.probs_reconstruction.shape == (10,)
    assert pred.probs_reconstruction.sum() == pytest.approx(1.0, abs=1e-5)
    assert pred.probs_noisy.sum() == pytest.approx(1.0, abs=1e-5)
    assert pred.digit == int(np.argmax(pred.probs_reconstruction))
    assert pred.confidence == pytest.approx(float(pred.probs_reconstruction.max()))
    assert 0.0 <= pred.reconstruction.min() and pred.reconstruction.max() <= 1.0
    np.testing.assert_array_equal(pred.noisy, x[0])
    assert pred.seconds >= 0


def test_run_equals_denoise_then_classify(pipeline, test_digits):
    x, _ = test_digits
    noisy = NoiseSpec("mixed").apply(x[:20], seed=1)
    recon = pipeline.denoise(noisy)
    probs_recon = pipeline.classify(recon)
    probs_noisy = pipeline.classify(noisy)
    for i in range(20):
        pred = pipeline.run(noisy[i])
        np.testing.assert_allclose(pred.reconstruction, recon[i], atol=1e-5)
        np.testing.assert_allclose(pred.probs_reconstruction, probs_recon[i], atol=1e-5)
        np.testing.assert_allclose(pred.probs_noisy, probs_noisy[i], atol=1e-5)


def test_batched_denoise_matches_per_image_run(pipeline, test_digits):
    x, _ = test_digits
    noisy = NoiseSpec("uniform", {"level": 0.5}).apply(x, seed=2)
    batched = pipeline.denoise(noisy)  # 1000 images: eight batches of up to 128
    assert batched.shape == (1000, 28, 28) and batched.dtype == np.float32
    single = np.stack([pipeline.run(img).reconstruction for img in noisy])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_pipeline_matches_the_keras_models(loaded, pipeline, test_digits):
    denoiser, classifier = loaded
    x, _ = test_digits
    recon = np.asarray(denoiser(x[:8, ..., None], training=False))[..., 0]
    np.testing.assert_allclose(pipeline.denoise(x[:8]), recon, atol=1e-5)
    probs = np.asarray(classifier(x[:8, ..., None], training=False))
    np.testing.assert_allclose(pipeline.classify(x[:8]), probs, atol=1e-5)


def test_inputs_of_other_shapes_and_types(pipeline, test_digits):
    x, _ = test_digits
    a = pipeline.denoise(x[:3])
    np.testing.assert_allclose(pipeline.denoise(x[:3, ..., None].astype(np.float64)), a, atol=1e-6)
    np.testing.assert_allclose(pipeline.run(x[0].reshape(28, 28, 1)).reconstruction, a[0], atol=1e-5)
    # a non-contiguous view
    np.testing.assert_allclose(pipeline.run(np.asfortranarray(x[1])).reconstruction, a[1], atol=1e-5)


def test_empty_batches(pipeline):
    assert pipeline.denoise(np.zeros((0, 28, 28), np.float32)).shape == (0, 28, 28)
    assert pipeline.classify(np.zeros((0, 28, 28), np.float32)).shape == (0, 10)


def test_classifier_is_accurate_and_denoiser_helps(pipeline, test_digits):
    x, y = test_digits
    assert metrics.accuracy(pipeline.classify(x), y) >= 0.85
    noise = NoiseSpec("uniform", {"level": 0.9})
    res = evaluation.evaluate_denoiser(pipeline, x[:500], y[:500], noise)
    assert res.images == 500 and res.noise == str(noise) and res.kind == "denoiser"
    assert res.psnr > res.psnr_noisy + 3.0
    assert res.ssim > res.ssim_noisy
    assert res.accuracy_denoised > res.accuracy_noisy
    assert res.accuracy_clean >= 0.85
    # the figures are measured on a fixed, seeded noise: the same twice
    assert evaluation.evaluate_denoiser(pipeline, x[:500], y[:500], noise) == res


def test_denoiser_only_pipeline(loaded, test_digits):
    denoiser, _ = loaded
    pipe = Pipeline(denoiser, None)
    x, _ = test_digits
    pred = pipe.run(x[0])
    assert pred.probs_noisy is None and pred.probs_reconstruction is None
    assert pred.digit is None and pred.confidence is None
    assert pred.reconstruction.shape == (28, 28)
    with pytest.raises(RuntimeError):
        pipe.classify(x[:2])
    res = evaluation.evaluate_denoiser(pipe, x[:50], None, NoiseSpec("gaussian"))
    assert res.accuracy_denoised is None and res.accuracy_noisy is None and res.psnr is not None


def test_classifier_only_pipeline(loaded, test_digits):
    _, classifier = loaded
    pipe = Pipeline(None, classifier, warmup=False)
    x, y = test_digits
    pred = pipe.run(x[0])
    np.testing.assert_array_equal(pred.reconstruction, x[0])  # nothing to denoise
    np.testing.assert_allclose(pred.probs_noisy, pred.probs_reconstruction, atol=1e-6)
    np.testing.assert_array_equal(pipe.denoise(x[:3]), x[:3])
    assert evaluation.evaluate_classifier(pipe, x[:200], y[:200]).accuracy >= 0.8


def test_concurrent_runs_give_the_same_answers(pipeline, test_digits):
    x, _ = test_digits
    expected = [pipeline.run(img).reconstruction for img in x[:16]]
    results, errors = {}, []

    def work(offset):
        try:
            for i in range(16):
                j = (i + offset) % 16
                results[(offset, j)] = pipeline.run(x[j]).reconstruction
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for (_, j), recon in results.items():
        np.testing.assert_allclose(recon, expected[j], atol=1e-5)


def test_load_pipeline_uses_the_store_defaults(tiny_models):
    pipe, d_entry, c_entry = workflows.load_pipeline(tiny_models.store)
    assert d_entry.name == tiny_models.denoiser_name
    assert c_entry.name == tiny_models.classifier_name
    assert pipe.classifier is not None
    pipe2, d2, _ = workflows.load_pipeline(tiny_models.store, tiny_models.conv_name, tiny_models.classifier_name)
    assert d2.name == tiny_models.conv_name
    assert tuple(pipe2.denoiser.output_shape) == (None, 28, 28, 1)


def test_xla_and_plain_single_paths_agree(loaded, test_digits):
    x, _ = test_digits
    noisy = NoiseSpec("uniform", {"level": 0.9}).apply(x[:5], seed=3)
    xla, plain = Pipeline(*loaded, xla=True), Pipeline(*loaded, xla=False)
    assert xla.xla and not plain.xla
    for image in noisy:
        a, b = xla.run(image), plain.run(image)
        np.testing.assert_allclose(a.reconstruction, b.reconstruction, atol=1e-4)
        np.testing.assert_allclose(a.probs_reconstruction, b.probs_reconstruction, atol=1e-4)


def test_one_thread_mode_picks_plain_graphs():
    """``denoise`` runs TensorFlow on one thread; a Pipeline then defaults to plain graphs. It
    must be set before TensorFlow's first op, so this runs in a fresh process."""
    import subprocess
    import sys

    code = ("import numpy as np, keras; from desktop_denoiser.core import device, models; "
            "from desktop_denoiser.core.inference import Pipeline; "
            "first = device.use_one_thread(); p = Pipeline(models.build('conv'), None); "
            "y = p.run(np.zeros((28, 28), np.float32)).reconstruction; "
            "print(first, device.one_thread(), p.xla, device.use_one_thread(), y.shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.split()[-6:] == ["True", "True", "False", "True", "(28,", "28)"], out.stderr[-2000:]
