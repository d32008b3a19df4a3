"""Durations as people type them (``45``, ``0.5``, ``500ms``, ``30s``, ``5m``, ``2h``, ``1d``)
and as they read them (``format_duration``)."""

from __future__ import annotations

import math
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


def format_duration(seconds: float) -> str:
    """A duration as a person reads it: ``2.02ms``, ``12ms``, ``1.002s``, ``5s``,
    ``1m15s``, ``2h05m``, ``7d``, ``1d12h``; never ``0.00202s``."""
    if not math.isfinite(seconds):
        return f"{seconds}s"
    if seconds < 0:
        return f"-{format_duration(-seconds)}"
    if seconds == 0:
        return "0s"
    if seconds < 0.9995:  # what rounds to 1000ms reads as 1s
        ms = seconds * 1000
        return f"{_trim(ms, 2)}ms" if ms < 9.995 else f"{ms:.0f}ms"
    if seconds < 59.9995:
        return f"{_trim(seconds, 3)}s"
    return _coarse(round(seconds))


def _trim(value: float, places: int) -> str:
    return f"{value:.{places}f}".rstrip("0").rstrip(".")


def _coarse(whole: int) -> str:
    """A minute or more: two units, the smaller one zero-padded."""
    minutes, seconds = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h" if hours else f"{days}d"
