"""benchmarks/: the noise_speed table end to end on a few digits, the sweep noise against scipy
(one definition in core.sweep for the window and the benchmark), the article's loop, the table
format and the size overrides."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import ndimage

from desktop_denoiser.benchmarks import common
from desktop_denoiser.benchmarks.sweep import article_loop
from desktop_denoiser.core.sweep import SWEEP, sweep_noise, sweep_rows

NUMBER = re.compile(r"^-?[\d,]+(\.\d+)?×?$")


def _rows(text: str, first_cell_prefix: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| " + first_cell_prefix):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


# ----------------------------------------------------------------------------------------------
# the noise_speed table, end to end on tiny sizes


def test_noise_speed_table_prints_numbers(mnist, monkeypatch, capsys):
    from desktop_denoiser.benchmarks import run

    monkeypatch.setitem(common.OVERRIDES, "noise_images", 2048)
    monkeypatch.setitem(common.OVERRIDES, "loop_images", 256)
    monkeypatch.setitem(common.OVERRIDES, "noise_repeats", 1)
    code = run.main(full=False, tables=["noise_speed"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "### machine" in out and "TensorFlow" in out
    assert "### noise_speed" in out
    loop = _rows(out, "article")
    ours = _rows(out, "ours")
    assert len(loop) == 1 and len(ours) == 4, out
    for row in loop + ours:
        # digits timed, wall s, CPU s, digits/s, speed-up (wall), speed-up (CPU)
        assert all(NUMBER.match(cell) for cell in row[1:]), row
        assert float(row[2].replace(",", "")) > 0
    assert loop[0][1] == "256"
    assert "extrapolated ×8" in out
    assert re.search(r"target ≥ 50× faster than the loop \(wall\): (met|not met)", out)


def test_unknown_table_is_an_error(capsys):
    from desktop_denoiser.benchmarks import run

    assert run.main(full=False, tables=["nope"]) == 2
    assert "unknown table" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# the sweep's noise: a fixed sigma and a fixed r


@pytest.fixture(scope="module")
def digits(mnist):
    from desktop_denoiser.core import data

    return data.to_float(mnist.x_test[:64])


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5, 2.0, 2.5])
def test_sweep_blur_matches_scipy_per_image(digits, sigma):
    out = sweep_noise(digits, sigma, 0.0, seed=1)
    ref = np.stack([ndimage.gaussian_filter(img.astype(np.float64), sigma) for img in digits])
    assert out.shape == digits.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, np.clip(ref, 0, 1), atol=1e-5)


@pytest.mark.parametrize("sigma", [1.0, 2.0, 2.5])
def test_sweep_border_is_reflect_like_the_article(sigma):
    """A digit touching the border: the sweep's blur is gaussian_filter(mode="reflect") (the
    article's default), visibly not the zero padding of NoiseSpec's blur+uniform."""
    from desktop_denoiser.core import data

    m = data.load_mnist()
    x = data.to_float(m.x_test[:1000])
    edge = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1).max(axis=1) > 0.5
    touching = x[edge][:4]
    assert len(touching) == 4, "the first 1000 MNIST test digits hold a dozen with ink on the edge"
    out = sweep_noise(touching, sigma, 0.0)
    for img, ref_in in zip(out, touching):
        reflect = ndimage.gaussian_filter(ref_in, sigma, mode="reflect")
        np.testing.assert_allclose(img, np.clip(reflect, 0, 1), atol=1e-6)
        assert np.abs(img - ndimage.gaussian_filter(ref_in, sigma, mode="constant")).max() > 0.05


def test_window_and_benchmark_sweeps_give_identical_arrays(mnist, monkeypatch, tmp_path):
    """The benchmark's sweep table (protocols.sweep, seed TEST_SEED + i, a batch of digits) and
    the window's sweep (SweepDialog.compute -> core.sweep.sweep_rows, seed + i, one digit) are
    one function: digit 0 of the table's figure is the window's row for that digit."""
    from types import SimpleNamespace

    from desktop_denoiser.benchmarks import protocols
    from desktop_denoiser.core import sweep as core_sweep
    from desktop_denoiser.core.evaluation import TEST_SEED

    assert protocols.sweep_noise is core_sweep.sweep_noise and protocols.SWEEP is core_sweep.SWEEP
    monkeypatch.setitem(common.OVERRIDES, "sweep_images", 16)
    rows = {}
    monkeypatch.setattr(protocols, "save_sweep_figure", lambda path, figure_rows, nets: rows.update(figure_rows))
    from desktop_denoiser.core.store import ModelStore

    (tmp_path / "bundled").mkdir()
    (tmp_path / "user").mkdir()
    models = common.Models(ModelStore(bundled_dir=tmp_path / "bundled", user_dir=tmp_path / "user"))  # no models
    table = protocols.sweep(SimpleNamespace(full=False, models=models, figure=str(tmp_path / "sweep.png")))
    assert len(table.rows) == len(SWEEP) == 6
    bench = np.stack(rows["noisy"])
    clean = common.test_set(1)[0][0]
    steps, window = sweep_rows(clean, seed=TEST_SEED)
    assert [(s.sigma, s.r) for s in steps] == list(SWEEP)
    np.testing.assert_array_equal(bench, window)
    pytest.importorskip("PySide6")
    from desktop_denoiser.gui.noise_sweep_dialog import SweepDialog

    np.testing.assert_array_equal(SweepDialog.compute(None, clean).noisy, sweep_rows(clean, seed=0)[1])
    np.testing.assert_array_equal(sweep_rows(clean, seed=0)[1][3], sweep_noise(clean[None], *SWEEP[3], seed=3)[0])


def test_sweep_step_zero_is_the_clean_image(digits):
    np.testing.assert_array_equal(sweep_noise(digits, 0.0, 0.0), digits)
    assert SWEEP[0] == (0.0, 0.0)
    assert [round(s, 6) for s, _ in SWEEP] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert [round(r, 6) for _, r in SWEEP] == [0.0, 0.4, 0.8, 1.2, 1.6, 2.0]


@pytest.mark.parametrize("r", [0.1, 0.4])
def test_sweep_noise_is_uniform_in_plus_minus_r(r):
    grey = np.full((500, 28, 28), 0.5, np.float32)
    noise = sweep_noise(grey, 0.0, r, seed=3) - 0.5  # r <= 0.5: no clipping
    assert np.abs(noise).max() <= r + 1e-6
    assert noise.mean() == pytest.approx(0.0, abs=0.002)
    assert noise.std() == pytest.approx(r / np.sqrt(3), rel=0.01)


def test_sweep_noise_after_the_blur_then_clipped(digits):
    sigma, r = 1.5, 1.2
    out = sweep_noise(digits, sigma, r, seed=4)
    blurred = ndimage.gaussian_filter(digits, (0, sigma, sigma))
    assert out.min() >= 0.0 and out.max() <= 1.0
    # the noise is added to the blurred image: where it was not clipped, out - blurred is in ±r
    inside = (out > 0) & (out < 1)
    assert np.all(np.abs(out - blurred)[inside] <= r + 1e-5)
    np.testing.assert_array_equal(out, sweep_noise(digits, sigma, r, seed=4))
    assert not np.array_equal(out, sweep_noise(digits, sigma, r, seed=5))


def test_sweep_noise_single_image(digits):
    assert sweep_noise(digits[0], 1.0, 0.4).shape == (28, 28)


def test_article_loop_output(digits):
    out = article_loop(digits[:20], seed=0)
    assert out.shape == (20, 28, 28) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(out, article_loop(digits[:20], seed=0))
    assert not np.allclose(out, digits[:20])


# ----------------------------------------------------------------------------------------------
# tables and sizes


def test_table_renders_fixed_width_markdown():
    t = common.Table("demo", "a demo", ["name", "value"])
    t.add("short", 1.5)
    t.add("a much longer name", 12345)
    t.note("a note")
    text = t.render()
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len(lines) == 4
    assert len({len(ln) for ln in lines}) == 1, "every row has the same width"
    assert lines[1].startswith("|:") and lines[1].endswith(":|")
    assert "12,345" in text and "1.50" in text and "- a note" in text
    with pytest.raises(ValueError):
        t.add("too", "many", "cells")


def test_sizes_quick_full_and_overrides(monkeypatch):
    assert common.size("noise_images", False) == 240000
    assert common.size("loop_images", False) == 24000
    assert common.size("loop_images", True) == 240000
    monkeypatch.setenv("DESKTOP_DENOISER_BENCH_LOOP_IMAGES", "1000")
    assert common.size("loop_images", False) == 1000
    monkeypatch.setitem(common.OVERRIDES, "loop_images", 10)
    assert common.size("loop_images", True) == 10


# ----------------------------------------------------------------------------------------------
# the fast blur+uniform paths of NoiseSpec that noise_speed measures


def _toeplitz_blur(ops, matmul, x, sigma, sigma_max: float):
    """The blur of blur+uniform without its noise: ``B @ x @ B`` from the kernels' shared maths,
    one sigma per image ((N, 1))."""
    from desktop_denoiser.core import noise_kernels as k

    bh, bw = k._blur_matrices(ops, k._half_kernel(ops, sigma, k._radius(sigma_max)), x.shape[1], x.shape[2])
    return matmul(matmul(bh, x), bw)


@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_fast_blur_matches_scipy_constant_mode(backend):
    """The per-image Toeplitz blur equals gaussian_filter(mode="constant"); sigma -> 0 is the identity."""
    from desktop_denoiser.core import noise_kernels as k

    sigmas = np.array([0.0, 1e-4, 0.05, 0.3, 0.5, 0.75, 1.0, 1.3, 1.5, 1.99, 2.0], np.float32)
    x = np.random.default_rng(0).random((len(sigmas), 28, 28)).astype(np.float32)
    if backend == "numpy":
        out = _toeplitz_blur(k.NumpyOps(np.random.default_rng(0)), np.matmul, x, sigmas.reshape(-1, 1), 2.0)
    else:
        import tensorflow as tf

        ops = k.TFOps(tf, tf.constant([1, 2], tf.int64))
        out = _toeplitz_blur(ops, tf.matmul, tf.constant(x), tf.constant(sigmas.reshape(-1, 1)), 2.0).numpy()
    for img, ref_in, s in zip(out, x, sigmas):
        ref = ndimage.gaussian_filter(ref_in.astype(np.float64), float(s), mode="constant") if s > 0 else ref_in
        np.testing.assert_allclose(img, ref, atol=1e-5, err_msg=f"sigma={s}")


@pytest.mark.parametrize("xla", ["1", "0"])
def test_tf_blur_uniform_matches_numpy_in_distribution(xla, monkeypatch):
    """Blur strength (a single lit pixel's centre after the blur) and noise size agree between
    numpy and the TF path, with the XLA kernels and without."""
    import tensorflow as tf

    from desktop_denoiser.core import noise as noise_mod

    monkeypatch.setenv(noise_mod.XLA_ENV, xla)
    n = 10000
    delta = np.zeros((n, 28, 28), np.float32)
    delta[:, 14, 14] = 1.0
    blur = noise_mod.NoiseSpec("blur+uniform", {"sigma_max": 2.0, "r_max": 0.01})
    a = blur.apply(delta, seed=1)[:, 14, 14]
    b = blur.apply_tf(delta, tf.constant([1, 2], tf.int64)).numpy()[:, 14, 14]
    # the centre falls from 1 (sigma 0) to 0.04 (sigma 2); its mean has a standard error of ~0.004
    assert b.mean() == pytest.approx(a.mean(), abs=0.02)
    q = [0.1, 0.25, 0.5]  # large sigmas, where the centre varies slowly with sigma
    np.testing.assert_allclose(np.quantile(b, q), np.quantile(a, q), atol=0.02)
    grey = np.full((3000, 28, 28), 0.5, np.float32)
    noisy = noise_mod.NoiseSpec("blur+uniform", {"sigma_max": 0.0, "r_max": 0.4})
    na = noisy.apply(grey, seed=2) - 0.5
    nb = noisy.apply_tf(grey, tf.constant([3, 4], tf.int64)).numpy() - 0.5
    assert np.abs(nb).max() <= 0.4 and nb.mean() == pytest.approx(0.0, abs=0.002)
    assert nb.std() == pytest.approx(na.std(), rel=0.02)
