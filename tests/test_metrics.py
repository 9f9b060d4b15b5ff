"""desktop_denoiser.core.metrics: PSNR, SSIM, MSE and accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_denoiser.core import metrics
from desktop_denoiser.core.noise import NoiseSpec


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.x_test[:50].astype(np.float32) / 255.0


def test_mse_per_image():
    a = np.zeros((2, 28, 28))
    b = np.stack([np.full((28, 28), 0.1), np.full((28, 28), 0.5)])
    np.testing.assert_allclose(metrics.mse(a, b), [0.01, 0.25])


def test_psnr_of_identical_images_is_capped_at_100(digits):
    p = metrics.psnr(digits, digits)
    assert p.shape == (50,)
    np.testing.assert_array_equal(p, 100.0)
    assert metrics.psnr(np.zeros((28, 28)), np.zeros((28, 28)))[0] == 100.0


def test_psnr_of_known_mse():
    clean = np.zeros((28, 28))
    other = np.full((28, 28), 0.1)  # MSE 0.01 -> 20 dB
    assert metrics.psnr(clean, other)[0] == pytest.approx(20.0, abs=1e-9)
    assert metrics.psnr(clean, np.full((28, 28), 1.0))[0] == pytest.approx(0.0, abs=1e-9)  # MSE 1 -> 0 dB
    # a checkerboard of +-0.1 errors has the same MSE
    checker = (np.indices((28, 28)).sum(axis=0) % 2 * 2 - 1) * 0.1 + 0.5
    assert metrics.psnr(np.full((28, 28), 0.5), checker)[0] == pytest.approx(20.0, abs=1e-9)


def test_psnr_data_range():
    # range 255 with an error of 25.5 is the same 20 dB
    assert metrics.psnr(np.zeros((28, 28)), np.full((28, 28), 25.5), data_range=255.0)[0] == pytest.approx(20.0)


def test_psnr_accepts_channel_axis(digits):
    noisy = NoiseSpec("uniform", {"level": 0.5}).apply(digits, seed=0)
    np.testing.assert_allclose(metrics.psnr(digits[..., None], noisy[..., None]), metrics.psnr(digits, noisy))


def test_psnr_falls_with_the_noise_level(digits):
    levels = [0.1, 0.3, 0.6, 0.9]
    means = [metrics.psnr(digits, NoiseSpec("uniform", {"level": lv}).apply(digits, seed=0)).mean() for lv in levels]
    assert all(a > b for a, b in zip(means, means[1:])), means


def test_ssim_of_identical_images_is_one(digits):
    s = metrics.ssim(digits, digits)
    assert s.shape == (50,)
    np.testing.assert_allclose(s, 1.0, atol=1e-9)


def test_ssim_of_noisy_images_is_below_one(digits):
    noisy = NoiseSpec("gaussian", {"sigma": 0.3}).apply(digits, seed=1)
    s = metrics.ssim(digits, noisy)
    assert np.all(s < 0.9)
    assert np.all(s > -1.0)
    light = NoiseSpec("gaussian", {"sigma": 0.05}).apply(digits, seed=1)
    assert np.all(metrics.ssim(digits, light) > s)


def test_ssim_is_symmetric(digits):
    noisy = NoiseSpec("uniform", {"level": 0.5}).apply(digits[:5], seed=2)
    np.testing.assert_allclose(metrics.ssim(digits[:5], noisy), metrics.ssim(noisy, digits[:5]), atol=1e-12)


def test_ssim_of_a_constant_shift_is_high_but_not_one():
    a = np.random.default_rng(0).random((28, 28)) * 0.5
    s = metrics.ssim(a, a + 0.1)[0]
    assert 0.8 < s < 1.0


def test_accuracy():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert metrics.accuracy(probs, [0, 1, 1, 1]) == pytest.approx(0.75)
    assert metrics.accuracy(probs, np.array([0, 1, 0, 1])) == 1.0
    assert metrics.accuracy(probs, [1, 0, 1, 0]) == 0.0
    assert isinstance(metrics.accuracy(probs, [0, 1, 0, 1]), float)
