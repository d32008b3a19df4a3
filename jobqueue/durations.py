"""Durations as people type them: ``45``, ``0.5``, ``500ms``, ``30s``, ``5m``, ``2h``, ``1d``."""

from __future__ import annotations

import re
from datetime import timedelta

from .errors import InvalidJob

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "": 1.0}
_DURATION_RE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|)\s*", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """Parse a duration; a bare number is seconds. InvalidJob on anything else."""
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        raise InvalidJob(f"invalid duration {text!r}: use e.g. 45, 0.5, 500ms, 30s, 5m, 2h, 1d")
    number, unit = match.groups()
    return _seconds(float(number) * _UNITS[unit.lower()], f"duration {text!r}")


def to_timedelta(value: float | timedelta | str, what: str = "duration") -> timedelta:
    """Accept seconds, a timedelta or a duration string; refuse negatives."""
    if isinstance(value, timedelta):
        delta = value
    elif isinstance(value, str):
        delta = parse_duration(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        delta = _seconds(value, f"{what} {value!r}")
    else:
        raise InvalidJob(f"{what} must be seconds or a timedelta, not {type(value).__name__}")
    if delta < timedelta(0):
        raise InvalidJob(f"{what} must not be negative: {value!r}")
    return delta


def _seconds(seconds: float, shown: str) -> timedelta:
    # timedelta raises OverflowError past ~2.7 million years and ValueError on NaN.
    try:
        return timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        raise InvalidJob(f"invalid {shown}: not a finite, reasonable length") from None
