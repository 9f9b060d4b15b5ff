"""Sweeps (issue 14): train one model per combination of one or two settings, measure each on
the same test digits, and compare them on a chart.

A :class:`Sweep` is a base :class:`~.training.TrainConfig` and one or two :class:`AxisValues`
(a setting and the values it takes). It expands to one :class:`Point` per combination, the
first axis outermost: ``--bottleneck 16,32 --noise-level 0.3,0.6`` gives
(16, 0.3), (16, 0.6), (32, 0.3), (32, 0.6). Every point keeps the base's other settings and
seed, so the runs differ in the swept settings only.

The settings a sweep can vary (:data:`AXES`): the noise level (the first parameter of the
noise kind, as in ``--noise KIND:VALUE``: uniform's ``level``, gaussian's ``sigma``, ...), the
noise kind, the bottleneck size, the architecture, the epochs, the learning rate and the
training-set size. Everything wrong with a sweep (a third axis, an unknown setting, a value out
of range, a combination the trainer refuses) is a :class:`~.errors.ConfigError` raised when the
sweep is made, before any training.

Running a sweep is :mod:`.sweep_run` (the local queue) and :mod:`.sweep_ray` (one Ray task per
run); its record is :mod:`.sweep_record`; its chart :mod:`.sweep_chart`. (:mod:`.sweep`,
singular, is the second article's noise sweep of one digit, something else.)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Callable, Mapping, Optional, Sequence

from . import models
from .errors import ConfigError
from .noise import KINDS, NoiseSpec
from .reservation import MAX_NAME_LENGTH, check_name
from .training import TrainConfig

MAX_AXES = 2
DEFAULT_PREFIX = "sweep"
DEFAULT_EVAL_LIMIT = 1000


def _whole(text: str) -> int:
    value = float(text)
    if not value.is_integer():
        raise ValueError(text)
    return int(value)


@dataclasses.dataclass(frozen=True)
class Axis:
    """A setting a sweep can vary: its name (as in the record), what a person calls it, the
    command-line option, and how one value is read from text."""

    name: str
    label: str
    option: str
    numeric: bool
    parse: Callable[[str], Any]

    def value(self, raw: Any) -> Any:
        """One value, from text or a number, in the axis's type (ConfigError when it is not)."""
        if isinstance(raw, str):
            text = raw.strip()
            try:
                return self.parse(text) if self.numeric else text.lower() if self.name == "noise" else text
            except ValueError:
                kind = "a whole number" if self.parse is _whole else "a number"
                raise ConfigError(f"'{text}' is not {kind} ({self.label}, {self.option}).") from None
        if self.numeric:
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
                raise ConfigError(f"{raw!r} is not a number ({self.label}, {self.option}).")
            return self.parse(str(raw))
        if not isinstance(raw, str):
            raise ConfigError(f"{raw!r} is not a name ({self.label}, {self.option}).")
        return raw


AXES: dict[str, Axis] = {a.name: a for a in (
    Axis("arch", "architecture", "--arch", False, str),
    Axis("noise", "noise kind", "--noise", False, str),
    Axis("bottleneck", "bottleneck size", "--bottleneck", True, _whole),
    Axis("epochs", "epochs", "--epochs", True, _whole),
    Axis("learning_rate", "learning rate", "--lr", True, float),
    Axis("subset", "training digits", "--subset", True, _whole),
    Axis("noise_level", "noise level", "--noise-level", True, float),
)}
# the setting a chart draws along its x axis: the first of these that is swept (the other axis
# gives one line per value); a sweep of two names (arch x noise kind) puts the noise kind there
X_PRIORITY = ("noise_level", "bottleneck", "epochs", "learning_rate", "subset", "noise", "arch")


def axis(name: str) -> Axis:
    try:
        return AXES[name]
    except KeyError:
        raise ConfigError(f"A sweep cannot vary '{name}'; it varies: {', '.join(a.label for a in AXES.values())}.") from None


def level_parameter(kind: str) -> str:
    """The parameter a noise level sets for a noise kind: its first (``--noise KIND:VALUE``)."""
    params = list(KINDS.get(kind, {}))
    if not params:
        raise ConfigError(f"The noise '{kind}' has no level to sweep; pick a noise with a level, such as uniform.")
    return params[0]


def value_text(value: Any) -> str:
    """A value as it appears in model names, tables and chart ticks: 0.3, 16, dense, 0.001."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_values(name: str, text: str) -> list:
    """Comma-separated values of a setting (``"0.3,0.6,0.9"``), checked one by one."""
    a = axis(name)
    items = [t.strip() for t in str(text).split(",")]
    if not any(items) or not all(items):
        raise ConfigError(f"{a.option} needs comma-separated values, got '{text}'.")
    return [a.value(t) for t in items]


@dataclasses.dataclass(frozen=True)
class AxisValues:
    """One swept setting and its values, in the order given."""

    name: str
    values: tuple

    def __post_init__(self) -> None:
        a = axis(self.name)
        values = tuple(a.value(v) for v in self.values)
        if not values:
            raise ConfigError(f"The {a.label} ({a.option}) needs at least one value.")
        seen = [v for i, v in enumerate(values) if v in values[:i]]
        if seen:
            raise ConfigError(f"The {a.label} ({a.option}) repeats {value_text(seen[0])}; give each value once.")
        object.__setattr__(self, "values", values)

    @property
    def axis(self) -> Axis:
        return AXES[self.name]

    @property
    def label(self) -> str:
        return self.axis.label

    def texts(self) -> list[str]:
        return [value_text(v) for v in self.values]

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "AxisValues":
        return cls(str(data.get("name")), tuple(data.get("values") or ()))


@dataclasses.dataclass(frozen=True)
class Point:
    """One run of a sweep: its place, the swept values (axis name -> value, in the axes'
    order), its config and the model name it asks for."""

    index: int
    settings: dict
    config: TrainConfig
    name: str

    def describe(self) -> str:
        """The swept values for people: "bottleneck size 16, noise level 0.3"."""
        return ", ".join(f"{AXES[k].label} {value_text(v)}" for k, v in self.settings.items())


def configure(base: TrainConfig, settings: Mapping[str, Any]) -> TrainConfig:
    """The base config with the swept ``settings`` set (axis name -> value), checked."""
    simple = {"arch": "arch", "bottleneck": "bottleneck", "epochs": "epochs", "learning_rate": "learning_rate",
              "subset": "subset"}
    cfg = dataclasses.replace(base, **{simple[k]: v for k, v in settings.items() if k in simple})
    kind = settings.get("noise", base.noise.kind)
    params = dict(base.noise.params) if kind == base.noise.kind else {}
    if "noise_level" in settings:
        params[level_parameter(kind)] = settings["noise_level"]
    cfg.noise = NoiseSpec(kind, params)
    if models.get(cfg.arch).kind != "denoiser":
        raise ConfigError(f"A sweep trains denoisers; '{cfg.arch}' is not one (choose from: {', '.join(models.DENOISERS)}).")
    return cfg.validate()


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A base config and one or two swept settings; see the module docstring."""

    base: TrainConfig
    axes: tuple
    prefix: str = DEFAULT_PREFIX
    eval_limit: Optional[int] = DEFAULT_EVAL_LIMIT

    def __post_init__(self) -> None:
        axes = tuple(a if isinstance(a, AxisValues) else AxisValues(*a) for a in self.axes)
        object.__setattr__(self, "axes", axes)
        names = [a.name for a in axes]
        if len(set(names)) != len(names):
            raise ConfigError(f"A sweep names the {axes[0].label} twice.")
        if not axes:
            raise ConfigError("A sweep needs a setting with more than one value (for example --noise-level 0.3,0.6,0.9).")
        if len(axes) > MAX_AXES:
            described = ", ".join(f"{a.label} ({a.axis.option}, {len(a.values)} values)" for a in axes)
            raise ConfigError(f"A sweep varies at most {MAX_AXES} settings; {len(axes)} have more than one value: "
                              f"{described}. Give all but two of them one value.")
        if self.eval_limit is not None and (isinstance(self.eval_limit, bool) or int(self.eval_limit) < 1):
            raise ConfigError("The number of test digits (--eval-limit) must be at least 1.")
        prefix = check_name(self.prefix or DEFAULT_PREFIX)
        object.__setattr__(self, "prefix", prefix)
        points = self.points()  # every combination checked now, before any training
        longest = max(points, key=lambda p: len(p.name)).name
        if len(longest) > MAX_NAME_LENGTH:
            raise ConfigError(f"The model names would be too long ({longest}); use a shorter --name.")

    @classmethod
    def from_settings(cls, base: TrainConfig, settings: Mapping[str, Sequence], prefix: str = DEFAULT_PREFIX,
                      eval_limit: Optional[int] = DEFAULT_EVAL_LIMIT) -> "Sweep":
        """A sweep from every setting's values (axis name -> values): a setting with one value
        is set on the base, those with more become the axes, ordered so that the chart's x axis
        (:data:`X_PRIORITY`) is the inner one and each line's runs come one after another."""
        fixed, swept = {}, []
        for name, values in settings.items():
            values = list(values)
            if len(values) == 1:
                fixed[name] = axis(name).value(values[0])
            elif values:
                swept.append(AxisValues(name, tuple(values)))
        base = configure(base, fixed) if fixed else base
        swept.sort(key=lambda a: -X_PRIORITY.index(a.name))
        return cls(base, tuple(swept), prefix, eval_limit)

    # the expansion --------------------------------------------------------------------------

    def points(self) -> list[Point]:
        out = []
        for i, combo in enumerate(itertools.product(*(a.values for a in self.axes))):
            settings = {a.name: v for a, v in zip(self.axes, combo)}
            name = check_name("-".join([self.prefix, *(value_text(v) for v in combo)]))
            out.append(Point(i, settings, configure(self.base, settings), name))
        return out

    def configs(self) -> list[TrainConfig]:
        return [p.config for p in self.points()]

    @property
    def x_axis(self) -> AxisValues:
        """The axis a chart draws along x (:data:`X_PRIORITY`)."""
        return min(self.axes, key=lambda a: X_PRIORITY.index(a.name))

    @property
    def line_axis(self) -> Optional[AxisValues]:
        """The other axis (one line per value), or None for a one-axis sweep."""
        return next((a for a in self.axes if a is not self.x_axis), None)

    def noises(self) -> list[NoiseSpec]:
        """The distinct noises the runs train on (each is measured on its own), in run order."""
        found: list[NoiseSpec] = []
        for p in self.points():
            if p.config.noise not in found:
                found.append(p.config.noise)
        return found

    def describe(self) -> str:
        """For people: "9 runs: bottleneck size 16, 32, 64 × noise level 0.3, 0.6, 0.9"."""
        axes = " × ".join(f"{a.label} {', '.join(a.texts())}" for a in self.axes)
        return f"{len(self.points())} runs: {axes}"


def describe_config(cfg: TrainConfig) -> str:
    """The settings of one run in a few words: "dense, uniform:level=0.3, 1 epoch, 2000 digits"."""
    parts = [cfg.arch + (f" ({cfg.bottleneck}-d code)" if cfg.bottleneck is not None else ""), str(cfg.noise),
             f"{cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}", f"lr {cfg.lr:g}"]
    if cfg.subset is not None:
        parts.append(f"{cfg.subset:,} digits")
    return ", ".join(parts)
