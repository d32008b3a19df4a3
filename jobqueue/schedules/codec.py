"""Schedule <-> JSON bytes: the file's keys are the dataclass's fields, in order.

Decoding is strict, like the job codec: a schedule file is meant to be read and edited
by hand, so a typo must surface as one InvalidJob naming the file and the key instead of
a schedule that silently does something else.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import orjson

from ..codec import format_time
from ..errors import InvalidJob
from ..ids import check_schedule_name, check_type
from .model import CATCH_UP, Schedule

_FIELDS = tuple(f.name for f in dataclasses.fields(Schedule))
_TIMES = frozenset({"last_run_at", "next_run_at", "end_date"})
# What each plain field holds on disk, and whether it may be null.
_KINDS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "name": (str, False),
    "cron": (str, False),
    "type": (str, False),
    "params": ((dict, list), False),
    "timezone": (str, False),
    "paused": (bool, False),
    "retired": (bool, False),
    "run_count": (int, False),
    "max_runs": (int, True),
    "allow_concurrent": (bool, False),
    "catch_up": (str, False),
    "run_on_start": (bool, False),
    "priority": (int, False),
    "max_retries": (int, False),
    "timeout": ((int, float), True),
    "user_id": (str, True),
    "last_job_id": (str, True),
}


def to_document(schedule: Schedule) -> dict[str, Any]:
    """The file's JSON object (times as ISO 8601 strings), also what ``--json`` prints."""
    doc = {name: getattr(schedule, name) for name in _FIELDS}
    for name in _TIMES:
        doc[name] = None if doc[name] is None else format_time(doc[name])
    return doc


def encode(schedule: Schedule) -> bytes:
    """Pretty-printed UTF-8 JSON ending in a newline, like a job file."""
    return orjson.dumps(to_document(schedule), option=orjson.OPT_INDENT_2) + b"\n"


def decode(data: bytes, source: str) -> Schedule:
    """Parse a schedule file; InvalidJob naming ``source`` and what is wrong."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InvalidJob(f"{source}: not valid JSON ({e})") from None
    try:
        return from_document(doc)
    except InvalidJob as e:
        raise InvalidJob(f"{source}: {e}") from None


def from_document(doc: object) -> Schedule:
    """Strict: every key present, no unknown ones, values checked as the API checks them."""
    if not isinstance(doc, dict):
        raise InvalidJob("a schedule must be a JSON object")
    missing = [name for name in _FIELDS if name not in doc]
    extra = sorted(doc.keys() - set(_FIELDS))
    if missing or extra:
        raise InvalidJob(f"{'missing' if missing else 'unknown'} key {(missing or extra)[0]!r}")
    values = {name: _value(doc, name) for name in _FIELDS}
    schedule = Schedule(**values)
    _check(schedule)
    return schedule


def _value(doc: dict[str, Any], name: str) -> Any:
    value = doc[name]
    if name in _TIMES:
        return None if value is None else _time(value, name)
    kind, nullable = _KINDS[name]
    if value is None and nullable:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise InvalidJob(f"{name!r} must be {names}" + (" or null" if nullable else ""))
    return value


def _time(value: object, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise InvalidJob(f"{name!r} must be an ISO 8601 time with an offset, not {value!r}")
    return at.astimezone(UTC)


def _check(schedule: Schedule) -> None:
    """The rules the API enforces, so a hand edit cannot smuggle in a bad value."""
    from .cron import check_cron, zone  # croniter: only when a schedule is read

    check_schedule_name(schedule.name)
    check_type(schedule.type)
    check_cron(schedule.cron)
    zone(schedule.timezone)
    if schedule.catch_up not in CATCH_UP:
        raise InvalidJob(f"'catch_up' must be one of {', '.join(CATCH_UP)}")
