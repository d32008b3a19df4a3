"""How the dashboard writes times, durations, counts and JSON: pure functions, used as
Jinja filters (see ``templating``), so every page says "3m10s ago" the same way
(durations as ``jobqueue.durations.format_duration`` writes them, like the CLI).

Times arrive as the ISO 8601 text of a job document (or as datetimes); "now" is always
passed in, taken from the queue's clock, so tests with a fake clock read the same.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..durations import format_duration

#: A duration for people, as the CLI writes it (``1m15s``).
span = format_duration


def as_time(value: str | datetime | None) -> datetime | None:
    """A datetime from a document's ISO text (``...Z``), or the datetime itself."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def ago(value: str | datetime | None, now: datetime) -> str:
    """``value`` relative to ``now``: ``3m10s ago``, ``in 20s``, ``just now``; ``-`` for None."""
    at = as_time(value)
    if at is None:
        return "-"
    seconds = (now - at).total_seconds()
    if abs(seconds) < 1:
        return "just now"
    return f"{span(seconds)} ago" if seconds > 0 else f"in {span(-seconds)}"


def exact(value: str | datetime | None) -> str:
    """The full UTC time, for tooltips and ``<time datetime>``: ``2030-01-01 12:00:00 UTC``."""
    at = as_time(value)
    return "-" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def between(start: str | datetime | None, end: str | datetime | None) -> str:
    """The span from ``start`` to ``end`` for people, ``-`` when either is missing."""
    first, last = as_time(start), as_time(end)
    if first is None or last is None:
        return "-"
    return span(max(0.0, (last - first).total_seconds()))


def count(n: int, capped: bool = False) -> str:
    """``1,234``; ``≥ 10,000`` when a scan stopped at its cap (the true number is larger)."""
    return f"≥ {n:,}" if capped else f"{n:,}"


def pretty(value: Any) -> str:
    """JSON for reading: indented, keys in their order, non-ASCII kept."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
