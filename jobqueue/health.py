"""Health: is each registered worker alive, and is the queue as a whole being worked?

Pure: the queue gathers the facts (counts, the oldest due job, worker records, recent
metrics) and these functions judge them.

A worker record is **stale** when its process ran on this host and is gone (checked
with its start time, so a reused pid does not fool us), or when its ``heartbeat_at`` is
older than the worker's own ``stale_after``. (An unreadable record never gets here:
the backend skips it.) A worker that stops cleanly deletes its
record, so stale records are the ones left by workers that were killed or hung.

The verdict, worst first (every rule that holds is listed in ``reasons``):

* **unhealthy**: the store cannot be read; or due jobs are waiting and no live worker is
  registered (nothing will run them).
* **degraded**: stale worker records; or the oldest due job has waited longer than
  ``max_wait_s``; or job files were quarantined; or more than ``max_error_rate`` of the
  jobs finished in the last ``error_window`` failed (once at least ``min_finished``
  finished, so one early failure does not flip the verdict); or due jobs are of a type
  that no live worker serves (a worker registered with no types serves every type).
* **healthy** otherwise.

One fact is gathered here rather than by the queue, because finding it takes care:
``unserved_types`` (see there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from .backend import JobStore, WorkerRecord
from .process import is_alive


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthLimits:
    """Where ``degraded`` starts."""

    #: Seconds the oldest due job may wait for a worker.
    max_wait_s: float = 300.0
    #: Share of failed among finished jobs in ``error_window``.
    max_error_rate: float = 0.5
    min_finished: int = 10
    error_window: timedelta = timedelta(minutes=15)
    #: How many of the oldest pending jobs ``unserved_types`` reads.
    scan_unserved: int = 500


DEFAULT_LIMITS = HealthLimits()


@dataclass(frozen=True, slots=True)
class WorkerState:
    """A registry record with its verdict; ``stale``: killed or silent, not merely idle."""

    record: WorkerRecord
    stale: bool


def worker_state(record: WorkerRecord, now: datetime, host: str) -> WorkerState:
    """Judge one registry record (see the module docstring)."""
    if record.host == host and not is_alive(record.pid, record.pid_started):
        return WorkerState(record, True)
    return WorkerState(record, (now - record.heartbeat_at).total_seconds() > record.stale_after)


def worker_states(records: Sequence[WorkerRecord], now: datetime, host: str) -> list[WorkerState]:
    """Every record, judged; live and stale alike, ordered by name."""
    states = [worker_state(record, now, host) for record in records]
    return sorted(states, key=lambda s: s.record.name)


def worker_dict(record: WorkerRecord) -> dict[str, Any]:
    """A record as ``queue.workers()`` shows it (INTERFACE's keys, aware datetimes)."""
    return {
        "name": record.name,
        "host": record.host,
        "pid": record.pid,
        "started_at": record.started_at,
        "heartbeat_at": record.heartbeat_at,
        "concurrency": record.concurrency,
        "running": list(record.running),
    }


def assess(
    counts: Mapping[str, int],
    oldest_due: datetime | None,
    workers: Sequence[WorkerState],
    recent: Mapping[str, Any],
    now: datetime,
    limits: HealthLimits,
    *,
    unserved: Sequence[str] = (),
) -> dict[str, Any]:
    """The health dict from gathered facts; ``recent`` is ``metrics`` over ``error_window``,
    ``unserved`` the types of due jobs that no live worker serves."""
    depth = counts.get("pending", 0) - counts.get("delayed", 0)
    wait = max(0.0, (now - oldest_due).total_seconds()) if oldest_due is not None else 0.0
    active = sum(1 for w in workers if not w.stale)
    facts = {"queue_depth": depth, "oldest_due_wait_s": wait,
             "active_workers": active, "stale_workers": len(workers) - active}  # fmt: skip
    unhealthy = [f"due jobs wait ({depth}) and no worker is alive"] if depth and not active else []
    degraded = _degraded(facts, counts.get("quarantined", 0), recent, limits)
    if unserved and active:
        kind = "type" if len(unserved) == 1 else "types"
        degraded.append(f"no live worker serves the due jobs of {kind} {', '.join(unserved)}")
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


def served_types(workers: Sequence[WorkerState]) -> frozenset[str] | None:
    """The types the live workers serve together; None when one of them serves every type
    (it registered none)."""
    served: set[str] = set()
    for state in workers:
        if not state.stale:
            if not state.record.types:
                return None
            served.update(state.record.types)
    return frozenset(served)


def unserved_types(
    jobs: JobStore,
    workers: Sequence[WorkerState],
    now: datetime,
    known: Iterable[str] = (),
    limits: HealthLimits = DEFAULT_LIMITS,
) -> list[str]:
    """The types of due pending jobs that no live worker serves, sorted.

    The store cannot list the types of its due jobs, and reading every pending job would
    make a health check as slow as the backlog is deep. But a job nobody serves is never
    claimed: it stays among the oldest pending jobs, so reading the oldest
    ``limits.scan_unserved`` of them finds it as soon as the served jobs queued before it
    have run. The ``known`` types (the queue's tasks) are checked exactly, through the
    store's index."""
    served = served_types(workers)
    if served is None or not served:
        return []  # every type is served, or no worker is alive (a rule of its own)
    found = {
        job.metadata.type
        for job in islice(jobs.scan(["pending"]), limits.scan_unserved)
        if job.metadata.type not in served and job.metadata.run_at <= now
    }
    for job_type in set(known) - served - found:
        due = jobs.next_due([job_type])
        if due is not None and due <= now:
            found.add(job_type)
    return sorted(found)


def unreadable(error: BaseException) -> dict[str, Any]:
    """The health dict when the store itself cannot be read."""
    return {"status": "unhealthy", "queue_depth": None, "oldest_due_wait_s": None,
            "active_workers": None, "stale_workers": None,
            "reasons": [f"the store cannot be read: {error}"]}  # fmt: skip
