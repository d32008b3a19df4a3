"""From an attempt's outcome to the job's next state, and how the worker log tells it.

``end_state`` is pure apart from the retry policy's randomness, which is passed in. The
log lines are what an operator reads at ``--log-level warning``: a failed attempt with its
error, a final failure with its traceback, a timeout with what became of the handler.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from random import Random

from .. import transitions
from ..durations import format_duration
from ..job import CancelledJob, Job, PendingJob, RunningJob
from ..retry import RetryPolicy
from .outcome import Cancelled, Deferred, Failed, Outcome, Released, Succeeded

log = logging.getLogger(__name__)


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


# --- the log -------------------------------------------------------------------------------


def log_end(job: RunningJob, new: Job, outcome: Outcome, took: float, now: datetime) -> None:
    """One line on how the attempt of ``job`` (as claimed) ended, ``took`` seconds after
    it started: INFO when it ended as asked, WARNING for a failed attempt that will be
    retried, ERROR (with the traceback) for a job that failed for good."""
    head = f"job {job.metadata.id} ({job.metadata.type})"
    if isinstance(outcome, Failed):
        _log_failure(head, job.metadata.retry_count + 1, new, outcome, took, now)
    elif isinstance(new, CancelledJob) and new.reason:
        log.info("%s cancelled after %s: %s", head, format_duration(took), new.reason)
    else:
        log.info("%s %s after %s", head, verb(new), format_duration(took))


def _log_failure(
    head: str, attempt: int, new: Job, failed: Failed, took: float, now: datetime
) -> None:
    if failed.timeout is None:
        what, error = f"failed after {format_duration(took)}", _error_text(failed)
    else:  # the limit, then how long it ran: a thread that cannot be killed may run on
        limit, ran = format_duration(failed.timeout), format_duration(took)
        what, error = f"timed out after {limit} (ran {ran})", ""
    if isinstance(new, PendingJob):
        wait = format_duration((new.metadata.run_at - now).total_seconds())
        log.warning("%s attempt %d %s, retrying in %s%s", head, attempt, what, wait, error)
        return
    why = "not retried (a permanent error)" if failed.permanent else "no retry left"
    trace = f"\n{failed.error.traceback}" if failed.error.traceback else ""
    log.error("%s attempt %d %s, %s%s%s", head, attempt, what, why, error, trace)


def _error_text(failed: Failed) -> str:
    return f": {failed.error.type}: {failed.error.message}"


def log_overrun(job: RunningJob, limit: float, killable: bool) -> None:
    """The moment an attempt passes its timeout (it ends, and ``log_end`` says so, later).
    A thread cannot be killed: its handler runs on, holding its slot, until it returns."""
    head = f"job {job.metadata.id} ({job.metadata.type})"
    shown = format_duration(limit)
    if killable:
        log.warning("%s timed out after %s: stopping its process", head, shown)
    else:
        log.warning(
            "%s timed out after %s: asked it to stop, but a thread cannot be killed, so "
            "its handler is still running (holding its slot) until it returns", head, shown,
        )  # fmt: skip


def verb(job: Job) -> str:
    """How the log line says it ended."""
    verbs = {"pending": "went back to pending", "complete": "completed"}
    return verbs.get(job.status, job.status)
