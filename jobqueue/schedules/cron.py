"""Cron expressions and timezones: validation and the next tick, as pure functions.

croniter does the parsing (five fields, or six with seconds last: ``* * * * * */5``) and
walks wall-clock time in the schedule's timezone. Daylight saving time follows the rules
of Vixie cron, the behaviour people know from their servers:

* Spring forward (Europe/Paris, 02:00 -> 03:00): a tick whose wall time does not exist
  that day fires once, at the end of the gap; ``0 2 * * *`` runs at 03:00 CEST.
* Fall back (03:00 -> 02:00, so 02:00-02:59 happens twice): a schedule with fixed hours
  fires once, at the first occurrence; ``30 2 * * *`` runs at 02:30 CEST, not again at
  02:30 CET. A schedule whose hour field is ``*`` runs by elapsed time, in both passes:
  ``0 * * * *`` fires at 02:00 CEST and again an hour later at 02:00 CET.

Ticks come back as aware UTC datetimes, which is how they are stored and compared.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from ..errors import InvalidJob

_HOURS = 24
_MICROSECOND = timedelta(microseconds=1)


class CronPatterns:
    """Common cron expressions, as plain strings: ``CronPatterns.EVERY_HOUR == "0 * * * *"``."""

    EVERY_MINUTE: Final = "* * * * *"
    EVERY_5_MINUTES: Final = "*/5 * * * *"
    EVERY_15_MINUTES: Final = "*/15 * * * *"
    EVERY_30_MINUTES: Final = "*/30 * * * *"
    EVERY_HOUR: Final = "0 * * * *"
    EVERY_6_HOURS: Final = "0 */6 * * *"
    EVERY_12_HOURS: Final = "0 */12 * * *"
    DAILY_MIDNIGHT: Final = "0 0 * * *"
    DAILY_NOON: Final = "0 12 * * *"
    WEEKLY_MONDAY: Final = "0 0 * * 1"
    MONTHLY_FIRST: Final = "0 0 1 * *"


def check_cron(expr: object) -> str:
    """Return ``expr`` if croniter accepts it and it ever fires, else InvalidJob."""
    if not isinstance(expr, str):
        raise InvalidJob(f"cron must be a string, not {type(expr).__name__}")
    try:
        croniter(expr)
    except (CroniterBadCronError, CroniterError, ValueError, KeyError) as e:
        raise InvalidJob(f"invalid cron expression {expr!r}: {e}") from None
    try:
        next_tick(expr, "UTC", datetime(2000, 1, 1, tzinfo=UTC))
    except CroniterBadDateError:
        raise InvalidJob(f"cron expression {expr!r} never matches a date") from None
    return expr


def zone(name: object) -> ZoneInfo:
    """The ZoneInfo for an IANA timezone name, or InvalidJob."""
    if not isinstance(name, str) or not name:
        raise InvalidJob(f"timezone must be an IANA name such as 'Europe/Paris', not {name!r}")
    return _zone(name)


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidJob(
            f"unknown timezone {name!r}: use an IANA name such as 'Europe/Paris'"
        ) from None


def next_tick(expr: str, timezone: str, after: datetime) -> datetime:
    """The first tick strictly after ``after`` (aware), in UTC."""
    local = after.astimezone(zone(timezone))
    ticks = croniter(expr, local)
    every_hour = _fires_every_hour(ticks)
    while True:
        tick: datetime = ticks.get_next(datetime)
        if every_hour or not _second_pass(tick):
            return tick.astimezone(UTC)


def first_tick_from(expr: str, timezone: str, start: datetime) -> datetime:
    """The first tick at or after ``start``."""
    return next_tick(expr, timezone, start - _MICROSECOND)


def _fires_every_hour(ticks: croniter) -> bool:
    hours = ticks.expanded[1]
    return hours == ["*"] or len(hours) == _HOURS


def _second_pass(tick: datetime) -> bool:
    """True for the second occurrence of a wall time the clocks went back over. (A
    repeated wall time has a larger offset on its first pass; in a gap it is the other
    way round, and croniter never returns a time in a gap.)"""
    first = tick.replace(fold=0).utcoffset()
    second = tick.replace(fold=1).utcoffset()
    if first is None or second is None:
        return False
    return first > second and tick.utcoffset() == second
