"""Rate limits that hold across every worker process on a data directory.

``RateLimit`` is worker middleware. Admission is a sliding log: the admission times of
the last minute for one key, kept in the store's shared state and updated under its
lock, so two processes never both take the last slot. A job over the limit is not
failed: it goes back to pending, due when a slot frees (no attempt is counted).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .errors import InvalidJob, RateLimited
from .job import RunningJob

if TYPE_CHECKING:
    from .worker.context import JobContext

_MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``max_per_second`` and ``max_per_minute`` job starts per key, where the key
    is the job's type (``key="type"``), ``"global"`` for one limit over all jobs, or a
    function of the job."""

    max_per_second: float | None = None
    max_per_minute: float | None = None
    key: str | Callable[[RunningJob], str] = "type"

    def __post_init__(self) -> None:
        limits = [x for x in (self.max_per_second, self.max_per_minute) if x is not None]
        if not limits:
            raise InvalidJob("RateLimit needs max_per_second or max_per_minute")
        for limit in limits:
            _check_limit(limit)
        # Checked here, not at the first job: a typo must not fail every job it meets.
        if not callable(self.key) and self.key not in ("type", "global"):
            raise InvalidJob(
                f"RateLimit key must be 'type', 'global' or a function, not {self.key!r}"
            )

    def key_of(self, job: RunningJob) -> str:
        """The shared-state key the job counts against; prefixed so kinds cannot collide."""
        if callable(self.key):
            return f"custom:{self.key(job)}"
        return "global" if self.key == "global" else f"type:{job.metadata.type}"

    def __call__(self, job: RunningJob, ctx: JobContext, call_next: Callable[[], Any]) -> Any:
        # The time is read under the lock, so the log is in admission order across processes.
        until = ctx.shared_state(
            f"ratelimit:{self.key_of(job)}", lambda raw: self._admit(raw, ctx.now())
        )
        if until is not None:
            raise RateLimited(until)
        return call_next()

    def windows(self) -> list[tuple[float, int]]:
        """(window in seconds, starts allowed in it). A rate that is not a whole number
        spaces its starts evenly: 0.5/s is one start per 2 s, 1.5/s one per 2/3 s."""
        found = []
        for per, limit in ((1.0, self.max_per_second), (_MINUTE, self.max_per_minute)):
            if limit is not None:
                whole = float(limit).is_integer()
                found.append((per, int(limit)) if whole else (per / limit, 1))
        return found

    def _admit(self, raw: bytes | None, now: float) -> tuple[bytes, float | None]:
        windows = self.windows()
        horizon = max(window for window, _ in windows)
        history = [t for t in (orjson.loads(raw) if raw else []) if t > now - horizon]
        until = next_slot(history, now, windows)
        if until is None:
            history.append(now)
        return orjson.dumps(history), until


def _check_limit(limit: object) -> None:
    """Starts per second or minute: a finite positive number (not a bool or a string)."""
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
        raise InvalidJob(f"rate limits must be positive numbers, not {limit!r}")
    if not math.isfinite(limit):
        raise InvalidJob(f"rate limits must be finite, not {limit!r}")


def next_slot(history: list[float], now: float, windows: list[tuple[float, int]]) -> float | None:
    """None if a start at ``now`` fits every window, else the earliest time one would."""
    latest = max(_free_at(history, now, window, allowed) for window, allowed in windows)
    return None if latest <= now else latest


def _free_at(history: list[float], now: float, window: float, allowed: int) -> float:
    """When the window ending then holds fewer than ``allowed`` starts."""
    recent = sorted(t for t in history if t > now - window)
    if len(recent) < allowed:
        return now
    return recent[len(recent) - allowed] + window
