"""Lengths of time for people: a clock for progress bars and ETAs, a phrase for sentences."""

from __future__ import annotations

import math
from typing import Optional

UNKNOWN_CLOCK = "--:--"


def clock(seconds: Optional[float]) -> str:
    """``mm:ss``, or ``h:mm:ss`` from an hour on; ``--:--`` when unknown (None, infinite, NaN)."""
    if seconds is None or not math.isfinite(seconds):
        return UNKNOWN_CLOCK
    seconds = int(max(0, seconds))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def duration(seconds: Optional[float]) -> str:
    """``42 s``, ``3 min 05 s`` or ``1 h 02 min``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    seconds = int(round(max(0.0, float(seconds))))
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"
