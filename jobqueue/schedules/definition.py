"""Checking a ScheduleSpec: one place for what ``JobQueue.schedule`` and the CLI are given.

Every mistake is an InvalidJob naming the argument, raised before anything is written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidJob
from ..ids import check_schedule_name, check_type
from ..options import EnqueueOptions, normalize_params
from .cron import check_cron, zone
from .model import CATCH_UP, CatchUp, Schedule, ScheduleSpec

# A schedule sets these itself: its jobs are due at their tick, with a per-tick key.
_NOT_FOR_SCHEDULES = ("delay", "run_at", "unique_key")


def define(spec: ScheduleSpec, max_params_bytes: int) -> Schedule:
    """A checked Schedule with no history yet (``rules`` gives it its first tick)."""
    options = _options(spec.enqueue_options)
    return Schedule(
        name=check_schedule_name(spec.name),
        cron=check_cron(spec.cron),
        type=check_type(spec.type),
        params=normalize_params(spec.params, max_params_bytes),
        timezone=zone(spec.timezone).key,
        max_runs=_max_runs(spec.max_runs),
        end_date=_end_date(spec.end_date),
        allow_concurrent=_flag(spec.allow_concurrent, "allow_concurrent"),
        run_on_start=_flag(spec.run_on_start, "run_on_start"),
        catch_up=_catch_up(spec.catch_up),
        priority=options.priority,
        max_retries=options.max_retries,
        timeout=options.timeout_seconds(),
        user_id=options.user_id,
    )


def _options(given: dict[str, Any]) -> EnqueueOptions:
    refused = [key for key in _NOT_FOR_SCHEDULES if key in given]
    if refused:
        raise InvalidJob(
            f"a schedule sets {refused[0]} itself: its jobs are due at their tick "
            "(give priority, max_retries, timeout or user_id)"
        )
    try:
        return EnqueueOptions(**given)
    except TypeError as e:
        raise InvalidJob(f"schedule: {e}") from None


def _max_runs(value: object) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidJob(f"max_runs must be a positive integer or None, not {value!r}")
    return value


def _end_date(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidJob(f"end_date must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidJob("end_date must be timezone-aware (a naive datetime is ambiguous)")
    return value.astimezone(UTC)


def _flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidJob(f"{what} must be True or False, not {value!r}")
    return value


def _catch_up(value: object) -> CatchUp:
    if value not in CATCH_UP:
        raise InvalidJob(f"catch_up must be one of {', '.join(map(repr, CATCH_UP))}, not {value!r}")
    return value
