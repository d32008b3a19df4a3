"""A cron expression in plain words, for the common shapes only: ``*/5 * * * *`` is
"every 5 minutes", ``30 2 * * 1`` "every Monday at 02:30". Anything else gets None and
the page shows the expression alone: a wrong paraphrase would be worse than none.
Times are wall-clock times in the schedule's timezone (the page says which)."""

from __future__ import annotations

import re
from types import MappingProxyType

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ALIASES = MappingProxyType(
    {
        "@hourly": "every hour",
        "@daily": "every day at 00:00",
        "@midnight": "every day at 00:00",
        "@weekly": "every Sunday at 00:00",
        "@monthly": "on the 1st of every month at 00:00",
        "@yearly": "every 1 January at 00:00",
        "@annually": "every 1 January at 00:00",
    }
)


def meaning(expr: str) -> str | None:
    """The expression in words, or None when it is not one of the common shapes."""
    fields = expr.split()
    if len(fields) == 1:
        return _ALIASES.get(fields[0])
    if len(fields) == 6:  # croniter's seconds field comes last
        every = _step(fields[5])
        return f"every {every} seconds" if fields[:5] == ["*"] * 5 and every else None
    if len(fields) != 5 or fields[3] != "*":
        return None
    minute, hour, day, _, weekday = fields
    if day == "*" and weekday == "*":
        return _daily(minute, hour)
    at = _clock(minute, hour)
    if at and day == "*" and weekday.isdigit() and int(weekday) < len(_DAYS):
        return f"every {_DAYS[int(weekday)]} at {at}"
    if at and weekday == "*" and day.isdigit():
        return f"on day {int(day)} of every month at {at}"
    return None


def _daily(minute: str, hour: str) -> str | None:
    if (minute, hour) == ("*", "*"):
        return "every minute"
    if _step(minute) and hour == "*":
        return f"every {_step(minute)} minutes"
    if not minute.isdigit():
        return None
    if hour == "*":
        return f"every hour at :{int(minute):02d}"
    if _step(hour):
        return f"every {_step(hour)} hours at :{int(minute):02d}"
    at = _clock(minute, hour)
    return f"every day at {at}" if at else None


def _clock(minute: str, hour: str) -> str | None:
    if minute.isdigit() and hour.isdigit():
        return f"{int(hour):02d}:{int(minute):02d}"
    return None


def _step(field: str) -> int | None:
    found = re.fullmatch(r"\*/(\d+)", field)
    return int(found[1]) if found else None
