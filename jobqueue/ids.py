"""Job ids and the names that end up in paths.

An id is ``<UTC time to the microsecond>-<random>`` (``20261123T160158123456Z-9f1c2a7b``):
a safe file name whose text order is creation order. One generator never repeats or goes
back in time, so back-to-back enqueues from one process are strictly FIFO.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Protocol

from .errors import InvalidJob

MAX_NAME_LENGTH = 128
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_TYPE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")
_ID_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


class IdFactory(Protocol):
    """Makes a new job id for a job created at ``now``."""

    def __call__(self, now: datetime) -> str: ...


class TimeIds:
    """Time-sortable ids; monotonic within one instance (thread-safe)."""

    def __init__(self, rng: Random | None = None) -> None:
        self._rng = rng or Random()
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def __call__(self, now: datetime) -> str:
        now = now.astimezone(UTC)  # the text must sort like the instant
        with self._lock:
            if self._last is not None and now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            suffix = self._rng.getrandbits(32)
        return f"{now.strftime(_ID_TIME_FORMAT)}-{suffix:08x}"


def _check_name(value: object, what: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str):
        raise InvalidJob(f"{what} must be a string, not {type(value).__name__}")
    if not value or len(value) > MAX_NAME_LENGTH:
        raise InvalidJob(f"{what} must be 1 to {MAX_NAME_LENGTH} characters: {value[:40]!r}")
    if not pattern.fullmatch(value) or ".." in value:
        raise InvalidJob(
            f"invalid {what} {value[:60]!r}: use letters, digits and _ . - "
            "(no path separators, no '..')"
        )
    return value


def check_id(job_id: object) -> str:
    """Return ``job_id`` if it is a safe file name, else raise InvalidJob."""
    return _check_name(job_id, "job id", _ID_RE)


def check_type(job_type: object) -> str:
    """Return ``job_type`` if it is a safe job type name (also used for schedule names)."""
    return _check_name(job_type, "job type", _TYPE_RE)


def check_key(key: object, what: str = "unique key") -> str:
    """Unique keys and user ids never become paths, but stay printable and bounded."""
    if not isinstance(key, str):
        raise InvalidJob(f"{what} must be a string, not {type(key).__name__}")
    if not key or len(key) > 512 or any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InvalidJob(f"invalid {what} {key[:60]!r}: 1 to 512 printable characters")
    if not key.isprintable() and any(0xD800 <= ord(c) <= 0xDFFF for c in key):
        raise InvalidJob(f"invalid {what} {key[:60]!r}: a lone surrogate is not text (UTF-8)")
    return key


def check_schedule_name(name: object) -> str:
    """Schedule names follow the job-type rules: they name a file under schedules/."""
    return _check_name(name, "schedule name", _TYPE_RE)
