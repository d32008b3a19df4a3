"""Rate limits that hold across every worker process on a data directory.

``RateLimit`` is worker middleware. Admission is a sliding log: the admission times of
the last minute for one key, kept in the store's shared state and updated under its
lock, so two processes never both take the last slot. A job over the limit is not
failed: it goes back to pending, due when a slot frees (no attempt is counted).
"""

from __future__ import annotations

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
        limits = (self.max_per_second, self.max_per_minute)
        if all(limit is None for limit in limits):
            raise InvalidJob("RateLimit needs max_per_second or max_per_minute")
        if any(limit is not None and limit <= 0 for limit in limits):
            raise InvalidJob("rate limits must be positive")

    def key_of(self, job: RunningJob) -> str:
        if callable(self.key):
            return f"custom:{self.key(job)}"
        if self.key == "type":
            return f"type:{job.metadata.type}"
        if self.key == "global":
            return "global"
        raise InvalidJob(f"RateLimit key must be 'type', 'global' or a function, not {self.key!r}")

    def __call__(self, job: RunningJob, ctx: JobContext, call_next: Callable[[], Any]) -> Any:
        now = ctx.now()
        until = ctx.shared_state(f"ratelimit:{self.key_of(job)}", lambda raw: self._admit(raw, now))
        if until is not None:
            raise RateLimited(until)
        return call_next()

    def windows(self) -> list[tuple[float, int]]:
        """(window in seconds, starts allowed in it); 0.5/s becomes one start per 2 s."""
        found = []
        for per, limit in ((1.0, self.max_per_second), (_MINUTE, self.max_per_minute)):
            if limit is not None:
                found.append((per, int(limit)) if limit >= 1 else (per / limit, 1))
        return found

    def _admit(self, raw: bytes | None, now: float) -> tuple[bytes, float | None]:
        windows = self.windows()
        horizon = max(window for window, _ in windows)
        history = [t for t in (orjson.loads(raw) if raw else []) if t > now - horizon]
        until = next_slot(history, now, windows)
        if until is None:
            history.append(now)
        return orjson.dumps(history), until


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
