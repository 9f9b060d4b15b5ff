"""Reconstructions for the classifier to train on: what it will see in the app.

The window and ``denoise --classify`` classify a denoiser's *reconstruction*, never the digit
itself, so a classifier trained on clean digits only meets a distribution it never saw: the
strokes a U-Net redraws, the blur of a reconstruction from heavy noise. :func:`build` makes one
reconstruction per training digit, before the training starts: the digit augmented
(:func:`augment.augment_digits`), corrupted with the denoiser's own training noise (for
``unet-mixed``, the mixture of every noise kind) or, for a share :data:`CLEAN_SHARE`, left clean
(the app with no noise still denoises what is drawn), and denoised. The denoisers take turns,
digit by digit. Precomputed once (about a minute for 54,000 digits on 2 cores) rather than in
the ``tf.data`` pipeline, where every epoch would pay the denoisers again.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from .errors import ConfigError, DenoiserError
from .noise import NoiseSpec

CLEAN_SHARE = 0.3  # the share of reconstructions made from a clean (augmented) digit
CHUNK = 4096  # digits augmented and denoised at a time (bounded memory)


def build(names: Sequence[str], x_train_u8: np.ndarray, seed: int, store=None,
          on_status: Optional[Callable[[str], None]] = None) -> np.ndarray:
    """One reconstruction (uint8, like ``x_train_u8``: (N, 28, 28)) of each training digit, by
    the denoisers ``names`` (names or .keras paths in ``store``, default the usual store) in turn."""
    import tensorflow as tf

    from .augment import augment_digits
    from .store import ModelStore

    store = store or ModelStore()
    loaded = []
    for name in names:
        try:
            loaded.append(store.load(name, "denoiser"))
        except DenoiserError as exc:
            raise ConfigError(f"Cannot train on the reconstructions of {name!r}: {exc}") from exc
    x = np.asarray(x_train_u8)
    pool = np.zeros_like(x, dtype=np.uint8)
    rng = np.random.default_rng(seed + 7_000_001)
    for i, model in enumerate(loaded):
        noise = NoiseSpec.from_dict(model.entry.meta.get("noise") or {"kind": "none"})
        idx = np.arange(i, len(x), len(loaded))
        if on_status:
            on_status(f"Reconstructing {len(idx):,} training digits with {model.entry.name} ({noise})…")
        for c, start in enumerate(range(0, len(idx), CHUNK)):
            part = idx[start : start + CHUNK]
            clean = augment_digits(tf.constant(x[part, ..., None], tf.float32) / 255.0,
                                   tf.constant([seed, 1000 * (i + 1) + c], tf.int64)).numpy()[..., 0]
            noisy = clean if noise.kind == "none" else noise.apply(clean, seed=int(rng.integers(2**31)))
            keep = rng.random(len(part)) < CLEAN_SHARE
            noisy = np.where(keep[:, None, None], clean, noisy).astype(np.float32)
            recon = model.model.predict(noisy[..., None], batch_size=512, verbose=0)[..., 0]
            pool[part] = np.round(np.clip(recon, 0.0, 1.0) * 255).astype(np.uint8)
    return pool


SHARE = 0.5  # the share of each training batch that is reconstructions


def mix(x, y, pool, seed, share: float = SHARE):
    """A training batch ``x`` (N, 28, 28, 1 float), ``y`` with a random ``share`` of its digits
    replaced by the reconstructions ``pool`` (a batch (uint8 images, labels) of the same size),
    shifted by up to 2 px (they were augmented before they were denoised)."""
    import tensorflow as tf

    from .augment import shift_only

    p_u8, py = pool
    p = shift_only(tf.cast(p_u8, tf.float32) / 255.0, seed)
    pick = tf.random.stateless_uniform([tf.shape(x)[0]], tf.cast(seed, tf.int64) + tf.constant([0, 17], tf.int64)) < share
    x = tf.where(tf.reshape(pick, [-1, 1, 1, 1]), p, x)
    return tf.clip_by_value(x, 0.0, 1.0), tf.where(pick, tf.cast(py, y.dtype), y)
