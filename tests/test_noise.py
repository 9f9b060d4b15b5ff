"""desktop_denoiser.core.noise: statistics per kind, determinism, the two back ends, parsing,
and fresh noise each epoch in the training pipeline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desktop_denoiser.core import data as data_mod
from desktop_denoiser.core import noise as noise_mod
from desktop_denoiser.core.errors import ConfigError, DenoiserError
from desktop_denoiser.core.noise import KINDS, NoiseSpec

ZEROS = np.zeros((400, 28, 28), np.float32)
GREY = np.full((400, 28, 28), 0.5, np.float32)


@pytest.fixture(scope="module")
def digits(mnist):
    """1000 real test digits, float in [0, 1]."""
    return data_mod.to_float(mnist.x_test[:1000])


def _tf():
    import tensorflow as tf

    return tf


def _tf_apply(spec, images, seed=(3, 4)):
    tf = _tf()
    return spec.apply_tf(images, tf.constant(seed, tf.int64)).numpy()


# ----------------------------------------------------------------------------------------------
# statistics per kind


@pytest.mark.parametrize("level", [0.3, 0.5, 0.9, 1.0])
def test_uniform_on_zero_image_has_mean_half_the_level(level):
    out = NoiseSpec("uniform", {"level": level}).apply(ZEROS, seed=1)
    assert out.min() >= 0.0 and out.max() <= level + 1e-6
    assert out.mean() == pytest.approx(level / 2, abs=0.005)
    # uniform on [0, level]: std = level / sqrt(12)
    assert out.std() == pytest.approx(level / math.sqrt(12), abs=0.005)


def test_uniform_above_one_is_clipped():
    out = NoiseSpec("uniform", {"level": 2.0}).apply(ZEROS, seed=1)
    # half the draws exceed 1 and are clipped: mean = 0.5 * 0.5 + 0.5 * 1
    assert out.max() == 1.0
    assert np.mean(out == 1.0) == pytest.approx(0.5, abs=0.01)
    assert out.mean() == pytest.approx(0.75, abs=0.005)


def test_uniform_on_mnist_background_and_ink(digits):
    level = 0.9
    out = NoiseSpec("uniform", {"level": level}).apply(digits, seed=2)
    background = digits == 0
    assert background.mean() > 0.7
    assert out[background].mean() == pytest.approx(level / 2, abs=0.005)
    # the noise only adds: no pixel gets darker, and every pixel is in [0, 1]
    assert np.all(out >= digits - 1e-6)
    assert out.min() >= 0.0 and out.max() <= 1.0
    # full ink stays full
    assert np.all(out[digits == 1.0] == 1.0)


@pytest.mark.parametrize("sigma", [0.05, 0.1])
def test_gaussian_std_on_grey_image(sigma):
    out = NoiseSpec("gaussian", {"sigma": sigma}).apply(GREY, seed=3)
    # on a mid-grey image clipping is negligible (>= 5 sigma away)
    assert (out - 0.5).std() == pytest.approx(sigma, rel=0.02)
    assert out.mean() == pytest.approx(0.5, abs=0.002)


def test_gaussian_on_zero_image_is_a_half_normal():
    sigma = 0.2
    out = NoiseSpec("gaussian", {"sigma": sigma}).apply(ZEROS, seed=4)
    assert np.mean(out == 0.0) == pytest.approx(0.5, abs=0.01)
    # E[max(0, N(0, s))] = s / sqrt(2 pi) (the clip at 1 is 5 sigma away)
    assert out.mean() == pytest.approx(sigma / math.sqrt(2 * math.pi), abs=0.002)


def test_gaussian_zero_sigma_is_identity(digits):
    out = NoiseSpec("gaussian", {"sigma": 0.0}).apply(digits[:50], seed=4)
    np.testing.assert_array_equal(out, digits[:50])


@pytest.mark.parametrize("amount", [0.1, 0.3, 0.8])
def test_salt_and_pepper_fractions(amount):
    out = NoiseSpec("salt-and-pepper", {"amount": amount}).apply(GREY, seed=5)
    salt, pepper = np.mean(out == 1.0), np.mean(out == 0.0)
    assert salt == pytest.approx(amount / 2, abs=0.01)
    assert pepper == pytest.approx(amount / 2, abs=0.01)
    assert np.mean(out != 0.5) == pytest.approx(amount, abs=0.01)
    # untouched pixels keep their value exactly
    assert set(np.unique(out)) <= {0.0, 0.5, 1.0}


def test_salt_and_pepper_on_mnist(digits):
    amount = 0.2
    out = NoiseSpec("salt-and-pepper", {"amount": amount}).apply(digits, seed=6)
    changed = out != digits
    kept = ~changed
    np.testing.assert_array_equal(out[kept], digits[kept])
    assert np.all((out[changed] == 0.0) | (out[changed] == 1.0))
    background = digits == 0
    # on the background only salt is visible: about amount / 2 of it turns white
    assert np.mean(out[background] == 1.0) == pytest.approx(amount / 2, abs=0.01)


def test_occlusion_only_erases(digits):
    out = NoiseSpec("occlusion", {"blocks": 3, "size": 12}).apply(digits, seed=7)
    # never adds ink, never dims partially: each pixel is either kept or set to 0
    assert np.all(out <= digits)
    assert np.all((out == digits) | (out == 0.0))
    ink_before = (digits > 0).sum(axis=(1, 2))
    ink_after = (out > 0).sum(axis=(1, 2))
    erased_some = ink_after < ink_before
    assert erased_some.mean() > 0.5, "three blocks up to 12 px on the digit area should hit most digits"


def test_occlusion_blocks_stay_within_size():
    size = 6
    out = NoiseSpec("occlusion", {"blocks": 1, "size": size}).apply(np.ones((200, 28, 28), np.float32), seed=8)
    for img in out:
        rows = np.where((img == 0).any(axis=1))[0]
        cols = np.where((img == 0).any(axis=0))[0]
        assert len(rows) >= 1, "each image gets one block"
        # one rectangle, each side ~ U(2, size): at most size (+1 for rounding of the centre) pixels
        assert rows.max() - rows.min() + 1 <= size + 1
        assert cols.max() - cols.min() + 1 <= size + 1
        # a rectangle: every pixel inside the bounding box is erased
        assert np.all(img[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] == 0)


def test_occlusion_with_no_blocks_is_identity(digits):
    out = NoiseSpec("occlusion", {"blocks": 0}).apply(digits[:20], seed=1)
    np.testing.assert_array_equal(out, digits[:20])


def test_blur_uniform_in_range_and_mean(digits):
    out = NoiseSpec.parse("blur+uniform:sigma_max=2,r_max=1.5").apply(digits, seed=9)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.allclose(out, digits)


def test_blur_uniform_on_zero_image_mean():
    r_max = 0.5
    out = NoiseSpec("blur+uniform", {"sigma_max": 1.0, "r_max": r_max}).apply(np.zeros((4000, 28, 28), np.float32), seed=10)
    # blur of 0 is 0; the noise is U(-1, 1) * r with r ~ U(0.01, r_max), clipped at 0:
    # E[max(0, U(-1,1) r)] = E[r] / 4
    expected = (0.01 + r_max) / 2 / 4
    assert out.mean() == pytest.approx(expected, abs=0.003)
    assert out.max() <= r_max + 1e-6


def test_blur_uniform_without_blur_and_tiny_noise_is_near_identity(digits):
    out = NoiseSpec("blur+uniform", {"sigma_max": 0.0, "r_max": 0.01}).apply(digits[:100], seed=11)
    assert np.abs(out - digits[:100]).max() <= 0.0101


def test_blur_spreads_ink_but_keeps_its_mass(digits):
    clean = digits[:200]
    out = NoiseSpec("blur+uniform", {"sigma_max": 2.0, "r_max": 0.01}).apply(clean, seed=12)
    # blurring (tiny noise) spreads the ink: more pixels are lit, the total stays about the same
    assert (out > 0.02).sum() > (clean > 0.02).sum()
    assert out.sum() == pytest.approx(clean.sum(), rel=0.05)


def test_none_is_identity(digits):
    out = NoiseSpec("none").apply(digits[:10], seed=1)
    np.testing.assert_array_equal(out, digits[:10])


def test_mixed_in_range_and_corrupts(digits):
    out = NoiseSpec("mixed").apply(digits, seed=13)
    assert out.shape == digits.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    changed = np.abs(out - digits).max(axis=(1, 2)) > 0
    assert changed.mean() > 0.9


# ----------------------------------------------------------------------------------------------
# the mixture: one record per component


def test_default_mixture_records():
    """The default denoiser's mixture, kind by kind (weight and parameters in one record)."""
    mix = {c.kind: (c.weight, dict(c.params)) for c in noise_mod.MIXTURE}
    assert mix == {
        "uniform": (0.3, {"level": (0.3, 1.1)}),
        "blur+uniform": (0.3, {"sigma_max": 2.0, "r_max": 1.5}),
        "gaussian": (0.15, {"sigma": (0.1, 0.6)}),
        "salt-and-pepper": (0.15, {"amount": (0.05, 0.4)}),
        "occlusion": (0.1, {"blocks": 2.0, "size": 10.0}),
    }
    assert len(mix) == len(noise_mod.MIXTURE)
    assert sum(w for w, _ in mix.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_mixed_output_does_not_depend_on_the_order_of_the_components(backend, digits, monkeypatch):
    """Reordering the records of MIXTURE gives the very same arrays for the same seed."""
    x = digits[:256]

    def run():
        if backend == "numpy":
            return NoiseSpec("mixed").apply(x, seed=17)
        return _tf_apply(NoiseSpec("mixed"), x, (17, 18))

    reference = run()
    base = noise_mod.MIXTURE
    for order in (base[::-1], base[2:] + base[:2], (base[3], base[0], base[4], base[1], base[2])):
        monkeypatch.setattr(noise_mod, "MIXTURE", order)
        np.testing.assert_array_equal(run(), reference)


@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_mixed_component_keeps_its_own_weight_and_parameters(backend, monkeypatch):
    """Salt-and-pepper (weight 0.7, amount 0.3) listed after occlusion (weight 0.3, which only
    erases): about 70% of grey images get salt and pepper at 30%, the rest only black blocks."""
    monkeypatch.setattr(noise_mod, "MIXTURE", (
        noise_mod.MixComponent("occlusion", 0.3, {"blocks": 1, "size": 6}),
        noise_mod.MixComponent("salt-and-pepper", 0.7, {"amount": 0.3}),
    ))
    grey = GREY[:300]
    out = NoiseSpec("mixed").apply(grey, seed=3) if backend == "numpy" else _tf_apply(NoiseSpec("mixed"), grey)
    salted = (out == 1.0).any(axis=(1, 2))
    assert salted.mean() == pytest.approx(0.7, abs=0.1)
    changed = (out != 0.5).mean(axis=(1, 2))
    np.testing.assert_allclose(changed[salted], 0.3, atol=0.07)  # the amount of that record
    assert set(np.unique(out[~salted])) <= {0.0, 0.5}  # the others: erased blocks only
    assert np.all(changed[~salted] <= 7 * 7 / 784 + 1e-9)


@pytest.mark.parametrize(
    "components, words",
    [
        ((noise_mod.MixComponent("uniform", 0.5), noise_mod.MixComponent("uniform", 0.5)), ["twice"]),
        ((noise_mod.MixComponent("uniform", 0.5), noise_mod.MixComponent("gaussian", 0.4)), ["sum to 1"]),
        ((), ["sum to 1"]),
    ],
)
def test_mixture_errors(components, words, monkeypatch):
    monkeypatch.setattr(noise_mod, "MIXTURE", components)
    with pytest.raises(ConfigError) as info:
        NoiseSpec("mixed").apply(ZEROS[:2], seed=0)
    assert all(w in str(info.value) for w in words)


@pytest.mark.parametrize(
    "kind, weight, params, word",
    [
        ("gaussian", 0.5, {"level": 0.3}, "level"),  # a parameter of another kind
        ("gaussian", 0.5, {"sigma": (0.1, 3.0)}, "range"),  # outside the kind's range
        ("gaussian", 0.5, {"sigma": (0.6, 0.1)}, "empty"),
        ("occlusion", 0.5, {"blocks": (1, 3)}, "one number"),  # not drawn per image
        ("mixed", 0.5, {}, "mixed"),
        ("none", 0.5, {}, "none"),
        ("uniform", 1.5, {}, "weight"),
    ],
)
def test_mix_component_validates(kind, weight, params, word):
    with pytest.raises(ConfigError) as info:
        noise_mod.MixComponent(kind, weight, params)
    assert word in str(info.value)


def test_single_image_keeps_its_shape(digits):
    for kind in KINDS:
        out = NoiseSpec(kind).apply(digits[0], seed=1)
        assert out.shape == (28, 28), kind


# ----------------------------------------------------------------------------------------------
# determinism


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "none"])
def test_same_seed_same_output_different_seed_differs(kind, digits):
    spec = NoiseSpec(kind)
    x = digits[:64]
    a, b, c = spec.apply(x, seed=5), spec.apply(x, seed=5), spec.apply(x, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "none"])
def test_tf_same_seed_same_output_different_seed_differs(kind, digits):
    spec = NoiseSpec(kind)
    x = digits[:64]
    a, b, c = _tf_apply(spec, x, (1, 2)), _tf_apply(spec, x, (1, 2)), _tf_apply(spec, x, (1, 3))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_apply_does_not_modify_its_input(digits):
    x = digits[:16].copy()
    for kind in KINDS:
        NoiseSpec(kind).apply(x, seed=1)
    np.testing.assert_array_equal(x, digits[:16])


def test_generator_seed_advances():
    rng = np.random.default_rng(0)
    spec = NoiseSpec("uniform")
    a, b = spec.apply(ZEROS[:4], rng), spec.apply(ZEROS[:4], rng)
    assert not np.array_equal(a, b)


# ----------------------------------------------------------------------------------------------
# numpy and TensorFlow agree statistically


@pytest.mark.parametrize("kind", list(KINDS))
def test_numpy_and_tf_back_ends_agree(kind, digits):
    spec = NoiseSpec(kind)
    a = spec.apply(digits, seed=21)
    b = _tf_apply(spec, digits, (21, 22))
    assert a.shape == b.shape == digits.shape
    assert b.dtype == np.float32
    assert b.min() >= 0.0 and b.max() <= 1.0
    assert b.mean() == pytest.approx(a.mean(), abs=0.012), kind
    assert b.std() == pytest.approx(a.std(), abs=0.012), kind
    # the change from the clean image has the same size in both
    da, db = np.abs(a - digits).mean(), np.abs(b - digits).mean()
    assert db == pytest.approx(da, abs=0.012), kind


@pytest.mark.parametrize(
    "text, check",
    [
        ("uniform:0.5", lambda out: out.mean() == pytest.approx(0.25, abs=0.005)),
        ("gaussian:0.1", lambda out: np.mean(out == 0) == pytest.approx(0.5, abs=0.01)),
        ("salt-and-pepper:0.3", lambda out: np.mean(out == 1) == pytest.approx(0.15, abs=0.01)),
    ],
)
def test_tf_statistics_on_zero_image(text, check):
    out = _tf_apply(NoiseSpec.parse(text), ZEROS)
    assert check(out)


def test_tf_occlusion_only_erases(digits):
    out = _tf_apply(NoiseSpec("occlusion", {"blocks": 3, "size": 12}), digits)
    assert np.all((out == digits) | (out == 0.0))
    assert np.mean((out > 0).sum(axis=(1, 2)) < (digits > 0).sum(axis=(1, 2))) > 0.5


def test_tf_works_inside_a_graph_with_unknown_batch(digits):
    tf = _tf()
    spec = NoiseSpec("mixed")

    @tf.function(input_signature=[tf.TensorSpec((None, 28, 28), tf.float32), tf.TensorSpec((2,), tf.int64)])
    def corrupt(x, seed):
        return spec.apply_tf(x, seed)

    out = corrupt(digits[:32], tf.constant([1, 2], tf.int64)).numpy()
    assert out.shape == (32, 28, 28)
    assert 0.0 <= out.min() and out.max() <= 1.0


# ----------------------------------------------------------------------------------------------
# parsing


def test_parse_positional_value():
    spec = NoiseSpec.parse("uniform:0.5")
    assert spec.kind == "uniform"
    assert spec.params == {"level": 0.5}


def test_parse_named_values():
    spec = NoiseSpec.parse("blur+uniform:sigma_max=1,r_max=0.5")
    assert spec.kind == "blur+uniform"
    assert spec.params == {"sigma_max": 1.0, "r_max": 0.5}


def test_parse_defaults_case_and_spaces():
    assert NoiseSpec.parse("gaussian").params == {"sigma": 0.5}
    assert NoiseSpec.parse("  Salt-And-Pepper : amount = 0.2 ").params == {"amount": 0.2}
    assert NoiseSpec.parse("mixed").params == {}
    assert NoiseSpec.parse("occlusion:3").params == {"blocks": 3.0, "size": 10}


@pytest.mark.parametrize("text", ["uniform:0.5", "blur+uniform:sigma_max=1,r_max=0.5", "occlusion:blocks=4,size=8", "none", "mixed"])
def test_str_and_dict_round_trip(text):
    spec = NoiseSpec.parse(text)
    assert NoiseSpec.parse(str(spec)) == spec
    assert NoiseSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    "text, words",
    [
        ("speckle", ["speckle", "uniform"]),  # unknown kind: names it and lists the choices
        ("uniform:strength=0.5", ["strength", "level"]),  # unknown parameter
        ("uniform:2.5", ["2.5", "range"]),  # above the maximum
        ("uniform:-0.1", ["range"]),  # below the minimum
        ("gaussian:nan", ["range"]),
        ("uniform:abc", ["abc", "number"]),
        ("uniform:0.5,0.7", ["uniform"]),  # too many positional values
        ("none:0.5", ["none"]),
        ("salt-and-pepper:amount=1.5", ["amount"]),
    ],
)
def test_parse_errors_are_config_errors(text, words):
    with pytest.raises(ConfigError) as info:
        NoiseSpec.parse(text)
    assert isinstance(info.value, DenoiserError)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_constructor_validates():
    with pytest.raises(ConfigError):
        NoiseSpec("poisson")
    with pytest.raises(ConfigError):
        NoiseSpec("gaussian", {"sigma": 3.0})
    with pytest.raises(ConfigError):
        NoiseSpec("gaussian", {"level": 0.1})


# ----------------------------------------------------------------------------------------------
# fresh noise each epoch in the training pipeline


def _tiny_split(n=64):
    rng = np.random.default_rng(0)
    x = (rng.random((n + 8, 28, 28)) < 0.2).astype(np.float32)
    return data_mod.Split(x[:n], np.arange(n) % 10, x[n:], np.arange(8) % 10)


def _pipeline_batches(seed, count, split, noise="uniform:0.5", batch_size=64):
    from desktop_denoiser.core.training import TrainConfig, Trainer

    tf = _tf()
    trainer = Trainer(TrainConfig(arch="dense", noise=NoiseSpec.parse(noise), seed=seed, batch_size=batch_size))
    ds = trainer._train_dataset(split, "denoiser", batch_size, tf)
    return [(noisy.numpy()[..., 0], clean.numpy()[..., 0]) for noisy, clean in ds.take(count)]


def test_training_pipeline_gives_fresh_noise_each_epoch():
    split = _tiny_split(64)
    # the batch holds the whole training set, so each batch is one epoch of the same images
    batches = _pipeline_batches(seed=0, count=2, split=split)
    (noisy1, clean1), (noisy2, clean2) = batches
    assert noisy1.shape == clean1.shape == (64, 28, 28)
    key = lambda imgs: [img.tobytes() for img in imgs]  # noqa: E731
    assert sorted(key(clean1)) == sorted(key(clean2)) == sorted(key(split.x_train))
    # pair up the same clean image in both epochs
    index2 = {k: i for i, k in enumerate(key(clean2))}
    order = [index2[k] for k in key(clean1)]
    differs = [not np.array_equal(noisy1[i], noisy2[j]) for i, j in enumerate(order)]
    assert all(differs), "an image got the same noise in two epochs"
    # and the noise is the configured one: clean + U(0,1)*0.5, clipped
    assert np.all(noisy1 >= clean1 - 1e-6)
    assert (noisy1 - clean1)[clean1 == 0].mean() == pytest.approx(0.25, abs=0.01)


def test_training_pipeline_images_within_a_batch_get_different_noise():
    split = _tiny_split(64)
    (noisy, clean), = _pipeline_batches(seed=0, count=1, split=split)
    noise = noisy - clean
    both_background = (clean[0] == 0) & (clean[1] == 0)
    assert both_background.sum() > 100
    assert not np.allclose(noise[0][both_background], noise[1][both_background])


def test_training_pipeline_is_reproducible_per_seed():
    split = _tiny_split(64)
    a = _pipeline_batches(seed=7, count=2, split=split, batch_size=32)
    b = _pipeline_batches(seed=7, count=2, split=split, batch_size=32)
    c = _pipeline_batches(seed=8, count=2, split=split, batch_size=32)
    for (na, ca), (nb, cb) in zip(a, b):
        np.testing.assert_array_equal(ca, cb)
        np.testing.assert_array_equal(na, nb)
    assert not np.array_equal(a[0][0], c[0][0])
