"""A model's test figures as one typed record, and the one way to describe them.

A stored model keeps its figures in its metadata under ``metrics``, with the keys
``test_psnr``, ``test_accuracy_denoised``, ... (the format of the bundled models' JSON files, so
it stays). Only this module reads or writes those keys: everything else holds a
:class:`ModelFigures` and prints it with :meth:`ModelFigures.headline` (one line) or
:meth:`ModelFigures.lines` (the detail).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Optional

DENOISER = "denoiser"
CLASSIFIER = "classifier"

# numeric figures: field name -> key in the stored ``metrics``
_NUMBERS = {
    "psnr": "test_psnr",
    "psnr_noisy": "test_psnr_noisy",
    "ssim": "test_ssim",
    "ssim_noisy": "test_ssim_noisy",
    "accuracy_clean": "test_accuracy_clean",
    "accuracy_noisy": "test_accuracy_noisy",
    "accuracy_denoised": "test_accuracy_denoised",
    "accuracy": "test_accuracy",
}
_TEXTS = {"noise": "test_noise", "classifier": "classifier"}
_IMAGES = "test_images"
#: the keys of ``metrics`` that hold text; every other key holds a number
TEXT_KEYS = frozenset(_TEXTS.values())


def _number(value: Any) -> Optional[float]:
    """A finite number as float; anything else (a string, NaN, a bool, None) as None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _count(value: Any) -> Optional[int]:
    number = _number(value)
    return int(number) if number is not None and number >= 0 and number == int(number) else None


@dataclasses.dataclass(frozen=True)
class ModelFigures:
    """What a model measured on the MNIST test set (any figure may be missing: None).

    A denoiser has PSNR/SSIM of its output and of the noisy input, and, when a classifier was
    there to read them, the accuracy on clean, noisy and denoised digits; a classifier has its
    accuracy on clean digits.
    """

    kind: str = DENOISER
    images: Optional[int] = None
    noise: Optional[str] = None  # the noise it was measured on (a denoiser)
    classifier: Optional[str] = None  # the classifier that read a denoiser's output
    psnr: Optional[float] = None
    psnr_noisy: Optional[float] = None
    ssim: Optional[float] = None
    ssim_noisy: Optional[float] = None
    accuracy_clean: Optional[float] = None
    accuracy_noisy: Optional[float] = None
    accuracy_denoised: Optional[float] = None
    accuracy: Optional[float] = None  # a classifier's

    # reading and writing the stored form --------------------------------------------------------

    @classmethod
    def from_metrics(cls, kind: str, metrics: Optional[Mapping[str, Any]]) -> "ModelFigures":
        """The figures of a model's stored ``metrics`` (values of the wrong type read as missing)."""
        m = metrics if isinstance(metrics, Mapping) else {}
        texts = {f: m[k] if isinstance(m.get(k), str) else None for f, k in _TEXTS.items()}
        return cls(kind=kind, images=_count(m.get(_IMAGES)), **texts,
                   **{f: _number(m.get(k)) for f, k in _NUMBERS.items()})

    @classmethod
    def of_entry(cls, entry) -> "ModelFigures":
        """The figures recorded in a store entry's metadata."""
        return cls.from_metrics(entry.kind, (entry.meta or {}).get("metrics"))

    def to_metrics(self) -> dict:
        """The stored form: only the figures that are there."""
        out: dict = {}
        if self.images is not None:
            out[_IMAGES] = self.images
        for field, key in {**_NUMBERS, **_TEXTS}.items():
            value = getattr(self, field)
            if value is not None:
                out[key] = value
        return out

    def with_classifier(self, name: Optional[str]) -> "ModelFigures":
        return dataclasses.replace(self, classifier=name)

    # describing --------------------------------------------------------------------------------

    @property
    def measured(self) -> bool:
        return (self.accuracy if self.kind == CLASSIFIER else self.psnr) is not None

    def headline(self) -> str:
        """One line: the figure a person compares models by."""
        if not self.measured:
            return "not measured"
        if self.kind == CLASSIFIER:
            return f"test accuracy {_pct(self.accuracy)}"
        text = f"test PSNR {self.psnr:.2f} dB"
        if self.accuracy_denoised is not None:
            text += f", accuracy on denoised {_pct(self.accuracy_denoised)}"
        return text

    def short(self) -> str:
        """The headline in a few characters, for a list of models ('' when not measured)."""
        if self.kind == CLASSIFIER:
            return f"acc {_pct(self.accuracy)}" if self.accuracy is not None else ""
        parts = [f"PSNR {self.psnr:.2f} dB"] if self.psnr is not None else []
        if self.accuracy_denoised is not None:
            parts.append(f"acc {_pct(self.accuracy_denoised)}")
        return ", ".join(parts)

    def lines(self) -> list[str]:
        """Every figure there is, a few per line, each with what it compares against."""
        if not self.measured:
            return ["not measured"]
        on = f" on {self.images:,} test digits" if self.images else ""
        if self.kind == CLASSIFIER:
            return [f"test accuracy {_pct(self.accuracy)}{on}"]
        lines = [f"measured{on}" + (f", noise {self.noise}" if self.noise else "")]
        lines.append(f"PSNR {self.psnr:.2f} dB (noisy {_db(self.psnr_noisy)}), SSIM {_num(self.ssim)} (noisy {_num(self.ssim_noisy)})")
        if self.accuracy_denoised is not None:
            by = f" ({self.classifier})" if self.classifier else ""
            lines.append(f"accuracy{by}: denoised {_pct(self.accuracy_denoised)}, noisy {_pct(self.accuracy_noisy)}, "
                         f"clean {_pct(self.accuracy_clean)}")
        return lines


def _pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _db(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.2f} dB"


def _num(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.3f}"
