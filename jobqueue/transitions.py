"""Every change of a job's state, as pure functions: no files, no clock, no randomness.

The store only persists what these return (and refuses stale writes); the worker, the
queue API and the reaper all go through here, so the rules live in one place.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from .job import (
    Attempt,
    CancelledJob,
    CompleteJob,
    ErrorInfo,
    FailedJob,
    Job,
    JSONValue,
    PendingJob,
    Progress,
    RunningJob,
    WorkerInfo,
)

WORKER_LOST = "WorkerLost"


def start(job: PendingJob, worker: WorkerInfo, now: datetime) -> RunningJob:
    """A claim: the lease starts fresh at ``now`` and progress of earlier attempts is dropped."""
    return RunningJob(
        metadata=job.metadata,
        params=job.params,
        attempts=job.attempts,
        started_at=now,
        heartbeat_at=now,
        worker=worker,
    )


def heartbeat(job: RunningJob, now: datetime, progress: Progress | None = None) -> RunningJob:
    """Refresh the lease; also carries the latest progress when there is one to write."""
    return replace(job, heartbeat_at=now, progress=progress or job.progress)


def _attempt(job: RunningJob, now: datetime, error: ErrorInfo | None) -> tuple[Attempt, ...]:
    ended = Attempt(started_at=job.started_at, ended_at=now, worker=job.worker, error=error)
    return (*job.attempts, ended)


def complete(job: RunningJob, result: JSONValue, now: datetime) -> CompleteJob:
    """Success: the attempt joins the history with no error; ``result`` must be JSON."""
    return CompleteJob(
        metadata=job.metadata,
        params=job.params,
        attempts=_attempt(job, now, None),
        started_at=job.started_at,
        completed_at=now,
        result=result,
    )


def fail(
    job: RunningJob, error: ErrorInfo, now: datetime, delay: timedelta | None
) -> PendingJob | FailedJob:
    """A failed attempt: back to pending after ``delay``, or failed when ``delay`` is None
    (no retry left, or the error is permanent)."""
    attempts = _attempt(job, now, error)
    if delay is None:
        return FailedJob(
            metadata=job.metadata, params=job.params, attempts=attempts, failed_at=now, error=error
        )
    meta = replace(job.metadata, retry_count=job.metadata.retry_count + 1, run_at=now + delay)
    return PendingJob(metadata=meta, params=job.params, attempts=attempts)


def lost(job: RunningJob, now: datetime, why: str) -> PendingJob | FailedJob:
    """The worker is gone: the attempt counts, but the job is due at once (no backoff)."""
    error = ErrorInfo(type=WORKER_LOST, message=why)
    has_retry = job.metadata.retry_count < job.metadata.max_retries
    return fail(job, error, now, timedelta(0) if has_retry else None)


def release(job: RunningJob) -> PendingJob:
    """Hand a job back untouched (graceful shutdown): no attempt is counted."""
    return PendingJob(metadata=job.metadata, params=job.params, attempts=job.attempts)


def defer(job: RunningJob, until: datetime) -> PendingJob:
    """Back to pending, due at ``until``, no attempt counted (a rate limit said not yet)."""
    meta = replace(job.metadata, run_at=until)
    return PendingJob(metadata=meta, params=job.params, attempts=job.attempts)


def cancel_pending(job: PendingJob, reason: str | None, now: datetime) -> CancelledJob:
    """Cancelled before it ran again: unlike ``cancel_running``, no attempt is added."""
    return CancelledJob(
        metadata=job.metadata,
        params=job.params,
        attempts=job.attempts,
        cancelled_at=now,
        reason=reason,
    )


def cancel_running(job: RunningJob, reason: str | None, now: datetime) -> CancelledJob:
    """The attempt ends with a JobCancelled error in the history; the job is never retried."""
    error = ErrorInfo(type="JobCancelled", message=reason or "cancelled")
    return CancelledJob(
        metadata=job.metadata,
        params=job.params,
        attempts=_attempt(job, now, error),
        cancelled_at=now,
        reason=reason,
    )


def retry(job: FailedJob | CancelledJob, now: datetime) -> PendingJob:
    """Manual retry: due now, retry_count back to 0, history kept."""
    meta = replace(job.metadata, retry_count=0, run_at=now)
    return PendingJob(metadata=meta, params=job.params, attempts=job.attempts)


def same_attempt(job: RunningJob, current: Job | None) -> bool:
    """Whether ``current`` (as stored) is still the attempt ``job`` is: a heartbeat changes
    neither the start nor the history; a new claim changes the history (its start alone
    can repeat when a retry is claimed in the same instant). Backends refuse a cancel
    request for an attempt that already ended."""
    if not isinstance(current, RunningJob):
        return False
    return (current.started_at, current.attempts) == (job.started_at, job.attempts)
