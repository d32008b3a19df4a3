"""From an attempt's outcome to the job's next state.

Pure apart from the retry policy's randomness, which is passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from random import Random

from .. import transitions
from ..job import Job, RunningJob
from ..retry import RetryPolicy
from .outcome import Cancelled, Deferred, Failed, Outcome, Released, Succeeded


def end_state(
    job: RunningJob, outcome: Outcome, now: datetime, policy: RetryPolicy, rng: Random
) -> Job:
    """The job's next state; ``rng`` feeds the retry policy's jitter (nothing else is random)."""
    match outcome:
        case Succeeded(result):
            return transitions.complete(job, result, now)
        case Failed(error=error):
            return transitions.fail(job, error, now, retry_delay(job, outcome, policy, rng))
        case Cancelled(reason):
            return transitions.cancel_running(job, reason, now)
        case Released():
            return transitions.release(job)
        case Deferred(until):
            return transitions.defer(job, until)


def retry_delay(
    job: RunningJob, failed: Failed, policy: RetryPolicy, rng: Random
) -> timedelta | None:
    """None when the job must fail now: a permanent error, or no retry left."""
    meta = job.metadata
    if failed.permanent or meta.retry_count >= meta.max_retries:
        return None
    if failed.delay is not None:
        return failed.delay
    return policy.delay(meta.retry_count, meta.max_retries, rng)


def verb(job: Job) -> str:
    """How the log line says it ended."""
    verbs = {"pending": "went back to pending", "complete": "completed"}
    return verbs.get(job.status, job.status)
