"""The held-out handwriting sets (benchmarks/heldout*.py), the classifier's augmentations
(core/augment.py) and its reconstructions (core/reconstruction_pool.py)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from desktop_denoiser.benchmarks import heldout, heldout_pen  # noqa: E402
from desktop_denoiser.core.errors import DenoiserError  # noqa: E402

SIZES = {"pen-280": 280, "pen-canvas": 280, "grey16-x4": 64, "bin32-x3": 96, "bin16-x3": 48}
SMALL = 0.01  # 2 digits per class for the 200-per-digit sets, 1 for the canvas


def _digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.png"))}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("heldout")
    manifest = heldout.build(root, scale=SMALL, names=list(SIZES), log=lambda t: None)
    return root, manifest


def test_sets_have_the_layout_sizes_and_labels(built):
    from PIL import Image

    root, manifest = built
    for name, px in SIZES.items():
        per_digit = max(1, round(heldout.KINDS[name].per_digit * SMALL))
        for d in range(10):
            files = sorted((root / name / str(d)).glob("*.png"))
            assert len(files) == per_digit, (name, d)
            assert all(f.name.startswith(f"{name}-{d}-") for f in files)
            img = np.asarray(Image.open(files[0]))
            assert img.shape == (px, px), name
            if name.startswith("bin"):
                assert set(np.unique(img)) <= {0, 255}, name  # a binary bitmap: two values only
        assert manifest["sets"][name]["images"] == 10 * per_digit
    readme = (root / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in SIZES)


def test_the_generator_is_deterministic(built, tmp_path):
    root, _ = built
    again = tmp_path / "again"
    heldout.build(again, scale=SMALL, names=["pen-280", "bin16-x3", "grey16-x4"], log=lambda t: None)
    for name in ("pen-280", "bin16-x3", "grey16-x4"):
        assert _digest(again / name) == _digest(root / name)


def test_the_sets_are_read_as_labelled_folders(built):
    from desktop_denoiser.core.digit_folder import read_folder

    root, _ = built
    folder = read_folder(root / "bin16-x3", workers=0)
    assert len(folder) == 20 and sorted(set(folder.labels.tolist())) == list(range(10))
    assert folder.images.shape == (20, 28, 28) and folder.images.max() > 200  # a digit was found in each


def test_sets_are_never_built_inside_the_repo():
    with pytest.raises(DenoiserError, match="inside the source tree"):
        heldout.check_outside_repo(heldout.REPO / "heldout")
    assert heldout.REPO not in heldout.default_root().resolve().parents


def test_sklearn_digits_are_the_other_collection():
    imgs, labels = heldout.sklearn_digits()
    assert len(imgs) == 1797 and imgs[0].shape == (64, 64) and sorted(set(labels.tolist())) == list(range(10))


def test_pen_styles_include_the_usual_errors():
    assert {"european", "long-flag", "foot"} <= set(heldout_pen.styles(1))
    assert {"open", "open-short"} <= set(heldout_pen.styles(4))
    assert "curled" in heldout_pen.styles(9) and "crossed" in heldout_pen.styles(7)
    rng = np.random.default_rng(0)
    strokes = heldout_pen.place(heldout_pen.trajectory(1, rng, "european"), 280, rng)
    assert len(strokes) == 2  # the stem with its flag, and the foot
    img = heldout_pen.render(strokes, 280, 18)
    assert img.shape == (280, 280) and img.min() < 60 and img.max() == 255


# the augmentations ---------------------------------------------------------------------------


def _bar():
    x = np.zeros((2, 28, 28, 1), np.float32)
    x[:, 4:24, 13:15] = 1.0
    return x


def test_binarised_output_has_two_values():
    import tensorflow as tf

    from desktop_denoiser.core import augment

    x = np.random.default_rng(0).uniform(0, 1, (3, 28, 28, 1)).astype(np.float32)
    out = augment.binarise(tf.constant(x), 0.4).numpy()
    assert set(np.unique(out)) == {0.0, 1.0}
    assert np.array_equal(out, (x > 0.4).astype(np.float32))


def test_low_res_output_is_its_own_down_up_sample():
    import tensorflow as tf

    from desktop_denoiser.core import augment

    x = tf.constant(_bar())
    once = augment.low_res(x, 14).numpy()
    twice = augment.low_res(tf.constant(once), 14).numpy()
    assert np.abs(once - twice).max() < 0.15  # a 14 px image brought to 28 px holds no finer detail
    assert np.abs(once - _bar()).max() > 0.2  # and it did lose some
    binary_small = tf.image.resize(augment.low_res(x, 14, 0.5), [14, 14], method="area").numpy()
    assert np.abs(binary_small - np.round(binary_small)).max() < 0.3  # binarised at 14 px


def test_shear_moves_the_top_of_a_vertical_bar_sideways():
    import tensorflow as tf

    from desktop_denoiser.core import augment

    zeros, ones = tf.zeros([2]), tf.ones([2])
    out = augment.affine(tf.constant(_bar()), zeros, ones, tf.constant([0.3, -0.3]), zeros, zeros).numpy()[..., 0]

    def centre(row):
        return float((np.arange(28) * row).sum() / row.sum())

    assert centre(out[0, 5]) > 15 and centre(out[0, 22]) < 12  # positive slant: top right, bottom left
    assert centre(out[1, 5]) < 12 and centre(out[1, 22]) > 15
    assert abs(centre(out[0, 14]) - 13.5) < 1  # about the centre


def test_stroke_width_and_elastic_and_the_whole_augmentation():
    import tensorflow as tf

    from desktop_denoiser.core import augment

    x = tf.constant(_bar())
    widths = augment.stroke_width(x, tf.constant([0.05, 0.9])).numpy()
    assert widths[0].sum() < _bar()[0].sum() < widths[1].sum()  # thinner, much thicker
    seed = tf.constant([3, 4], tf.int64)
    e = augment.elastic(x, seed).numpy()
    assert e.shape == x.shape and np.abs(e - _bar()).max() > 0.1 and abs(e.sum() / _bar().sum() - 1) < 0.3
    batch = np.repeat(_bar(), 8, axis=0)
    a = augment.augment_digits(tf.constant(batch), seed).numpy()
    assert a.shape == batch.shape and a.min() >= 0 and a.max() <= 1
    assert np.array_equal(a, augment.augment_digits(tf.constant(batch), seed).numpy())  # stateless
    assert len({hashlib.sha1(img.tobytes()).hexdigest() for img in a}) == len(a)  # each image its own draw


def test_flag_ones_draws_a_flag_down_left_from_the_top_of_a_1_only():
    import tensorflow as tf

    from desktop_denoiser.core import augment

    x = tf.constant(_bar())  # a bar from row 4 to 23, columns 13-14
    seed = tf.constant([5, 6], tf.int64)
    out = augment.flag_ones(x, tf.constant([1, 7]), seed, 1.0).numpy()[..., 0]
    assert np.array_equal(out[1], _bar()[1, ..., 0])  # a 7 is left alone
    added = out[0] - _bar()[0, ..., 0]
    assert added.min() >= 0 and added.sum() > 4  # ink only added, a stroke's worth
    ys, xs = np.nonzero(added > 0.5)
    assert xs.max() <= 13 and xs.min() < 11  # to the left of the stem
    assert ys.min() >= 4 and ys.max() > 6 and ys.max() < 4 + 0.6 * 20 + 2  # from its top, down, not too long
    assert np.array_equal(out, augment.flag_ones(x, tf.constant([1, 7]), seed, 1.0).numpy()[..., 0])  # stateless
    assert np.array_equal(augment.flag_ones(x, tf.constant([1, 1]), seed, 0.0).numpy(), _bar())  # share 0: none
    faint = _bar() * 0.4  # no ink above 0.5: no stem found, no flag (not one in the top-left corner)
    assert np.array_equal(augment.flag_ones(tf.constant(faint), tf.constant([[1], [1]]), seed, 1.0).numpy(), faint)
    many = tf.constant(np.repeat(_bar(), 100, axis=0))
    flagged = np.abs(augment.flag_ones(many, tf.ones([200], tf.int64), seed, 0.3).numpy() - many.numpy()).max(axis=(1, 2, 3)) > 0
    assert 40 < flagged.sum() < 80  # about the share asked


def test_flag_ones_is_checked():
    from desktop_denoiser.core.training import TrainConfig

    with pytest.raises(DenoiserError, match="flagged 1s must be"):
        TrainConfig(arch="classifier", flag_ones=1.5).validate()
    with pytest.raises(DenoiserError, match="Only the classifier"):
        TrainConfig(arch="unet", flag_ones=0.5).validate()
    assert TrainConfig(arch="classifier", flag_ones=0.5).validate().to_dict()["flag_ones"] == 0.5


def test_reconstructions_replace_a_share_of_the_batch_with_their_labels():
    import tensorflow as tf

    from desktop_denoiser.core import reconstruction_pool

    x = tf.zeros([64, 28, 28, 1])
    y = tf.zeros([64], tf.int64)
    pool = (tf.fill([64, 28, 28, 1], tf.constant(255, tf.uint8)), tf.fill([64], tf.constant(7, tf.int64)))
    mx, my = reconstruction_pool.mix(x, y, pool, tf.constant([1, 2], tf.int64))
    replaced = my.numpy() == 7
    assert 10 < replaced.sum() < 54
    assert np.all(mx.numpy()[replaced].max(axis=(1, 2, 3)) == 1.0) and np.all(mx.numpy()[~replaced] == 0)


def test_reconstruction_pool_uses_the_bundled_denoiser(mnist):
    from desktop_denoiser.core import reconstruction_pool

    x = mnist.x_train[:6]
    pool = reconstruction_pool.build(["unet-mixed"], x, seed=0)
    again = reconstruction_pool.build(["unet-mixed"], x, seed=0)
    assert pool.shape == x.shape and pool.dtype == np.uint8 and np.array_equal(pool, again)
    assert not np.array_equal(pool, x) and pool.max() > 200


def test_the_bundled_classifier_never_trains_on_held_out_folders():
    script = (heldout.REPO / "scripts" / "train_bundled.sh").read_text()
    lines = [ln for ln in script.splitlines() if "--arch classifier" in ln and not ln.lstrip().startswith("#")]
    assert lines and all("--data" not in ln for ln in lines)
    from desktop_denoiser.core.training import TrainConfig

    with pytest.raises(DenoiserError):  # only a classifier trains on reconstructions
        TrainConfig(arch="unet", reconstructions=("unet-mixed",)).validate()
    with pytest.raises(DenoiserError, match="augmentation"):
        TrainConfig(arch="classifier", augment="nope").validate()
    assert TrainConfig(arch="classifier").validate().augment == "basic"  # the shipped classifier's
