"""Return running jobs whose worker is gone to pending/ (or failed/ when no retry is left).

A job is lost when its owner ran on this host and that process no longer exists
(checked with the recorded process start time, so a reused pid does not fool us), or,
for an owner on another host or one we cannot check, when its heartbeat is older than
``stale_after``. A job whose owner is alive on this host is never reaped, however old
its heartbeat: a long CPU-bound job is not a lost job. A lost job whose cancel was
requested is cancelled rather than run again: the user already said they do not want it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from . import transitions
from .backend import CancelRequests, JobStore
from .errors import StaleJob
from .job import CancelledJob, FailedJob, PendingJob, RunningJob
from .process import hostname, is_alive

log = logging.getLogger(__name__)

Reaped = PendingJob | FailedJob | CancelledJob


def lost_reason(job: RunningJob, now: datetime, stale_after: timedelta, host: str) -> str | None:
    """Why ``job`` has no live owner, or None if it may still be running."""
    owner = job.worker
    if owner.host == host:
        if is_alive(owner.pid, owner.pid_started):
            return None
        return f"worker {owner.name} (pid {owner.pid}) is gone"
    age = now - job.heartbeat_at
    if age > stale_after:
        return (
            f"no heartbeat from worker {owner.name} on {owner.host} for {age.total_seconds():.0f}s"
        )
    return None


def settle(cancels: CancelRequests, job: RunningJob, now: datetime, reason: str) -> Reaped:
    """What a lost job becomes: cancelled if that was asked, else retried or failed."""
    request = cancels.get(job.metadata.id)
    if request is not None:
        return transitions.cancel_running(job, request.reason, now)
    return transitions.lost(job, now, reason)


def reap(
    store: JobStore,
    cancels: CancelRequests,
    now: datetime,
    stale_after: timedelta,
    host: str | None = None,
) -> list[Reaped]:
    """Reap every lost running job once; returns what each became.

    Recovery runs first: a process killed in the middle of a transition may have left a
    job staged (invisible to claims) or a running copy beside its later state, and only
    ``recover`` knows which copy is the truth. Every worker reaps periodically, so this
    is also what repairs a crash while other workers keep running."""
    store.recover()
    host = host or hostname()
    reaped: list[Reaped] = []
    for job in store.scan(["running"]):
        if not isinstance(job, RunningJob):
            continue
        reason = lost_reason(job, now, stale_after, host)
        if reason is None:
            continue
        new = settle(cancels, job, now, reason)
        try:
            store.move(job, new)
        except StaleJob:
            continue  # it finished or was reaped by someone else meanwhile
        log.warning(
            "reaped %s (%s): %s -> %s", job.metadata.id, job.metadata.type, reason, new.status
        )
        reaped.append(new)
    return reaped
