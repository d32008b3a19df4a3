"""Health: is each registered worker alive, and is the queue as a whole being worked?

Pure: the queue gathers the facts (counts, the oldest due job, worker records, recent
metrics) and these functions judge them.

A worker record is **stale** when its process ran on this host and is gone (checked
with its start time, so a reused pid does not fool us), or when its ``heartbeat_at`` is
older than the worker's own ``stale_after`` (30 s when the record does not say), or
when it cannot be read as a record at all. A worker that stops cleanly deletes its
record, so stale records are the ones left by workers that were killed or hung.

The verdict, worst first (every rule that holds is listed in ``reasons``):

* **unhealthy**: the store cannot be read; or due jobs are waiting and no live worker is
  registered (nothing will run them).
* **degraded**: stale worker records; or the oldest due job has waited longer than
  ``max_wait_s``; or job files were quarantined; or more than ``max_error_rate`` of the
  jobs finished in the last ``error_window`` failed (once at least ``min_finished``
  finished, so one early failure does not flip the verdict).
* **healthy** otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .process import is_alive

#: A record that does not say how long its worker may stay silent gets this.
DEFAULT_STALE_AFTER = 30.0
#: The keys of a worker in ``queue.workers()`` (INTERFACE.md).
WORKER_KEYS = ("name", "host", "pid", "started_at", "heartbeat_at", "concurrency", "running")


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthLimits:
    """Where ``degraded`` starts."""

    #: Seconds the oldest due job may wait for a worker.
    max_wait_s: float = 300.0
    #: Share of failed among finished jobs in ``error_window``.
    max_error_rate: float = 0.5
    min_finished: int = 10
    error_window: timedelta = timedelta(minutes=15)


DEFAULT_LIMITS = HealthLimits()


@dataclass(frozen=True, slots=True)
class WorkerState:
    #: The INTERFACE keys; times are aware datetimes (None when the record lacks them).
    record: dict[str, Any]
    stale: bool


def _time(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    return at if at.tzinfo is not None else None


def worker_state(doc: Mapping[str, Any], now: datetime, host: str) -> WorkerState:
    """Read one registry record and judge it (see the module docstring)."""
    record = {key: doc.get(key) for key in WORKER_KEYS}
    record["started_at"] = _time(doc.get("started_at"))
    record["heartbeat_at"] = heartbeat = _time(doc.get("heartbeat_at"))
    record["running"] = [str(i) for i in doc.get("running") or []]
    return WorkerState(record, heartbeat is None or _is_stale(doc, heartbeat, now, host))


def _is_stale(doc: Mapping[str, Any], heartbeat: datetime, now: datetime, host: str) -> bool:
    pid, started = doc.get("pid"), doc.get("pid_started")
    started = started if isinstance(started, int | float) else None
    if doc.get("host") == host and isinstance(pid, int) and not is_alive(pid, started):
        return True
    limit = doc.get("stale_after")
    limit = limit if isinstance(limit, int | float) else DEFAULT_STALE_AFTER
    return (now - heartbeat).total_seconds() > limit


def worker_states(docs: Sequence[Mapping[str, Any]], now: datetime, host: str) -> list[WorkerState]:
    """Every record, judged; live and stale alike, ordered by name."""
    states = [worker_state(doc, now, host) for doc in docs]
    return sorted(states, key=lambda s: str(s.record["name"]))


def assess(
    counts: Mapping[str, int],
    oldest_due: datetime | None,
    workers: Sequence[WorkerState],
    recent: Mapping[str, Any],
    now: datetime,
    limits: HealthLimits,
) -> dict[str, Any]:
    """The health dict from gathered facts; ``recent`` is ``metrics`` over ``error_window``."""
    depth = counts.get("pending", 0) - counts.get("delayed", 0)
    wait = max(0.0, (now - oldest_due).total_seconds()) if oldest_due is not None else 0.0
    active = sum(1 for w in workers if not w.stale)
    facts = {"queue_depth": depth, "oldest_due_wait_s": wait,
             "active_workers": active, "stale_workers": len(workers) - active}  # fmt: skip
    unhealthy = [f"due jobs wait ({depth}) and no worker is alive"] if depth and not active else []
    degraded = _degraded(facts, counts.get("quarantined", 0), recent, limits)
    status = "unhealthy" if unhealthy else "degraded" if degraded else "healthy"
    return {"status": status, **facts, "reasons": unhealthy + degraded}


def _degraded(
    facts: Mapping[str, Any], quarantined: int, recent: Mapping[str, Any], limits: HealthLimits
) -> list[str]:
    reasons = []
    if facts["stale_workers"]:
        reasons.append(f"stale workers ({facts['stale_workers']}): killed or silent")
    if facts["oldest_due_wait_s"] > limits.max_wait_s:
        reasons.append(f"the oldest due job has waited {facts['oldest_due_wait_s']:.0f}s")
    if quarantined:
        reasons.append(f"quarantined job files ({quarantined})")
    finished, rate = recent.get("finished", 0), recent.get("error_rate", 0.0)
    if finished >= limits.min_finished and rate > limits.max_error_rate:
        reasons.append(f"{rate:.0%} of {finished} recently finished jobs failed")
    return reasons


def unreadable(error: BaseException) -> dict[str, Any]:
    """The health dict when the store itself cannot be read."""
    return {"status": "unhealthy", "queue_depth": None, "oldest_due_wait_s": None,
            "active_workers": None, "stale_workers": None,
            "reasons": [f"the store cannot be read: {error}"]}  # fmt: skip
