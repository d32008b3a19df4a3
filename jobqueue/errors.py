"""Errors jobqueue raises on purpose.

* JobQueueError          base: ``except JobQueueError`` catches everything below
  + JobNotFound          no job has this id
  + ScheduleNotFound     no schedule has this name
  + InvalidJob           bad id, type, params or option, or a job file that cannot be read
    + InvalidOption      a worker or command-line option with a bad value
  + JobCancelled         raised inside execute_job once a cancel was requested
  + JobTimeout           the error type recorded when an attempt overruns its timeout
  + PermanentError       raise it in a handler: fail now, no retries
  + RetryLater           raise it in a handler: retry after the delay you give
  + RateLimited          a RateLimit deferred the job (it goes back to pending, no attempt)
  + StaleJob             the job changed under us (another worker, a cancel or the reaper won)
  + StoreError           the backend failed (full disk, read-only, database down); see __cause__
    + NoQueue            (jobqueue.backend) a read-only open found no store there
"""

from __future__ import annotations


class JobQueueError(Exception):
    """Base class: ``except JobQueueError`` catches everything raised on purpose."""


class JobNotFound(JobQueueError):
    """No job has this id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id

    def __reduce__(self) -> tuple[type[JobNotFound], tuple[str]]:
        return (type(self), (self.job_id,))


class InvalidJob(JobQueueError):
    """Bad input: an id, type, params or option, or a job file that cannot be read."""


class InvalidOption(InvalidJob):
    """A worker or command-line option with a bad value (exit code 2, like bad input)."""


class JobCancelled(JobQueueError):
    """Raised inside a running job once a cancel was requested (or its timeout passed)."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(f"job cancelled: {reason}" if reason else "job cancelled")
        self.reason = reason

    def __reduce__(self) -> tuple[type[JobCancelled], tuple[str | None]]:
        return (type(self), (self.reason,))


class JobTimeout(JobQueueError):
    """The attempt ran past the job's timeout."""


class PermanentError(JobQueueError):
    """Raise it in a handler to fail the job at once, without retrying."""


class StaleJob(JobQueueError):
    """The job is no longer in the state the caller expected: someone else changed it."""

    def __init__(self, job_id: str, expected: str) -> None:
        super().__init__(f"job {job_id!r} is no longer {expected}: another process changed it")
        self.job_id = job_id
        self.expected = expected

    def __reduce__(self) -> tuple[type[StaleJob], tuple[str, str]]:
        return (type(self), (self.job_id, self.expected))


class StoreError(JobQueueError):
    """The backend failed: a full disk, a read-only tree, a database that is down. The
    original exception is its ``__cause__``; a worker backs off and tries again."""


class RetryLater(JobQueueError):
    """Raise it in a handler to retry after a delay of your choosing (still counts an attempt)."""

    def __init__(self, delay: float, message: str = "") -> None:
        super().__init__(message or f"retry requested in {delay:g}s")
        self.delay = delay

    def __reduce__(self) -> tuple[type[RetryLater], tuple[float, str]]:
        return (type(self), (self.delay, str(self)))


class ScheduleNotFound(JobQueueError):
    """No schedule has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule named {name!r}")
        self.name = name

    def __reduce__(self) -> tuple[type[ScheduleNotFound], tuple[str]]:
        return (type(self), (self.name,))


class RateLimited(JobQueueError):
    """A RateLimit refused the start: the job is deferred to ``until``, never failed."""

    def __init__(self, until: float) -> None:
        super().__init__("rate limited")
        self.until = until  # seconds since the epoch

    def __reduce__(self) -> tuple[type[RateLimited], tuple[float]]:
        return (type(self), (self.until,))
