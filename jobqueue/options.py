"""Validation of what a user passes to enqueue: one place, used by the API and the CLI."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from .durations import to_timedelta
from .errors import InvalidJob
from .ids import check_key, check_type
from .job import Metadata, Params, PendingJob

DEFAULT_MAX_PARAMS_BYTES = 1 << 20
MAX_PARAMS_DEPTH = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class EnqueueOptions:
    """Everything of a new job but its type, params and id, checked once per call."""

    delay: float | timedelta | None = None
    run_at: datetime | None = None
    priority: int = 0
    max_retries: int = 3
    timeout: float | timedelta | None = None
    unique_key: str | None = None
    user_id: str | None = None

    def __post_init__(self) -> None:
        if self.delay is not None and self.run_at is not None:
            raise InvalidJob("give delay or run_at, not both")
        if self.run_at is not None:
            if not isinstance(self.run_at, datetime):
                raise InvalidJob(f"run_at must be a datetime, not {type(self.run_at).__name__}")
            if self.run_at.tzinfo is None or self.run_at.utcoffset() is None:
                raise InvalidJob("run_at must be timezone-aware (a naive datetime is ambiguous)")
        _check_int(self.priority, "priority")
        _check_int(self.max_retries, "max_retries", minimum=0)
        if self.unique_key is not None:
            check_key(self.unique_key)
        if self.user_id is not None:
            check_key(self.user_id, "user id")

    def due(self, now: datetime) -> datetime:
        """The job's ``run_at`` in UTC (``now`` plus ``delay`` by default); InvalidJob past 9999."""
        delay = to_timedelta(self.delay or 0, "delay")
        try:
            # In UTC, as it reads back from disk; out of range near year 1 or 9999.
            return self.run_at.astimezone(UTC) if self.run_at is not None else now + delay
        except OverflowError:
            raise InvalidJob("run_at or delay is out of range (past the year 9999)") from None

    def timeout_seconds(self) -> float | None:
        """The timeout in seconds as the metadata stores it; None: no limit; InvalidJob if <= 0."""
        if self.timeout is None:
            return None
        seconds = to_timedelta(self.timeout, "timeout").total_seconds()
        if seconds <= 0:
            raise InvalidJob("timeout must be positive (or None for no limit)")
        return seconds

    def build(self, job_id: str, job_type: str, params: Params, now: datetime) -> PendingJob:
        """The new pending job; ``params`` must already be normalized (``normalize_params``)."""
        meta = Metadata(
            id=job_id,
            type=check_type(job_type),
            created=now,
            run_at=self.due(now),
            priority=self.priority,
            max_retries=self.max_retries,
            timeout=self.timeout_seconds(),
            unique_key=self.unique_key,
            user_id=self.user_id,
        )
        return PendingJob(metadata=meta, params=params)


def _check_int(value: object, what: str, minimum: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidJob(f"{what} must be an integer, not {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise InvalidJob(f"{what} must be at least {minimum}, not {value}")


def normalize_params(params: object, max_bytes: int = DEFAULT_MAX_PARAMS_BYTES) -> Params:
    """Params as they will read back from disk (plain dicts and lists), or InvalidJob."""
    if params is None:
        return {}
    if not isinstance(params, Mapping | Sequence) or isinstance(params, str | bytes):
        raise InvalidJob(f"params must be a JSON object or array, not {type(params).__name__}")
    _check_values(params, MAX_PARAMS_DEPTH)
    try:
        data = orjson.dumps(params)
    except (TypeError, orjson.JSONEncodeError) as e:
        raise InvalidJob(f"params are not JSON-serialisable: {e}") from None
    if len(data) > max_bytes:
        raise InvalidJob(f"params are {len(data):,} bytes; the limit is {max_bytes:,}")
    loaded: Params = orjson.loads(data)
    return loaded


def _check_values(value: Any, limit: int) -> None:
    """Depth, and floats JSON can hold: orjson would write NaN and infinity as null."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise InvalidJob(f"params are nested more than {limit} levels deep")
        if isinstance(item, float) and not math.isfinite(item):
            raise InvalidJob(f"params hold {item}, which JSON cannot represent")
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, Sequence) and not isinstance(item, str | bytes):
            stack.extend((v, depth + 1) for v in item)
