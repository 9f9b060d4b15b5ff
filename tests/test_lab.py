"""desktop_denoiser.core.lab (the autoencoder lab) and the ``explore`` command, on the bundled
models and on small models with known answers. No timing is asserted here (see
scripts/bench_lab.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_denoiser.core import models
from desktop_denoiser.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "trained_models"
DENSE, CONV, UNET, DENSE_2D = "dense-uniform", "conv-blur+uniform", "unet-mixed", "dense-2d"


def _need_bundled(*names):
    missing = [n for n in names if not (BUNDLED / f"{n}.keras").is_file()]
    if missing:
        pytest.skip(f"bundled models missing: {', '.join(missing)}")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from desktop_denoiser.core.store import ModelStore

    return ModelStore(bundled_dir=BUNDLED, user_dir=tmp_path_factory.mktemp("lab_user") / "models")


@pytest.fixture(scope="module")
def labs(store):
    """LabModels of the bundled models (with the bundled classifier), loaded once."""
    from desktop_denoiser.core import lab

    _need_bundled(DENSE, CONV, UNET, DENSE_2D, "classifier")
    return {name: lab.load(store, name) for name in (DENSE, CONV, UNET, DENSE_2D, "classifier")}


@pytest.fixture(scope="module")
def digits(mnist):
    from desktop_denoiser.core import data

    return data.to_float(mnist.x_test[:500]), mnist.y_test[:500].astype(np.int64)


def _contraction(with_code: bool = True):
    """D(x) = 0.5·x + 0.25 per pixel: a 'denoiser' whose iteration halves each step's change,
    with its 784 pixels as the code (a Dense layer named "code") or without a code."""
    import keras

    inp = keras.Input((28, 28, 1), name="noisy")
    if with_code:
        x = keras.layers.Flatten()(inp)
        dense = keras.layers.Dense(784, name="code")
        x = dense(x)
        out = keras.layers.Reshape((28, 28, 1), name="clean")(x)
        model = keras.Model(inp, out, name="halfway")
        dense.set_weights([0.5 * np.eye(784, dtype=np.float32), np.full(784, 0.25, np.float32)])
        return model
    out = keras.layers.Rescaling(0.5, offset=0.25, name="clean")(inp)
    return keras.Model(inp, out, name="halfway_plain")


# ----------------------------------------------------------------------------------------------
# projections


def test_pca_of_points_on_a_line():
    from desktop_denoiser.core.lab import PCA

    direction = np.array([3.0, -4.0, 0.0, 12.0]) / 13.0
    t = np.linspace(-5, 5, 101)
    codes = np.array([1.0, 2.0, 3.0, 4.0]) + t[:, None] * direction
    pca = PCA.fit(codes)
    assert abs(abs(float(pca.components[0] @ direction)) - 1.0) < 1e-5  # along the line
    assert pca.explained[0] == pytest.approx(1.0, abs=1e-6)
    assert pca.explained[1] == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(pca.mean, [1, 2, 3, 4], atol=1e-5)
    points = pca.project(codes)
    np.testing.assert_allclose(np.abs(points[:, 0]), np.abs(t), atol=1e-4)  # distance along the line
    np.testing.assert_allclose(points[:, 1], 0.0, atol=1e-4)


def test_pca_inverse_is_exact_for_rank_two_codes():
    from desktop_denoiser.core.lab import PCA

    rng = np.random.default_rng(0)
    codes = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 6)) + rng.normal(size=6)
    pca = PCA.fit(codes)
    assert float(np.sum(pca.explained)) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(pca.inverse(pca.project(codes)), codes, atol=1e-4)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(2), atol=1e-5)
    again = PCA.fit(codes)  # the same map every time: signs are fixed
    np.testing.assert_array_equal(again.components, pca.components)


def test_code_plane_is_the_code_itself():
    from desktop_denoiser.core.lab import CodePlane

    c = np.array([[1.5, -2.0], [0.0, 3.0]], np.float32)
    plane = CodePlane(2)
    np.testing.assert_array_equal(plane.project(c), c)
    np.testing.assert_array_equal(plane.inverse(c), c)
    with pytest.raises(ConfigError, match="2-D"):
        CodePlane(64)


def test_tsne_places_new_points_by_their_nearest_neighbours():
    from desktop_denoiser.core.lab import TSNE

    codes = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], np.float32)
    points = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], np.float32)
    emb = TSNE(codes, points, neighbours=2)
    np.testing.assert_allclose(emb.project(codes), points)  # a fitted code lands on its point
    mid = emb.project([[5, 0]])[0]  # halfway between the first two codes
    np.testing.assert_allclose(mid, [0, -1], atol=1e-5)
    np.testing.assert_allclose(emb.inverse(points), codes)
    assert not emb.exact_inverse


def test_tsne_fit_reports_progress_and_cancels():
    pytest.importorskip("sklearn")
    from desktop_denoiser.core.lab import TSNE, Cancelled

    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.normal(0, 1, (60, 8)), rng.normal(8, 1, (60, 8))]).astype(np.float32)
    seen = []
    emb = TSNE.fit(codes, iterations=250, on_progress=lambda f, text: seen.append(f))
    assert emb.points.shape == (120, 2)
    assert seen and seen == sorted(seen) and 0 < seen[-1] <= 1.0
    a, b = emb.points[:60].mean(axis=0), emb.points[60:].mean(axis=0)
    spread = max(emb.points[:60].std(axis=0).max(), emb.points[60:].std(axis=0).max())
    assert np.linalg.norm(a - b) > 2 * spread  # the two clusters stay apart
    calls = []
    with pytest.raises(Cancelled):
        TSNE.fit(codes, iterations=1000, on_progress=lambda f, text: calls.append(f), cancel=lambda: len(calls) >= 3)
    assert len(calls) == 3  # stopped at the first check after the cancel


def test_tsne_without_scikit_learn_is_a_clear_error(monkeypatch):
    from desktop_denoiser.core.lab import projection

    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ConfigError, match=r"scikit-learn.*\[lab\]"):
        projection.require_sklearn()
    assert not projection.tsne_available()


# ----------------------------------------------------------------------------------------------
# the split


@pytest.mark.parametrize("name", [DENSE, CONV, DENSE_2D])
def test_encoder_then_decoder_is_the_whole_model(labs, digits, name):
    lab = labs[name]
    x = digits[0][:16]
    whole = np.asarray(lab.model(x[..., None], training=False))[..., 0]
    codes = lab.encode(x)
    assert codes.shape == (16, lab.code_size) and codes.dtype == np.float32
    np.testing.assert_allclose(lab.decode(codes), whole, atol=1e-5)
    c2, out = lab.encode_decode(x)
    np.testing.assert_allclose(c2, codes, atol=1e-5)
    np.testing.assert_allclose(out, whole, atol=1e-5)
    np.testing.assert_allclose(lab.encode(x[:3]), codes[:3], atol=1e-4)  # the frame's XLA path of three


def test_each_model_says_what_its_bottleneck_is(labs):
    assert labs[DENSE].bottleneck.shape == (64,) and "vector of 64" in str(labs[DENSE].bottleneck)
    assert labs[CONV].bottleneck.shape == (4, 4, 8) and "4×4×8 = 128" in str(labs[CONV].bottleneck)
    assert labs[DENSE_2D].code_size == 2
    unet = labs[UNET]
    assert not unet.has_code and unet.is_unet
    assert "3,136" in str(unet.bottleneck) and "784" in str(unet.bottleneck) and "skip" in str(unet.bottleneck)
    clf = labs["classifier"]
    assert clf.kind == "classifier" and not clf.has_code and "not a denoiser" in str(clf.bottleneck)
    with pytest.raises(ConfigError, match="skip"):
        unet.encode(np.zeros((1, 28, 28)))
    with pytest.raises(ConfigError, match="not a denoiser"):
        clf.denoise(np.zeros((1, 28, 28)))


def test_a_model_without_a_code_layer_still_denoises():
    from desktop_denoiser.core.lab import LabModel

    lab = LabModel(_contraction(with_code=False))
    assert not lab.has_code and "no layer named 'code'" in lab.split_problem
    np.testing.assert_allclose(lab.denoise(np.ones((1, 28, 28))), 0.75, atol=1e-6)
    with pytest.raises(ConfigError, match="code"):
        lab.decode(np.zeros((1, 2)))


# ----------------------------------------------------------------------------------------------
# map, markers, manifold


def test_map_and_live_markers(labs, digits):
    from desktop_denoiser.core.lab import build_map

    lab = labs[CONV]
    images, labels = digits
    progress = []
    lmap = build_map(lab, images, labels, on_progress=lambda f, t: progress.append(f))
    assert lmap.method == "pca" and lmap.points.shape == (500, 2) and lmap.codes.shape == (500, 128)
    assert progress[-1] == 1.0
    np.testing.assert_allclose(lmap.points.mean(axis=0), 0.0, atol=1e-3)  # PCA centres the codes
    noisy, clean = np.clip(images[0] + 0.3, 0, 1), images[0]
    recon = lab.denoise(noisy)[0]
    m = lmap.markers(lab, noisy=noisy, clean=clean, reconstruction=recon)
    expected = lmap.place(lab.encode(np.stack([clean, noisy, recon])))
    np.testing.assert_allclose(np.stack([m.points["clean"], m.points["noisy"], m.points["reconstruction"]]),
                               expected, atol=1e-3)
    assert m.arrow is not None and np.allclose(m.arrow[0], m.points["noisy"])
    only = lmap.markers(lab, noisy=noisy)
    assert only.points["clean"] is None and only.arrow is None
    np.testing.assert_allclose(only.points["noisy"], m.points["noisy"], atol=1e-3)
    # a click anywhere decodes: the inverse of a point's position is that code projected on the plane
    code = lmap.code_at(lmap.points[7])
    np.testing.assert_allclose(lmap.place(code[None])[0], lmap.points[7], atol=1e-3)
    assert lmap.nearest(lmap.points[7]) == 7
    assert lmap.decode_at(lab, lmap.points[7]).shape == (28, 28)


def test_the_map_of_a_model_without_a_code_is_refused(labs, digits):
    from desktop_denoiser.core.lab import build_map

    with pytest.raises(ConfigError, match="latent map"):
        build_map(labs[UNET], *digits)


def test_manifold_of_a_2d_code(labs, digits):
    from desktop_denoiser.core.lab import build_map, manifold

    lab = labs[DENSE_2D]
    lmap = build_map(lab, *digits)
    assert lmap.method == "code"
    np.testing.assert_allclose(lmap.points, lmap.codes)
    grid = manifold(lab, grid=15, latent_map=lmap)
    assert grid.images.shape == (15, 15, 28, 28) and grid.mosaic().shape == (420, 420) and grid.exact
    x0, x1, y0, y1 = grid.extent
    p = np.percentile(lmap.codes, [1, 99], axis=0)
    np.testing.assert_allclose([x0, x1, y0, y1], [p[0, 0], p[1, 0], p[0, 1], p[1, 1]], rtol=1e-5)
    # the top-left tile decodes the code (x0, y1), the bottom-right (x1, y0)
    np.testing.assert_allclose(grid.images[0, 0], lab.decode([[x0, y1]])[0], atol=1e-5)
    np.testing.assert_allclose(grid.images[-1, -1], lab.decode([[x1, y0]])[0], atol=1e-5)
    np.testing.assert_allclose(grid.mosaic()[:28, :28], grid.images[0, 0])
    np.testing.assert_allclose(grid.mosaic()[28:56, :28], grid.images[1, 0])
    assert np.std(grid.images.reshape(225, -1), axis=0).mean() > 0.02  # the digits change across the grid
    small = manifold(lab, grid=4, extent=(-1.0, 1.0, -2.0, 2.0))
    np.testing.assert_allclose(small.xs, np.linspace(-1, 1, 4), atol=1e-6)


def test_manifold_needs_a_plane(labs, digits):
    from desktop_denoiser.core.lab import build_map, manifold

    with pytest.raises(ConfigError, match="code of 64"):
        manifold(labs[DENSE], grid=5, extent=(0, 1, 0, 1))
    plane = manifold(labs[DENSE], grid=5, latent_map=build_map(labs[DENSE], *digits))  # the PCA plane
    assert plane.images.shape == (5, 5, 28, 28) and not plane.exact


# ----------------------------------------------------------------------------------------------
# interpolation, iteration


def test_interpolation_endpoints(labs, digits):
    from desktop_denoiser.core.lab.interpolate import interpolate

    lab = labs[CONV]
    a, b = digits[0][0], digits[0][1]
    r = interpolate(lab, a, b, steps=12)
    assert r.t[0] == 0 and r.t[-1] == 1 and len(r.t) == 12
    ra, rb = lab.denoise(np.stack([a, b]))
    np.testing.assert_allclose(r.latent[0], ra, atol=1e-5)
    np.testing.assert_allclose(r.latent[-1], rb, atol=1e-5)
    np.testing.assert_allclose(r.codes[0], lab.encode(a)[0], atol=1e-5)
    np.testing.assert_allclose(r.codes[6], (1 - r.t[6]) * r.codes[0] + r.t[6] * r.codes[-1], atol=1e-5)
    np.testing.assert_array_equal(r.blend[0], a)
    np.testing.assert_array_equal(r.blend[-1], b)
    np.testing.assert_allclose(r.blend[4], (1 - r.t[4]) * a + r.t[4] * b, atol=1e-6)
    assert r.latent_probs.shape == (12, 10) and r.blend_probs.shape == (12, 10)
    np.testing.assert_allclose(r.blend_probs.sum(axis=1), 1.0, atol=1e-5)
    labels = digits[1]
    assert r.blend_digits[0] == labels[0] and r.blend_digits[-1] == labels[1]  # the clean inputs are read right
    np.testing.assert_allclose(r.latent_probs[0], lab.classify(ra[None])[0], atol=1e-4)


def test_interpolation_without_a_code_is_the_blend_only(labs, digits):
    from desktop_denoiser.core.lab.interpolate import interpolate

    r = interpolate(labs[UNET], digits[0][0], digits[0][1], steps=5)
    assert r.latent is None and r.codes is None and r.latent_probs is None
    assert r.blend.shape == (5, 28, 28) and r.blend_probs.shape == (5, 10) and "skip" in r.note
    with pytest.raises(ConfigError, match="steps"):
        interpolate(labs[UNET], digits[0][0], digits[0][1], steps=1)


def test_iteration_converges_geometrically():
    from desktop_denoiser.core.lab import LabModel
    from desktop_denoiser.core.lab.iterate import iterate

    lab = LabModel(_contraction(with_code=True))
    x = np.zeros((28, 28), np.float32)  # distances 0.25, 0.125, ... toward the fixed point 0.5
    r = iterate(lab, x, tol=0.01, max_steps=50)
    assert r.converged and r.steps == 6  # 0.25 / 2**5 < 0.01 <= 0.25 / 2**4
    np.testing.assert_allclose(r.distances, 0.25 * 0.5 ** np.arange(6), rtol=1e-5)
    assert np.all(np.diff(r.distances) < 0) and r.distances[-1] < 0.01 <= r.distances[-2]
    assert r.images.shape == (7, 28, 28) and r.codes.shape == (7, 784)
    np.testing.assert_allclose(r.images[-1], 0.5 - 0.5**7, atol=1e-5)  # x_k = 0.5 - 0.5**(k+1)
    np.testing.assert_allclose(r.codes[-1], lab.encode(r.images[-1])[0], atol=1e-6)
    rms = iterate(lab, x, tol=0.01, max_steps=50, metric="rms")
    np.testing.assert_allclose(rms.distances, r.distances, rtol=1e-5)  # a uniform change: RMS = mean abs


def test_iteration_stops_at_the_step_limit(labs, digits):
    from desktop_denoiser.core.lab.iterate import iterate

    r = iterate(labs[CONV], np.clip(digits[0][2] + 0.3, 0, 1), tol=0.0, max_steps=3)
    assert not r.converged and r.steps == 3 and r.images.shape == (4, 28, 28) and r.codes.shape == (4, 128)
    np.testing.assert_allclose(r.images[1], labs[CONV].denoise(r.images[0])[0], atol=1e-5)
    assert r.probs.shape == (4, 10) and len(r.digits) == 4
    plain = iterate(labs[UNET], digits[0][2], max_steps=2, tol=0.0)
    assert plain.codes is None and plain.steps == 2


# ----------------------------------------------------------------------------------------------
# inside


@pytest.mark.parametrize("name", [DENSE, CONV, UNET, "classifier"])
def test_layer_outputs_match_the_models_layers(labs, digits, name):
    lab = labs[name]
    outs = lab.layers(digits[0][0])
    layers = [layer for layer in lab.model.layers if type(layer).__name__ != "InputLayer"]
    assert [o.name for o in outs] == [layer.name for layer in layers]
    assert [o.shape for o in outs] == [tuple(layer.output.shape[1:]) for layer in layers]
    last = np.asarray(lab.model(digits[0][:1, ..., None], training=False))[0]
    np.testing.assert_allclose(outs[-1].values, last, atol=1e-5)


def test_unet_skip_zeroing(labs, digits):
    from desktop_denoiser.core.lab import inside

    lab = labs[UNET]
    x = np.clip(digits[0][3] + 0.3, 0, 1)
    normal_image = lab.denoise(x)[0]
    np.testing.assert_allclose(inside.output(lab, x, zero_skips=False), normal_image, atol=1e-5)
    zeroed_layers = lab.layers(x, zero_skips=True)
    zeroed = zeroed_layers[-1].values[..., 0]
    assert np.abs(zeroed - normal_image).mean() > 0.01  # the skips carried something
    normal_layers = lab.layers(x)
    assert [o.name for o in zeroed_layers] == [o.name for o in normal_layers]  # the same layers, rewired
    by_name = {o.name: o for o in zeroed_layers}
    join14 = next(o for o in zeroed_layers if o.kind == "Concatenate")
    assert join14.shape == (14, 14, 64) and by_name["bottleneck7_b"].shape == (7, 7, 64)
    assert np.all(join14.values[..., 32:] == 0) and np.any(join14.values[..., :32] != 0)  # the skip's half is zero
    normal = {o.name: o for o in normal_layers}
    np.testing.assert_allclose(by_name["bottleneck7_b"].values, normal["bottleneck7_b"].values, atol=1e-5)
    rebuilt, _ = inside.skip_free(lab.model, zero_skips=False)  # rebuilt without zeroing: the same network
    np.testing.assert_allclose(np.asarray(rebuilt(x[None, ..., None], training=False)[-1])[0, ..., 0], normal_image,
                               atol=1e-5)
    with pytest.raises(ConfigError, match="U-Net"):
        labs[CONV].layers(x, zero_skips=True)


def test_first_filters(labs):
    from desktop_denoiser.core.lab import first_filters

    conv = first_filters(labs[CONV])
    kernel = next(layer for layer in labs[CONV].model.layers if type(layer).__name__ == "Conv2D").get_weights()[0]
    assert conv.kernels.shape == (16, 3, 3)
    np.testing.assert_array_equal(conv.kernels[5], kernel[:, :, 0, 5])
    dense = first_filters(labs[DENSE])
    assert dense.layer == "code" and dense.kernels.shape == (64, 28, 28)
    np.testing.assert_array_equal(dense.kernels[3].reshape(-1), labs[DENSE].model.get_layer("code").get_weights()[0][:, 3])
    assert first_filters(labs["classifier"]).kernels.shape == (32, 3, 3)


# ----------------------------------------------------------------------------------------------
# compare


def test_compare_rows(labs, digits):
    from desktop_denoiser.core import metrics
    from desktop_denoiser.core.lab import compare as compare_mod

    clean = digits[0][4]
    noisy = np.clip(clean + 0.5 * np.random.default_rng(0).random((28, 28)), 0, 1).astype(np.float32)
    denoisers = {name: labs[name].model for name in (DENSE, CONV, UNET)}
    rows = compare_mod.compare(noisy, denoisers, labs["classifier"].model, clean=clean)
    names = [r.name for r in rows]
    assert names == ["input", DENSE, CONV, UNET, *compare_mod.filters()]
    assert len(rows) == 1 + 3 + len(compare_mod.filters()) and {"median 3×3", "Gaussian σ=1"} <= set(names)
    assert all(np.isfinite(r.psnr) and -1 <= r.ssim <= 1 and 0 <= r.digit <= 9 for r in rows)
    assert rows[0].psnr == pytest.approx(float(metrics.psnr(clean, noisy)[0]))
    np.testing.assert_allclose(rows[2].image, labs[CONV].denoise(noisy)[0], atol=1e-5)
    np.testing.assert_allclose(rows[-2].image, compare_mod.median(noisy))
    assert max(r.psnr for r in rows[1:4]) > rows[0].psnr  # some denoiser beats the noisy input
    bare = compare_mod.compare(noisy, {}, None)
    assert [r.kind for r in bare][0] == "input" and all(r.psnr is None and r.digit is None for r in bare)


# ----------------------------------------------------------------------------------------------
# the bottleneck setting


def _signature(model):
    return [(type(layer).__name__, tuple(layer.output.shape[1:]), layer.count_params()) for layer in model.layers]


def test_the_default_bottleneck_builds_todays_networks():
    for name, params, k in (("dense", 101_200, 64), ("conv", 4_385, 128)):
        default, explicit = models.build(name), models.build(name, k)
        assert default.count_params() == explicit.count_params() == params
        assert _signature(default) == _signature(explicit)
        assert [layer.name for layer in default.layers if layer.name in ("code", "clean")] == ["code", "clean"]
    assert models.build("dense").get_layer("code").get_config()["activation"] == "relu"
    assert models.summary("dense") == models.get("dense").summary
    assert "784→256→2→256→784" in models.summary("dense", 2)


def test_other_bottlenecks():
    d2 = models.build("dense", 2)
    h = models.DENSE_HIDDEN
    assert tuple(d2.get_layer("code").output.shape[1:]) == (2,)
    assert d2.count_params() == (784 * h + h) + (h * 2 + 2) + (2 * h + h) + (h * 784 + 784)
    assert d2.get_layer("code").get_config()["activation"] == "linear"
    c2 = models.build("conv", 2)
    assert tuple(c2.get_layer("code").output.shape[1:]) == (2,)
    assert c2.count_params() == 4_385 + (128 * 2 + 2) + (2 * 128 + 128)
    assert tuple(c2.output_shape) == (None, 28, 28, 1)
    for arch, bad in (("dense", 0), ("dense", 785), ("conv", 785), ("dense", 2.5)):
        with pytest.raises(ConfigError, match="1 to 784"):
            models.build(arch, bad)
    for arch in ("unet", "classifier"):
        with pytest.raises(ConfigError, match="only be set for dense and conv"):
            models.build(arch, 8)


def test_train_config_bottleneck_round_trip_and_validation():
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.training import TrainConfig

    cfg = TrainConfig(arch="dense", noise=NoiseSpec.parse("uniform:0.5"), bottleneck=2)
    d = cfg.to_dict()
    assert d["bottleneck"] == 2
    back = TrainConfig.from_dict(d)
    assert back.bottleneck == 2 and back.noise == cfg.noise and back.to_dict() == d
    old = {k: v for k, v in d.items() if k != "bottleneck"}
    assert TrainConfig.from_dict({**old, "unknown": 1}).bottleneck is None  # older metadata
    with pytest.raises(ConfigError, match="skip connections"):
        TrainConfig(arch="unet", bottleneck=16).validate()
    with pytest.raises(ConfigError, match="classifier"):
        TrainConfig(arch="classifier", noise=NoiseSpec("none"), bottleneck=16).validate()
    with pytest.raises(ConfigError, match="1 to 784"):
        TrainConfig(arch="conv", noise=NoiseSpec("uniform"), bottleneck=1000).validate()


def test_a_2d_dense_model_trains_a_tiny_step(mnist):
    from desktop_denoiser.core.lab import LabModel
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.training import TrainConfig, Trainer

    cfg = TrainConfig(arch="dense", noise=NoiseSpec.parse("uniform:0.5"), bottleneck=2, epochs=1, subset=256,
                      batch_size=128, val_limit=64, patience=None)
    result = Trainer(cfg).run()
    assert result.steps == 2 and np.isfinite(result.history[0].val_loss)
    assert tuple(result.model.get_layer("code").output.shape[1:]) == (2,)
    lab = LabModel(result.model)
    assert lab.code_size == 2 and lab.decode([[0.0, 0.0], [1.0, -1.0]]).shape == (2, 28, 28)


# ----------------------------------------------------------------------------------------------
# the explore command (in process: one TensorFlow for all the views; test_cli runs the real command)


def _explore(capsys, *args):
    from desktop_denoiser import cli

    code = cli.main(["explore", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.strip()]


def _check_png(path: Path, min_size=(300, 200)):
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.width >= min_size[0] and im.height >= min_size[1]
        extrema = im.convert("L").getextrema()
        assert extrema[0] < 50 and extrema[1] > 200  # not a single colour: dark and light pixels
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is None or len(colours) > 10


@pytest.mark.parametrize("model, view, extra", [
    (CONV, "map", ["--count", 500]),
    (DENSE_2D, "manifold", ["--count", 500, "--grid", 8]),
    (DENSE, "manifold", ["--count", 500, "--grid", 5]),
    (CONV, "interpolate", ["--steps", 6]),
    (DENSE, "iterate", []),
    (UNET, "inside", ["--zero-skips"]),
    (DENSE, "inside", []),
    (CONV, "compare", ["--noise", "uniform:0.5"]),
])
def test_explore_writes_each_view(mnist, tmp_path, capsys, monkeypatch, model, view, extra):
    _need_bundled(model)
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(BUNDLED))
    out = tmp_path / f"{view}.png"
    code, stdout, err = _explore(capsys, "--model", model, "--view", view, "--figure", out, *extra)
    assert code == 0, err
    assert err == [] and stdout.strip() == f"wrote {out}"
    _check_png(out)


def test_explore_with_input_files_and_no_overwrite(mnist, digit_pngs, tmp_path, capsys, monkeypatch):
    _need_bundled(DENSE_2D)
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(BUNDLED))
    out = tmp_path / "interp.png"
    a, b = digit_pngs[0][0], digit_pngs[3][0]
    code, _, err = _explore(capsys, "--model", DENSE_2D, "--view", "interpolate", "--input", a, b, "--figure", out)
    assert code == 0, err
    _check_png(out)
    before = out.read_bytes()
    code, _, err = _explore(capsys, "--model", DENSE_2D, "--view", "iterate", "--input", a, "--figure", out)
    assert code == 1 and len(err) == 1 and "exists" in err[0] and "--overwrite" in err[0]
    assert err[0].startswith("desktop-denoiser: error:")
    assert out.read_bytes() == before
    code, _, err = _explore(capsys, "--model", DENSE_2D, "--view", "iterate", "--input", a, "--figure", out,
                            "--overwrite")
    assert code == 0 and out.read_bytes() != before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


@pytest.mark.parametrize("args, words", [
    (["--model", "no-such-model", "--view", "map"], ["No model named 'no-such-model'"]),
    (["--model", UNET, "--view", "manifold"], ["unet-mixed cannot show a manifold", "skip"]),
    (["--model", "classifier", "--view", "iterate"], ["not a denoiser"]),
    (["--model", CONV, "--view", "interpolate", "--input", "a.png", "b.png", "c.png"], ["at most two"]),
    (["--model", CONV, "--view", "map", "--input", "a.png", "b.png"], ["only interpolate takes two"]),
    (["--model", CONV, "--view", "iterate", "--input", "missing.png"], ["missing.png"]),
    (["--model", CONV, "--view", "manifold", "--grid", "1"], ["2 to 100"]),
])
def test_explore_errors_are_one_line(mnist, tmp_path, capsys, monkeypatch, args, words):
    monkeypatch.setenv("DESKTOP_DENOISER_BUNDLED", str(BUNDLED))
    out = tmp_path / "never.png"
    code, _, err = _explore(capsys, *args, "--figure", out)
    assert code == 1 and len(err) == 1 and err[0].startswith("desktop-denoiser: error:"), err
    for word in words:
        assert word in err[0]
    assert not out.exists()


def test_explore_as_a_real_command(mnist, tmp_path):
    """The real process: TensorFlow quiet, one line for an error, a PNG for a view."""
    from test_cli import assert_one_error_line, run_cli, stderr_lines

    _need_bundled(UNET, DENSE_2D)
    home = tmp_path / "home"
    proc = run_cli("explore", "--model", UNET, "--view", "manifold", "--figure", tmp_path / "m.png",
                   bundled=BUNDLED, home=home, cwd=tmp_path)
    assert proc.returncode == 1
    assert_one_error_line(proc, "unet-mixed cannot show a manifold", "3,136")
    out = tmp_path / "map.png"
    proc = run_cli("explore", "--model", DENSE_2D, "--view", "map", "--count", 300, "--figure", out,
                   bundled=BUNDLED, home=home, cwd=tmp_path)
    assert proc.returncode == 0 and stderr_lines(proc) == [], proc.stderr
    _check_png(out)
    proc = run_cli("explore", "--help", home=home, cwd=tmp_path)
    text = " ".join(proc.stdout.split())
    for option in ("--model", "--view", "--input", "--noise", "--seed", "--figure", "--overwrite", "--count",
                   "--method", "--zero-skips", "manifold", "interpolate", "compare"):
        assert option in text, option
