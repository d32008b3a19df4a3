"""The job model: one frozen type per status, so ``match job:`` works and each status
carries only the fields it has. State changes live in ``transitions``; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Literal, TypeAlias

JSONValue: TypeAlias = (
    "bool | int | float | str | Sequence[JSONValue] | Mapping[str, JSONValue] | None"
)
Params: TypeAlias = "Mapping[str, JSONValue] | Sequence[JSONValue]"

Status = Literal["pending", "running", "complete", "failed", "cancelled"]
STATUSES: tuple[Status, ...] = ("pending", "running", "complete", "failed", "cancelled")
ENDED: frozenset[Status] = frozenset({"complete", "failed", "cancelled"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Metadata:
    """What a job is and how it should run; survives every status change."""

    id: str
    type: str
    created: datetime
    #: The job is not claimed before this instant (deferred jobs, retry backoff).
    run_at: datetime
    #: Lower runs first; ties are broken by run_at, then by id.
    priority: int = 0
    #: Attempts already retried; reset to 0 by ``JobQueue.retry``.
    retry_count: int = 0
    max_retries: int = 3
    #: Seconds an attempt may run, or None for no limit.
    timeout: float | None = None
    #: Deduplicates while a job holding it is pending or running.
    unique_key: str | None = None
    user_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerInfo:
    """Who runs a job: enough for a reaper on the same host to tell if the owner is alive."""

    name: str
    host: str
    pid: int
    #: The owner process's start time (seconds since boot, from /proc), which guards
    #: against pid reuse; None where the platform does not tell.
    pid_started: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress:
    """What a running job last reported: ``percentage`` (0-100), and an optional
    ``stage`` and ``message`` for people watching it."""

    percentage: float
    stage: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """Why an attempt failed, as plain text: it must survive JSON and any process, so
    the exception itself is not kept."""

    type: str
    message: str
    traceback: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One finished attempt; ``error`` is None when it succeeded."""

    started_at: datetime
    ended_at: datetime
    worker: WorkerInfo
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingJob:
    """Waiting in ``pending/``: due at ``metadata.run_at`` (now, or deferred)."""

    status: ClassVar[Status] = "pending"
    metadata: Metadata
    params: Params
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningJob:
    """Claimed by exactly one ``worker``; ``heartbeat_at`` shows it is still alive."""

    status: ClassVar[Status] = "running"
    metadata: Metadata
    params: Params
    attempts: tuple[Attempt, ...] = ()
    started_at: datetime
    heartbeat_at: datetime
    worker: WorkerInfo
    progress: Progress | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CompleteJob:
    """Ended with a ``result`` (whatever the handler returned, as JSON)."""

    status: ClassVar[Status] = "complete"
    metadata: Metadata
    params: Params
    attempts: tuple[Attempt, ...] = ()
    started_at: datetime
    completed_at: datetime
    result: JSONValue = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FailedJob:
    """Ended without a result: retries exhausted, or a permanent error (``error``)."""

    status: ClassVar[Status] = "failed"
    metadata: Metadata
    params: Params
    attempts: tuple[Attempt, ...] = ()
    failed_at: datetime
    error: ErrorInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelledJob:
    """Ended by a person's cancel (``reason``), pending or running; never retried."""

    status: ClassVar[Status] = "cancelled"
    metadata: Metadata
    params: Params
    attempts: tuple[Attempt, ...] = ()
    cancelled_at: datetime
    reason: str | None = None


Job: TypeAlias = PendingJob | RunningJob | CompleteJob | FailedJob | CancelledJob


def ended_at(job: Job) -> datetime | None:
    """When the job reached its end state; None while it is pending or running."""
    match job:
        case CompleteJob(completed_at=at) | FailedJob(failed_at=at) | CancelledJob(cancelled_at=at):
            return at
    return None
