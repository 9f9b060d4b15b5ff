"""The array back ends of :mod:`desktop_denoiser.core.noise` and their fast kernels.

:mod:`.noise` writes every corruption once against a tiny array namespace; this module holds
the two namespaces (:class:`NumpyOps`, :class:`TFOps`) and the tuned paths of the one hot spot,
the second article's blur + noise (``blur_uniform``):

* the blur's kernel maths, shared by both back ends: per-image Gaussian taps, cut like
  ``scipy.ndimage.gaussian_filter`` at 4 sigma with zero padding (``mode="constant"``), turned
  into one banded symmetric Toeplitz matrix ``B`` per image so the blur is ``B @ image @ B``;
* 16-bit noise (65,536 evenly spaced values strictly inside ±r);
* numpy: chunks of :data:`NUMPY_CHUNK` images that stay in cache, noise from ``Generator.integers``;
* TensorFlow: the Toeplitz matrices from one small matmul, the blur as two batched matmuls
  (oneDNN), and the noise drawn *and* added and clipped in one XLA-fused kernel (a SplitMix64
  counter hash keyed by TF's Philox). Without XLA (or with ``DESKTOP_DENOISER_NOISE_XLA=0``)
  the same 16-bit noise comes from TF's Philox.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import numpy as np

from .errors import ConfigError

TRUNCATE = 4.0  # the blur kernel is cut at 4 sigma, like scipy.ndimage.gaussian_filter
NUMPY_CHUNK = 2048  # images per numpy chunk of the blur+uniform path (fits in L2/L3 cache)
XLA_ENV = "DESKTOP_DENOISER_NOISE_XLA"  # "0" turns the XLA-fused noise kernel off

# --------------------------------------------------------------------------------------------
# the blur's kernel maths, shared by both back ends


def _radius(sigma_max: float) -> int:
    """The widest kernel radius a sigma up to ``sigma_max`` needs (scipy: int(4 sigma + 0.5))."""
    return int(TRUNCATE * float(sigma_max) + 0.5)


def _half_kernel(ops, sigma, radius: int):
    """Normalised Gaussian taps g[n, d] for offsets d = 0..radius (the kernel is g[|d|]).

    ``sigma`` has shape (N, 1). Taps beyond scipy's per-image radius int(4 sigma + 0.5) are
    zero, so the blur equals ``gaussian_filter(mode="constant")``; sigma -> 0 is the identity.
    """
    xp = ops.xp
    d = ops.cast(xp.arange(radius + 1))[None, :]
    s = xp.maximum(sigma, ops.cast(1e-3))
    g = xp.exp(-(d * d) / (2.0 * s * s))
    g = xp.where(d <= xp.floor(TRUNCATE * sigma + 0.5), g, ops.cast(0.0))
    return g / (2.0 * xp.sum(g, axis=-1, keepdims=True) - g[:, :1])


@functools.lru_cache(maxsize=16)
def _offsets(size: int, radius: int) -> np.ndarray:
    """(size * size,) tap index |i - j| of entry (i, j), or radius + 1 (a zero tap) beyond the band."""
    offset = np.abs(np.arange(size)[:, None] - np.arange(size)[None, :]).ravel()
    offset = np.minimum(offset, radius + 1)
    offset.setflags(write=False)
    return offset


@functools.lru_cache(maxsize=16)
def _toeplitz_basis(size: int, radius: int) -> np.ndarray:
    """(radius + 1, size * size) 0/1 matrix P with (g @ P)[i * size + j] = g[|i - j|] (0 off the band)."""
    basis = (np.arange(radius + 1)[:, None] == _offsets(size, radius)[None, :]).astype(np.float32)
    basis.setflags(write=False)
    return basis


def _blur_matrices(ops, g, h: int, w: int):
    """Per-image symmetric Toeplitz blur matrices (N, h, h) and (N, w, w) from taps (N, R + 1)."""
    bh = ops.toeplitz(g, h)
    return bh, (bh if w == h else ops.toeplitz(g, w))


# 16-bit noise: u uniform on {0, ..., 65535}, noise = (u - 32767.5) / 32768 * r, strictly in ±r
_HALF = 32767.5
_SCALE = 1.0 / 32768.0


# --------------------------------------------------------------------------------------------
# the two back ends


class NumpyOps:
    """The numpy back end: draws from one ``np.random.Generator``, in call order."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.xp = np

    def uniform(self, shape, lo=0.0, hi=1.0):
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)

    def normal(self, shape):
        return self.rng.standard_normal(shape, dtype=np.float32)

    @staticmethod
    def batch(x) -> int:
        return x.shape[0]

    @staticmethod
    def cast(x):
        return np.asarray(x, dtype=np.float32)

    @staticmethod
    def toeplitz(g, size):
        radius = g.shape[-1] - 1
        padded = np.concatenate([g, np.zeros((len(g), 1), g.dtype)], axis=1)
        return padded[:, _offsets(size, radius)].reshape(-1, size, size)

    def blur_uniform(self, x, sigma_max, r_max):
        """clip(blur(x, sigma) + noise(r)) with sigma ~ U(0, sigma_max), r ~ U(0.01, r_max) per
        image, in chunks of images that stay in cache."""
        n, h, w = x.shape
        sigma = sigma_max * self.uniform((n, 1))
        r = self.uniform((n, 1, 1), 0.01, max(r_max, 0.01))
        g = _half_kernel(self, sigma, _radius(sigma_max)).astype(np.float32)
        scale = (r * _SCALE).astype(np.float32)
        out = np.empty((n, h, w), np.float32)
        for start in range(0, n, NUMPY_CHUNK):  # a loop over chunks, each vectorised
            part = slice(start, start + NUMPY_CHUNK)
            bh, bw = _blur_matrices(self, g[part], h, w)
            o = out[part]
            np.matmul(np.matmul(bh, x[part]), bw, out=o)  # bw is symmetric: no transpose
            noise = np.subtract(self.rng.integers(0, 65536, size=o.shape, dtype=np.uint16), np.float32(_HALF), dtype=np.float32)
            noise *= scale[part]
            o += noise
            np.clip(o, 0.0, 1.0, out=o)
        return out


class TFOps:
    """The TensorFlow back end: stateless ops, call ``k`` seeded with ``seed + [0, 7919 k]``."""

    def __init__(self, tf, seed):
        import tensorflow.experimental.numpy as tnp

        self.tf = tf
        self.xp = tnp
        self.seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
        self.calls = 0

    def _next_seed(self):
        self.calls += 1
        return self.seed + self.tf.constant([0, 7919 * self.calls], self.tf.int64)

    def uniform(self, shape, lo=0.0, hi=1.0):
        return self.tf.random.stateless_uniform(shape, self._next_seed(), lo, hi, dtype=self.tf.float32)

    def normal(self, shape):
        return self.tf.random.stateless_normal(shape, self._next_seed(), dtype=self.tf.float32)

    def batch(self, x):
        n = x.shape[0]
        return n if n is not None else self.tf.shape(x)[0]

    def cast(self, x):
        return self.tf.cast(x, self.tf.float32)

    def toeplitz(self, g, size):
        basis = _toeplitz_basis(size, int(g.shape[-1]) - 1)
        return self.tf.reshape(self.tf.matmul(g, basis), [-1, size, size])

    def random_bits(self, shape):
        """Full-range int32 values from TF's Philox."""
        return self.tf.random.stateless_uniform(shape, self._next_seed(), minval=None, maxval=None, dtype=self.tf.int32)

    def blur_uniform(self, x, sigma_max, r_max):
        tf = self.tf
        h, w = x.shape[1], x.shape[2]
        if h is None or w is None:
            raise ConfigError("The blur needs images of a known height and width.")
        radius = _radius(sigma_max)
        kernels = _xla_kernels(h, w, radius)
        if kernels is not None:
            # XLA: draw sigma, r and build the matrices; oneDNN: the two batched matmuls;
            # XLA: draw the noise, add it and clip, in one pass
            prepare, add_noise = kernels
            out = prepare(x, self._next_seed(), tf.constant(sigma_max, tf.float32), tf.constant(r_max, tf.float32))
            bh, bw, r, key = (out[0], out[0], out[1], out[2]) if w == h else out
            return add_noise(tf.matmul(tf.matmul(bh, x), bw), r, key)  # bw is symmetric: no transpose
        n = tf.shape(x)[0]
        sigma = sigma_max * self.uniform(tf.stack([n, 1]))
        r = self.uniform(tf.stack([n, 1, 1]), 0.01, max(r_max, 0.01))
        bh, bw = _blur_matrices(self, _half_kernel(self, sigma, radius), h, w)
        blurred = tf.matmul(tf.matmul(bh, x), bw)
        # two 16-bit values per 32-bit Philox draw (the same 65,536 levels as the other paths)
        half = (h * w + 1) // 2
        u = tf.reshape(tf.bitcast(self.random_bits(tf.stack([n, half])), tf.int16), [n, 2 * half])[:, : h * w]
        noise = (tf.cast(tf.reshape(u, [n, h, w]), tf.float32) + 0.5) * (r * _SCALE)  # int16 k + 0.5 = u - 32767.5
        return tf.clip_by_value(blurred + noise, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# the XLA kernels of the TF blur+uniform path
#
# Random numbers come from SplitMix64 used as a counter-based generator: value i of a stream is
# mix64(key + (i + 1) * gamma), a bijective 64-bit hash of a Weyl sequence (it passes BigCrush).
# The key of each call is hashed from the call's TF seed. Under XLA the hash, the scaling, the
# addition and the clip fuse into one vectorised loop; TF's own Philox kernel is scalar and
# was the single largest cost of the pipeline.

_xla_lock = threading.Lock()
_xla_cache: dict[Any, Any] = {}

_GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's Weyl increment
_PARAM_KEY = 0xA0761D6478BD642F  # separates the per-image parameter stream from the noise stream


def _xla_functions(tf, h: int, w: int, radius: int):
    u64 = tf.uint64

    def c(v):
        return tf.constant(v, u64)

    def mix(z):  # SplitMix64's output function (Stafford's Mix13)
        xor, shr = tf.bitwise.bitwise_xor, tf.bitwise.right_shift
        z = xor(z, shr(z, c(30))) * c(0xBF58476D1CE4E5B9)
        z = xor(z, shr(z, c(27))) * c(0x94D049BB133111EB)
        return xor(z, shr(z, c(31)))

    def unit(bits24):  # 24 random bits -> float32 in [0, 1)
        return tf.cast(bits24, tf.float32) * (1.0 / (1 << 24))

    def prepare(x, seed, sigma_max, r_max):
        """Per image sigma ~ U(0, sigma_max) and r ~ U(0.01, r_max); the blur matrices; the noise key."""
        words = tf.bitcast(tf.cast(seed, tf.int64), u64)
        key = mix(tf.bitwise.bitwise_xor(words[0], mix(words[1] + c(_GAMMA))))
        n = tf.shape(x)[0]
        index = tf.cast(tf.range(tf.cast(n, tf.int64)), u64)
        z = mix(tf.bitwise.bitwise_xor(key, c(_PARAM_KEY)) + (index + c(1)) * c(_GAMMA))
        sigma = sigma_max * unit(tf.bitwise.right_shift(z, c(40)))
        r = 0.01 + (tf.maximum(r_max, 0.01) - 0.01) * unit(tf.bitwise.bitwise_and(tf.bitwise.right_shift(z, c(16)), c(0xFFFFFF)))
        ops = TFOps(tf, seed)
        g = _half_kernel(ops, tf.reshape(sigma, [-1, 1]), radius)
        bh = ops.toeplitz(g, h)
        bw = bh if w == h else ops.toeplitz(g, w)  # one matrix for square images: written once
        return (bh, tf.reshape(r, [-1, 1, 1]), key) if w == h else (bh, bw, tf.reshape(r, [-1, 1, 1]), key)

    def add_noise(blurred, r, key):
        """clip(blurred + (u - 32767.5) / 32768 * r, 0, 1), u the four 16-bit fields of each
        64-bit value of the stream, in pixel order."""
        shape = tf.shape(blurred)
        n, size = shape[0], shape[1] * shape[2]
        count = (size + 3) // 4
        index = tf.cast(tf.reshape(tf.range(tf.cast(n * count, tf.int64)), tf.stack([n, count, 1])), u64)
        z = mix(key + (index + c(1)) * c(_GAMMA))
        fields = tf.bitwise.bitwise_and(tf.bitwise.right_shift(z, tf.constant([[[0, 16, 32, 48]]], u64)), c(0xFFFF))
        u = tf.reshape(tf.cast(fields, tf.float32), tf.stack([n, 4 * count]))[:, :size]
        noise = (tf.reshape(u, shape) - _HALF) * (r * _SCALE)
        return tf.raw_ops.ClipByValue(t=blurred + noise, clip_value_min=tf.constant(0.0), clip_value_max=tf.constant(1.0))

    compile_ = functools.partial(tf.function, jit_compile=True, autograph=False, reduce_retracing=True)
    prepare_fn = compile_(prepare, input_signature=[
        tf.TensorSpec([None, h, w], tf.float32), tf.TensorSpec([2], tf.int64),
        tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.float32),
    ])
    noise_fn = compile_(add_noise, input_signature=[
        tf.TensorSpec([None, h, w], tf.float32), tf.TensorSpec([None, 1, 1], tf.float32), tf.TensorSpec([], u64),
    ])
    return prepare_fn, noise_fn


def _xla_kernels(h: int, w: int, radius: int):
    """The compiled (prepare, add_noise) pair for this image size and blur radius, or None when
    XLA is turned off or does not work here (checked once, on a tiny batch)."""
    if os.environ.get(XLA_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    with _xla_lock:
        if _xla_cache.get("usable") is False:
            return None
        if (h, w, radius) in _xla_cache:
            return _xla_cache[(h, w, radius)]
        import tensorflow as tf

        kernels = _xla_functions(tf, h, w, radius)
        if "usable" not in _xla_cache:
            _xla_cache["usable"] = _probe(tf)
            if not _xla_cache["usable"]:
                return None
        _xla_cache[(h, w, radius)] = kernels
        return kernels


def _probe(tf) -> bool:
    """Run the kernels once on a tiny batch (eagerly, even when called while tracing a graph)."""
    try:
        prepare, add_noise = _xla_functions(tf, 3, 5, 1)
        with tf.init_scope():
            if not tf.executing_eagerly():
                return False
            x = tf.zeros([2, 3, 5])  # not square: the probe also runs the two-matrix variant
            bh, bw, r, key = prepare(x, tf.constant([1, 2], tf.int64), tf.constant(1.0), tf.constant(0.5))
            out = add_noise(tf.matmul(tf.matmul(bh, x), bw), r, key).numpy()
            return out.shape == (2, 3, 5) and bool(np.all((out >= 0) & (out <= 0.5))) and out.max() > 0
    except Exception:  # noqa: BLE001 - no XLA here: the plain TF path does the same job
        return False
