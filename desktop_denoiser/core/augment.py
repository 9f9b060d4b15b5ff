"""The classifier's data augmentation: what handwriting that is not MNIST looks like.

Every function maps a batch ``(N, 28, 28, 1)`` of float digits in [0, 1] to the same shape,
statelessly (a ``seed`` of shape (2,) int64, the same seed gives the same batch), vectorised,
in plain TF ops so that it runs inside the ``tf.data`` pipeline:

* :func:`stroke_width` — thinner, same, thicker or much thicker strokes (grey erosion / dilation);
* :func:`affine` — rotation, scale, slant (a horizontal shear: the top of a vertical bar moves
  sideways) and shift, about the centre;
* :func:`elastic` — Simard et al.'s elastic distortion (a smoothed random displacement field);
* :func:`low_res` — down to a small size and back up (a 16 px scan upscaled), optionally
  binarised at the small size (a 16 or 32 px binary bitmap);
* :func:`binarise` — ink or paper, two values;
* :func:`augment_digits` — all of them at random, per image (``train --augment handwriting``);
  :func:`augment_basic` — stroke width and affine only, the default (``--augment basic``);
* :func:`flag_ones` — a share of the 1s given a European flag (``train --flag-ones SHARE``),
  before the augmentation: MNIST's 1s are nearly all bare strokes, and a 1 with a long flag
  was read as 7 (the usual error on handwriting that is not MNIST).
"""

from __future__ import annotations

import math

import numpy as np

SIZE = 28
# the low resolutions, in pixels for the whole 28 px image: the 20 px digit box becomes 8–16 px
LOW_SIZES = (11, 14, 17, 20, 22)
ELASTIC_ALPHA, ELASTIC_SIGMA = 34.0, 4.0  # Simard, Steinkraus and Platt (2003), for MNIST
ELASTIC_SHARE = 4  # one image in this many gets an elastic distortion (the costliest step)


def _uniform(seed, k, n, lo, hi):
    import tensorflow as tf

    return tf.random.stateless_uniform([n], tf.cast(seed, tf.int64) + tf.constant([0, k], tf.int64), lo, hi)


def _per_image(values):
    import tensorflow as tf

    return tf.reshape(values, [-1, 1, 1, 1])


def stroke_width(images, choice):
    """Per image, by ``choice`` (N,) in [0, 1): < 0.12 thinner, < 0.45 the same, < 0.8 thicker
    (2 × 2 dilation), else much thicker (3 × 3): canvas and pen strokes are bolder than MNIST's."""
    import tensorflow as tf

    thin = -tf.nn.max_pool2d(-images, 2, 1, "SAME")
    thick = tf.nn.max_pool2d(images, 2, 1, "SAME")
    thicker = tf.nn.max_pool2d(images, 3, 1, "SAME")
    pick = _per_image(choice)
    return tf.where(pick < 0.12, thin, tf.where(pick < 0.45, images, tf.where(pick < 0.8, thick, thicker)))


def affine(images, angle, scale, shear, tx, ty):
    """One affine per image about the centre: ``angle`` (radians), ``scale``, ``shear`` (the
    horizontal shift per pixel up: a positive shear slants a vertical bar to the right, its top
    moving right), shift ``tx``, ``ty`` (pixels); each (N,)."""
    import tensorflow as tf

    c = (SIZE - 1) / 2.0
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # output -> input: undo the rotation/scale, then the shear x_out = x_in + shear * (c - y_in)
    a0, a1 = cos + shear * sin, -sin + shear * cos
    b0, b1 = sin, cos
    a2 = c - a0 * (c + tx) - a1 * (c + ty)
    b2 = c - b0 * (c + tx) - b1 * (c + ty)
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.constant([SIZE, SIZE]), interpolation="BILINEAR",
        fill_mode="CONSTANT", fill_value=0.0,
    )


def _gaussian_kernel(sigma: float) -> np.ndarray:
    r = int(math.ceil(3 * sigma))
    t = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(t**2) / (2 * sigma**2))
    return (g / g.sum()).astype(np.float32)


def elastic(images, seed, alpha: float = ELASTIC_ALPHA, sigma: float = ELASTIC_SIGMA):
    """Simard's elastic distortion: a random displacement in [-1, 1] per pixel, smoothed with a
    Gaussian of ``sigma`` and scaled by ``alpha``, sampled bilinearly (Keras's
    ``map_coordinates``; ``keras.ops.image.elastic_transform`` takes no tensor seed, so it cannot
    run statelessly in ``tf.data``)."""
    import keras
    import tensorflow as tf

    img = images[..., 0]
    n = tf.shape(img)[0]
    d = tf.random.stateless_uniform(tf.stack([n, SIZE, SIZE, 2]), tf.cast(seed, tf.int64), -1.0, 1.0)
    g = tf.constant(_gaussian_kernel(sigma))
    k = tf.reshape(g, [-1, 1, 1, 1]) * tf.ones([1, 1, 2, 1])
    d = tf.nn.depthwise_conv2d(d, k, [1, 1, 1, 1], "SAME")
    d = tf.nn.depthwise_conv2d(d, tf.transpose(k, [1, 0, 2, 3]), [1, 1, 1, 1], "SAME") * alpha
    b = tf.cast(tf.broadcast_to(tf.reshape(tf.range(n), [-1, 1, 1]), tf.shape(img)), tf.float32)
    yy, xx = tf.meshgrid(tf.range(float(SIZE)), tf.range(float(SIZE)), indexing="ij")
    coords = tf.stack([b, yy + d[..., 0], xx + d[..., 1]])
    out = keras.ops.image.map_coordinates(img, coords, order=1, fill_mode="constant", fill_value=0.0)
    return tf.convert_to_tensor(out)[..., None]


def binarise(images, threshold):
    """1 where the ink is above ``threshold`` (a scalar or (N,)), else 0."""
    import tensorflow as tf

    t = _per_image(tf.broadcast_to(tf.cast(threshold, tf.float32), [tf.shape(images)[0]]))
    return tf.cast(images > t, tf.float32)


def low_res(images, size: int, threshold=None):
    """Down to ``size`` px (area average), binarised there when a ``threshold`` is given, and
    back up to 28 px (bilinear): what a small scan or bitmap becomes once it is brought to the
    MNIST size."""
    import tensorflow as tf

    small = tf.image.resize(images, [size, size], method="area")
    if threshold is not None:
        small = binarise(small, threshold)
    return tf.image.resize(small, [SIZE, SIZE], method="bilinear")


def augment_digits(images, seed):
    """Augment a batch (N, 28, 28, 1) for the classifier, each image at random: stroke width;
    rotation ±15°, scale 0.8–1.15, slant ±0.35, shift ±3 px; an elastic distortion (one image in
    :data:`ELASTIC_SHARE`); then one of: unchanged (45%), low resolution (20%), low resolution
    binarised there (20%), binarised (15%)."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    x = stroke_width(images, _uniform(seed, 1, n, 0.0, 1.0))
    angle = _uniform(seed, 2, n, -15.0, 15.0) * (math.pi / 180.0)
    x = affine(x, angle, _uniform(seed, 3, n, 0.8, 1.15), _uniform(seed, 6, n, -0.35, 0.35),
               _uniform(seed, 4, n, -3.0, 3.0), _uniform(seed, 5, n, -3.0, 3.0))
    x = tf.clip_by_value(x, 0.0, 1.0)
    q = n // ELASTIC_SHARE  # the batch is shuffled: its first quarter is any quarter
    x = tf.concat([elastic(x[:q], tf.cast(seed, tf.int64) + tf.constant([0, 8], tf.int64)), x[q:]], axis=0)
    # low resolution: one size per image among LOW_SIZES
    size_pick = _uniform(seed, 9, n, 0.0, float(len(LOW_SIZES)))
    threshold = _uniform(seed, 10, n, 0.25, 0.5)
    low = tf.zeros_like(x)
    low_bin = tf.zeros_like(x)
    for i, size in enumerate(LOW_SIZES):
        here = _per_image(tf.logical_and(size_pick >= i, size_pick < i + 1))
        low = tf.where(here, low_res(x, size), low)
        low_bin = tf.where(here, low_res(x, size, threshold), low_bin)
    mode = _per_image(_uniform(seed, 12, n, 0.0, 1.0))
    x = tf.where(mode < 0.45, x, tf.where(mode < 0.65, low, tf.where(mode < 0.85, low_bin, binarise(x, threshold))))
    return tf.clip_by_value(x, 0.0, 1.0)


def augment_basic(images, seed):
    """The classifier's first augmentation (the shipped ``classifier`` was trained with it):
    thinner (15%), same or thicker (40%) strokes, rotation ±15°, scale 0.85–1.15, shift ±3 px."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    thick = tf.nn.max_pool2d(images, 2, 1, "SAME")
    thin = -tf.nn.max_pool2d(-images, 2, 1, "SAME")
    pick = _per_image(_uniform(seed, 1, n, 0.0, 1.0))
    x = tf.where(pick < 0.15, thin, tf.where(pick > 0.6, thick, images))
    angle = _uniform(seed, 2, n, -15.0, 15.0) * (math.pi / 180.0)
    x = affine(x, angle, _uniform(seed, 3, n, 0.85, 1.15), tf.zeros([n]), _uniform(seed, 4, n, -3.0, 3.0), _uniform(seed, 5, n, -3.0, 3.0))
    return tf.clip_by_value(x, 0.0, 1.0)


FLAG_ANGLES = (20.0, 55.0)  # degrees below the horizontal, pointing left from the top of the stem
FLAG_LENGTHS = (0.25, 0.6)  # of the digit's height
MIN_HEIGHT = 10  # px: a 1 shorter than this is left as it is


def flag_ones(images, labels, seed, share: float):
    """Give ``share`` of the 1s in a batch (``labels`` (N,)) a European flag: a straight stroke
    from the top of the stem down to the left, 20–55° below the horizontal, a quarter to 0.6 of
    the digit's height long, as wide as the stem (the ink's area over its height) and as dark as
    its darkest ink, drawn anti-aliased. Other digits and the rest of the 1s are unchanged."""
    import tensorflow as tf

    ink = images[..., 0]
    n = tf.shape(ink)[0]
    labels = tf.reshape(labels, [-1])
    rows = tf.cast(tf.reduce_max(ink, axis=2) > 0.5, tf.int32)  # (N, 28): rows with ink
    inked = tf.reduce_any(rows > 0, axis=1)  # a faint image (no ink above 0.5) has no stem to find
    top = tf.cast(tf.argmax(rows, axis=1), tf.float32)
    bottom = float(SIZE - 1) - tf.cast(tf.argmax(tf.reverse(rows, [1]), axis=1), tf.float32)
    height = bottom - top + 1.0
    # the top of the stem: the ink's centre over its first three rows
    ys = tf.range(float(SIZE))
    band = tf.cast(tf.logical_and(ys[None, :] >= top[:, None], ys[None, :] < top[:, None] + 3.0), tf.float32)
    w = tf.reduce_sum(ink * band[:, :, None], axis=1)  # (N, 28): ink per column in the band
    x_top = tf.reduce_sum(w * ys[None, :], axis=1) / tf.maximum(tf.reduce_sum(w, axis=1), 1e-6)
    width = tf.clip_by_value(tf.reduce_sum(ink, axis=[1, 2]) / tf.maximum(height, 1.0), 1.5, 5.0)
    angle = _uniform(seed, 20, n, *FLAG_ANGLES) * (math.pi / 180.0)
    length = _uniform(seed, 21, n, *FLAG_LENGTHS) * height
    ax, ay = x_top, top + 0.5
    bx, by = ax - length * tf.cos(angle), ay + length * tf.sin(angle)
    yy, xx = tf.meshgrid(ys, ys, indexing="ij")
    px, py = xx[None] - ax[:, None, None], yy[None] - ay[:, None, None]
    dx, dy = (bx - ax)[:, None, None], (by - ay)[:, None, None]
    t = tf.clip_by_value((px * dx + py * dy) / tf.maximum(dx * dx + dy * dy, 1e-6), 0.0, 1.0)
    dist = tf.sqrt(tf.square(px - t * dx) + tf.square(py - t * dy))
    darkest = tf.reduce_max(ink, axis=[1, 2])[:, None, None]
    flag = tf.clip_by_value(width[:, None, None] / 2.0 + 0.5 - dist, 0.0, 1.0) * darkest
    pick = tf.logical_and(tf.logical_and(tf.equal(tf.cast(labels, tf.int64), 1), tf.logical_and(inked, height >= MIN_HEIGHT)),
                          _uniform(seed, 22, n, 0.0, 1.0) < share)
    return tf.where(_per_image(pick), tf.maximum(ink, flag)[..., None], images)


AUGMENTATIONS = {"basic": augment_basic, "handwriting": augment_digits}


def shift_only(images, seed, pixels: float = 2.0):
    """A shift of up to ``pixels`` each way, nothing else (for reconstructions, which are already
    augmented before they were made)."""
    import tensorflow as tf

    n = tf.shape(images)[0]
    zeros, ones = tf.zeros([n]), tf.ones([n])
    return affine(images, zeros, ones, zeros, _uniform(seed, 13, n, -pixels, pixels), _uniform(seed, 14, n, -pixels, pixels))
