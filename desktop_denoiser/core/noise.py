"""Named, seeded, vectorised corruptions of digit images.

One implementation serves two back ends: numpy (one image in the UI, fixed validation sets,
the CLI) and TensorFlow (inside the ``tf.data`` training pipeline, so every epoch sees fresh
noise). Each corruption is written once against a tiny array namespace (``_Ops``); there is no
Python loop over images anywhere.

Images are float32 in [0, 1], light ink on dark background, shape ``(N, H, W)``.

Kinds and parameters (see :data:`KINDS`):

* ``none`` — the clean image.
* ``uniform`` — the first article: ``clip(x + U(0,1) * level, 0, 1)``.
* ``blur+uniform`` — the second article: Gaussian blur with sigma ~ U(0, sigma_max) per image,
  then uniform noise in ±r with r ~ U(0.01, r_max) per image, clipped.
* ``gaussian`` — ``clip(x + N(0, sigma), 0, 1)``.
* ``salt-and-pepper`` — a fraction ``amount`` of pixels set to 0 or 1 (half each).
* ``occlusion`` — ``blocks`` erased rectangles per image, each side ~ U(2, size): squares
  erase blocks, long thin ones erase strokes.
* ``mixed`` — per image, one of the five above at a random level (used to train the default
  denoiser so one model serves every noise the app offers).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from .errors import ConfigError

# kind -> {parameter: (default, minimum, maximum)}
KINDS: dict[str, dict[str, tuple[float, float, float]]] = {
    "none": {},
    "uniform": {"level": (0.9, 0.0, 2.0)},
    "blur+uniform": {"sigma_max": (2.0, 0.0, 5.0), "r_max": (1.5, 0.01, 3.0)},
    "gaussian": {"sigma": (0.5, 0.0, 2.0)},
    "salt-and-pepper": {"amount": (0.3, 0.0, 1.0)},
    "occlusion": {"blocks": (2, 0, 10), "size": (10, 2, 28)},
    "mixed": {},
}

DESCRIPTIONS = {
    "none": "no corruption",
    "uniform": "clip(x + U(0,1)·level) — the first article",
    "blur+uniform": "blur σ~U(0,σmax), then ±r noise, r~U(0.01,rmax) — the second article",
    "gaussian": "clip(x + N(0,σ))",
    "salt-and-pepper": "a fraction of pixels set to black or white",
    "occlusion": "erased blocks and strokes",
    "mixed": "a random one of the above per image, at a random level",
}

# The mixture the default denoiser is trained on: (kind, probability).
_MIX = (("uniform", 0.3), ("blur+uniform", 0.3), ("gaussian", 0.15), ("salt-and-pepper", 0.15), ("occlusion", 0.1))


@dataclasses.dataclass(frozen=True)
class NoiseSpec:
    """A corruption kind with its parameters, e.g. ``NoiseSpec("uniform", {"level": 0.9})``."""

    kind: str = "uniform"
    params: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"Unknown noise '{self.kind}'; choose one of: {', '.join(KINDS)}.")
        allowed = KINDS[self.kind]
        full = {name: default for name, (default, _, _) in allowed.items()}
        for name, value in dict(self.params).items():
            if name not in allowed:
                known = ", ".join(allowed) or "none"
                raise ConfigError(f"Noise '{self.kind}' has no parameter '{name}' (it takes: {known}).")
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"Noise parameter {name}={value!r} is not a number.") from None
            _, lo, hi = allowed[name]
            if not (lo <= value <= hi) or math.isnan(value):
                raise ConfigError(f"Noise parameter {name}={value:g} is out of range [{lo:g}, {hi:g}].")
            full[name] = value
        object.__setattr__(self, "params", full)

    @classmethod
    def parse(cls, text: str) -> "NoiseSpec":
        """Parse ``kind``, ``kind:value`` (first parameter) or ``kind:name=value,name=value``."""
        kind, _, rest = text.strip().partition(":")
        kind = kind.strip().lower()
        if kind not in KINDS:
            raise ConfigError(f"Unknown noise '{kind}'; choose one of: {', '.join(KINDS)}.")
        params: dict[str, Any] = {}
        names = list(KINDS[kind])
        for i, item in enumerate(filter(None, (p.strip() for p in rest.split(",")))):
            if "=" in item:
                name, _, value = item.partition("=")
                params[name.strip()] = value.strip()
            elif i < len(names):
                params[names[i]] = item
            else:
                raise ConfigError(f"Noise '{kind}' takes {len(names)} parameter(s); got '{text}'.")
        return cls(kind, params)

    def __str__(self) -> str:
        if not self.params:
            return self.kind
        return self.kind + ":" + ",".join(f"{k}={v:g}" for k, v in self.params.items())

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "NoiseSpec":
        return cls(str(data.get("kind", "none")), dict(data.get("params", {})))

    def apply(self, images: np.ndarray, seed: int | np.random.Generator | None = 0) -> np.ndarray:
        """Corrupt ``images`` ((H, W) or (N, H, W), float in [0, 1]) with numpy; deterministic per seed."""
        x = np.asarray(images, dtype=np.float32)
        single = x.ndim == 2
        batch = x[None] if single else x
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        out = _corrupt(_NumpyOps(rng), batch, self)
        return out[0] if single else out

    def apply_tf(self, images, seed):
        """Corrupt a batch ``(N, H, W)`` tensor with stateless TF ops; ``seed`` is an int64 tensor of shape [2]."""
        import tensorflow as tf

        x = tf.convert_to_tensor(images, tf.float32)
        return _corrupt(_TFOps(tf, seed), x, self)


# --------------------------------------------------------------------------------------------
# the two back ends


class _NumpyOps:
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
    def take(g, index):
        return g[:, index]


class _TFOps:
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

    def take(self, g, index):
        return self.tf.gather(g, index, axis=1)


# --------------------------------------------------------------------------------------------
# the corruptions, written once


def _corrupt(ops, x, spec: NoiseSpec):
    p = spec.params
    if spec.kind == "none":
        return x
    if spec.kind == "mixed":
        return _mixed(ops, x)
    n = ops.batch(x)
    per_image = (n, 1, 1)
    if spec.kind == "uniform":
        return _uniform(ops, x, p["level"])
    if spec.kind == "blur+uniform":
        return _blur_uniform(ops, x, p["sigma_max"] * ops.uniform(per_image), ops.uniform(per_image, 0.01, max(p["r_max"], 0.01)))
    if spec.kind == "gaussian":
        return _gaussian(ops, x, p["sigma"])
    if spec.kind == "salt-and-pepper":
        return _salt_pepper(ops, x, p["amount"])
    if spec.kind == "occlusion":
        return _occlusion(ops, x, int(p["blocks"]), p["size"])
    raise ConfigError(f"Unknown noise '{spec.kind}'.")  # pragma: no cover - guarded by NoiseSpec


def _uniform(ops, x, level):
    return ops.xp.clip(x + ops.uniform(x.shape if ops.xp is np else ops.tf.shape(x)) * level, 0.0, 1.0)


def _gaussian(ops, x, sigma):
    shape = x.shape if ops.xp is np else ops.tf.shape(x)
    return ops.xp.clip(x + ops.normal(shape) * sigma, 0.0, 1.0)


def _salt_pepper(ops, x, amount):
    xp = ops.xp
    shape = x.shape if xp is np else ops.tf.shape(x)
    u = ops.uniform(shape)
    amount = ops.cast(amount)
    out = xp.where(u < amount / 2, ops.cast(1.0), x)
    return xp.where((u >= amount / 2) & (u < amount), ops.cast(0.0), out)


def _blur_matrix(ops, sigma, size):
    """Per-image 1-D Gaussian blur as a (N, size, size) matrix; sigma has shape (N, 1, 1).

    Zero padding outside the image (a full-kernel convolution), built by gathering one
    kernel per image into a Toeplitz matrix, so the cost is one ``exp`` per tap, not per entry.
    """
    xp = ops.xp
    taps = ops.cast(xp.arange(-size + 1, size))[None, None, :]
    s = xp.maximum(sigma, 1e-3)
    g = xp.exp(-(taps * taps) / (2.0 * s * s))
    g = (g / xp.sum(g, axis=-1, keepdims=True))[:, 0, :]
    index = np.arange(size)[:, None] - np.arange(size)[None, :] + size - 1
    return ops.take(g, index)


def _blur(ops, x, sigma):
    h, w = x.shape[1], x.shape[2]
    bh, bw = _blur_matrix(ops, sigma, h), _blur_matrix(ops, sigma, w)
    xp = ops.xp
    return xp.matmul(xp.matmul(bh, x), xp.transpose(bw, (0, 2, 1)))


def _blur_uniform(ops, x, sigma, r):
    blurred = _blur(ops, x, sigma)
    shape = x.shape if ops.xp is np else ops.tf.shape(x)
    return ops.xp.clip(blurred + ops.uniform(shape, -1.0, 1.0) * r, 0.0, 1.0)


def _occlusion(ops, x, blocks, size):
    xp = ops.xp
    n = ops.batch(x)
    h, w = x.shape[1], x.shape[2]
    rows = ops.cast(xp.arange(h))[None, None, :, None]
    cols = ops.cast(xp.arange(w))[None, None, None, :]
    hs = ops.uniform((n, blocks, 1, 1), 2.0, size + 1.0)
    ws = ops.uniform((n, blocks, 1, 1), 2.0, size + 1.0)
    # block centres fall on the digit's usual area (the central 20x20)
    cy = ops.uniform((n, blocks, 1, 1), 4.0, h - 4.0)
    cx = ops.uniform((n, blocks, 1, 1), 4.0, w - 4.0)
    inside = (xp.abs(rows - cy) < hs / 2) & (xp.abs(cols - cx) < ws / 2)
    erased = xp.any(inside, axis=1)
    return xp.where(erased, ops.cast(0.0), x)


def _mixed(ops, x):
    xp = ops.xp
    n = ops.batch(x)
    per_image = (n, 1, 1)
    candidates = [
        _uniform(ops, x, ops.uniform(per_image, 0.3, 1.1)),
        _blur_uniform(ops, x, 2.0 * ops.uniform(per_image), ops.uniform(per_image, 0.01, 1.5)),
        _gaussian(ops, x, ops.uniform(per_image, 0.1, 0.6)),
        _salt_pepper(ops, x, ops.uniform(per_image, 0.05, 0.4)),
        _occlusion(ops, x, 2, 10.0),
    ]
    # pick one candidate per image by walking the cumulative distribution from the top
    u = ops.uniform(per_image)
    cum = np.cumsum([prob for _, prob in _MIX])
    out = candidates[-1]
    for bound, candidate in zip(cum[-2::-1], candidates[-2::-1]):
        out = xp.where(u < bound, candidate, out)
    return out
