"""Job events: what happened to a job, named the same as the worker's hooks.

``event_name`` is the one place that decides which event a change is; stores call it
for every write and append what it returns to their event log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .job import CancelledJob, CompleteJob, FailedJob, Job, PendingJob, RunningJob

EventName = Literal[
    "created", "started", "progress", "retrying", "completed", "failed", "cancelling", "cancelled"
]
EVENT_NAMES: tuple[EventName, ...] = (
    "created", "started", "progress", "retrying", "completed", "failed", "cancelling", "cancelled",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One change to one job, as ``queue.events()`` yields it; ``at`` is the job's own time."""

    event: EventName
    job_id: str
    job_type: str
    at: datetime
    #: The job as the event left it.
    job: Job


def event_name(old: Job | None, new: Job) -> EventName | None:
    """The event a change from ``old`` (None: new job) to ``new`` is, or None for changes
    nobody watches (a heartbeat, a job handed back untouched at shutdown)."""
    match new:
        case CompleteJob():
            return "completed"
        case FailedJob():
            return "failed"
        case CancelledJob():
            return "cancelled"
        case RunningJob() if isinstance(old, PendingJob):
            return "started"
        case RunningJob() if isinstance(old, RunningJob) and old.progress != new.progress:
            return "progress"
        case PendingJob() if old is None:
            return "created"
        case PendingJob() if old is not None and len(new.attempts) > len(old.attempts):
            return "retrying"
        case PendingJob() if isinstance(old, FailedJob | CancelledJob):
            return "retrying"  # a manual retry
    return None


def event_time(event: EventName, job: Job) -> datetime:
    """When the event happened, read off the job itself (so it follows the injected clock)."""
    match job:
        case CompleteJob(completed_at=at) | FailedJob(failed_at=at) | CancelledJob(cancelled_at=at):
            return at
        case RunningJob():
            return job.started_at if event == "started" else job.heartbeat_at
        case PendingJob() if event == "retrying" and job.metadata.retry_count > 0:
            return job.attempts[-1].ended_at if job.attempts else job.metadata.created
        case PendingJob() if event == "retrying":
            return job.metadata.run_at  # a manual retry is due the moment it was asked for
    return job.metadata.created
