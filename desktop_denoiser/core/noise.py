"""Named, seeded, vectorised corruptions of digit images.

One implementation serves two back ends: numpy (one image in the UI, fixed validation sets,
the CLI) and TensorFlow (inside the ``tf.data`` training pipeline, so every epoch sees fresh
noise). Each corruption is written once here against a tiny array namespace; the namespaces
and the tuned kernels of the one hot spot, the second article's blur + noise, live in
:mod:`.noise_kernels`. There is no Python loop over images anywhere.

Images are float32 in [0, 1], light ink on dark background, shape ``(N, H, W)``.

Kinds and parameters (see :data:`KINDS`):

* ``none`` — the clean image.
* ``uniform`` — the first article: ``clip(x + U(0,1) * level, 0, 1)``.
* ``blur+uniform`` — the second article: Gaussian blur with sigma ~ U(0, sigma_max) per image,
  then uniform noise in ±r with r ~ U(0.01, r_max) per image, clipped. The blur is
  ``scipy.ndimage.gaussian_filter(image, sigma, mode="constant")`` (zero padding, kernel cut
  at 4 sigma); the noise has 16-bit resolution (65,536 evenly spaced values strictly inside ±r).
* ``gaussian`` — ``clip(x + N(0, sigma), 0, 1)``.
* ``salt-and-pepper`` — a fraction ``amount`` of pixels set to 0 or 1 (half each).
* ``occlusion`` — ``blocks`` erased rectangles per image, each side ~ U(2, size): squares
  erase blocks, long thin ones erase strokes.
* ``mixed`` — per image, one of the five above at a random level (used to train the default
  denoiser so one model serves every noise the app offers). The mixture is :data:`MIXTURE`,
  one :class:`MixComponent` record (kind, probability, parameters) per kind.

Speed (240,000 digits, blur+uniform, 2 CPU cores): the second article's per-image loop takes
about 20–30 s; numpy here about 2 s and TensorFlow well under a second (see :mod:`.noise_kernels`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence, Union

import numpy as np

from .errors import ConfigError
from .noise_kernels import XLA_ENV, NumpyOps, TFOps

__all__ = ["DESCRIPTIONS", "KINDS", "MIXTURE", "XLA_ENV", "MixComponent", "NoiseSpec"]

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


def _number(kind: str, name: str, value: Any) -> float:
    """``value`` as a float, checked against parameter ``name`` of ``kind`` in :data:`KINDS`."""
    allowed = KINDS[kind]
    if name not in allowed:
        known = ", ".join(allowed) or "none"
        raise ConfigError(f"Noise '{kind}' has no parameter '{name}' (it takes: {known}).")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"Noise parameter {name}={value!r} is not a number.") from None
    _, lo, hi = allowed[name]
    if not (lo <= value <= hi) or math.isnan(value):
        raise ConfigError(f"Noise parameter {name}={value:g} is out of range [{lo:g}, {hi:g}].")
    return value


def _defaults(kind: str) -> dict[str, Any]:
    return {name: default for name, (default, _, _) in KINDS[kind].items()}


@dataclasses.dataclass(frozen=True)
class NoiseSpec:
    """A corruption kind with its parameters, e.g. ``NoiseSpec("uniform", {"level": 0.9})``."""

    kind: str = "uniform"
    params: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"Unknown noise '{self.kind}'; choose one of: {', '.join(KINDS)}.")
        full = _defaults(self.kind)
        full.update({name: _number(self.kind, name, value) for name, value in dict(self.params).items()})
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
        out = _corrupt(NumpyOps(rng), batch, self)
        return out[0] if single else out

    def apply_tf(self, images, seed):
        """Corrupt a batch ``(N, H, W)`` tensor with stateless TF ops; ``seed`` is an int64 tensor of shape [2]."""
        import tensorflow as tf

        x = tf.convert_to_tensor(images, tf.float32)
        return _corrupt(TFOps(tf, seed), x, self)


# --------------------------------------------------------------------------------------------
# the mixture of the ``mixed`` noise

# parameters a mixture component may draw per image from a (lo, hi) range: their corruptions
# take an (N, 1, 1) array; the others (a blur radius, a block count) must be fixed numbers
PER_IMAGE = frozenset({"level", "sigma", "amount"})

Param = Union[float, tuple[float, float]]


@dataclasses.dataclass(frozen=True)
class MixComponent:
    """One component of the ``mixed`` noise: a kind, the probability an image gets it, and
    its parameters, each a number or a ``(lo, hi)`` range drawn per image (only the
    parameters in :data:`PER_IMAGE`); parameters left out take their default from :data:`KINDS`."""

    kind: str
    weight: float
    params: Mapping[str, Param] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.kind in ("none", "mixed"):
            choices = ", ".join(k for k in KINDS if k not in ("none", "mixed"))
            raise ConfigError(f"A mixture component cannot be '{self.kind}'; choose one of: {choices}.")
        weight = float(self.weight)
        if not 0.0 <= weight <= 1.0:
            raise ConfigError(f"The weight of mixture component '{self.kind}' must be in [0, 1], not {weight:g}.")
        full: dict[str, Param] = _defaults(self.kind)
        for name, value in dict(self.params).items():
            if isinstance(value, tuple):
                if name not in PER_IMAGE or len(value) != 2:
                    raise ConfigError(f"Mixture parameter {self.kind}.{name} takes one number, not a range.")
                lo, hi = (_number(self.kind, name, v) for v in value)
                if lo > hi:
                    raise ConfigError(f"Mixture parameter {self.kind}.{name}: empty range ({lo:g}, {hi:g}).")
                full[name] = (lo, hi)
            else:
                full[name] = _number(self.kind, name, value)
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "params", full)


# The mixture the default denoiser is trained on.
MIXTURE: tuple[MixComponent, ...] = (
    MixComponent("uniform", 0.3, {"level": (0.3, 1.1)}),
    MixComponent("blur+uniform", 0.3, {"sigma_max": 2.0, "r_max": 1.5}),
    MixComponent("gaussian", 0.15, {"sigma": (0.1, 0.6)}),
    MixComponent("salt-and-pepper", 0.15, {"amount": (0.05, 0.4)}),
    MixComponent("occlusion", 0.1, {"blocks": 2, "size": 10}),
)


def _canonical(components: Sequence[MixComponent]) -> list[MixComponent]:
    """The components in :data:`KINDS` order (the order their random numbers are drawn in, so
    the output for a seed does not depend on the order they are listed in), checked: each kind
    at most once, weights summing to 1."""
    kinds = [c.kind for c in components]
    if len(set(kinds)) != len(kinds):
        raise ConfigError(f"A mixture names a kind twice: {', '.join(kinds)}.")
    total = sum(c.weight for c in components)
    if not components or abs(total - 1.0) > 1e-9:
        raise ConfigError(f"The weights of a mixture must sum to 1, not {total:g}.")
    order = list(KINDS)
    return sorted(components, key=lambda c: order.index(c.kind))


# --------------------------------------------------------------------------------------------
# the corruptions, written once


def _corrupt(ops, x, spec: NoiseSpec):
    return _CORRUPTIONS[spec.kind](ops, x, spec.params)


def _shape(ops, x):
    return x.shape if ops.xp is np else ops.tf.shape(x)


def _uniform(ops, x, level):
    return ops.xp.clip(x + ops.uniform(_shape(ops, x)) * level, 0.0, 1.0)


def _gaussian(ops, x, sigma):
    return ops.xp.clip(x + ops.normal(_shape(ops, x)) * sigma, 0.0, 1.0)


def _salt_pepper(ops, x, amount):
    xp = ops.xp
    u = ops.uniform(_shape(ops, x))
    amount = ops.cast(amount)
    out = xp.where(u < amount / 2, ops.cast(1.0), x)
    return xp.where((u >= amount / 2) & (u < amount), ops.cast(0.0), out)


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


def _mixed(ops, x, components: Sequence[MixComponent]):
    """Per image, one component's corruption, picked with the components' weights.

    Every component corrupts the whole batch (its per-image ranges drawn first), in
    :data:`KINDS` order; then one uniform number per image picks a component by walking the
    cumulative weights from the top."""
    xp = ops.xp
    per_image = (ops.batch(x), 1, 1)
    parts = _canonical(components)
    candidates = []
    for part in parts:
        params = {name: ops.uniform(per_image, *v) if isinstance(v, tuple) else v for name, v in part.params.items()}
        candidates.append(_CORRUPTIONS[part.kind](ops, x, params))
    u = ops.uniform(per_image)
    cum = np.cumsum([part.weight for part in parts])
    out = candidates[-1]
    for bound, candidate in zip(cum[-2::-1], candidates[-2::-1]):
        out = xp.where(u < bound, candidate, out)
    return out


# kind -> corruption(ops, images, params); "mixed" reads MIXTURE when it runs
_CORRUPTIONS = {
    "none": lambda ops, x, p: x,
    "uniform": lambda ops, x, p: _uniform(ops, x, p["level"]),
    "blur+uniform": lambda ops, x, p: ops.blur_uniform(x, p["sigma_max"], p["r_max"]),
    "gaussian": lambda ops, x, p: _gaussian(ops, x, p["sigma"]),
    "salt-and-pepper": lambda ops, x, p: _salt_pepper(ops, x, p["amount"]),
    "occlusion": lambda ops, x, p: _occlusion(ops, x, int(p["blocks"]), p["size"]),
    "mixed": lambda ops, x, p: _mixed(ops, x, MIXTURE),
}
