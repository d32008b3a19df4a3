"""jobqueue: a durable job queue whose embedded default needs no server.

Jobs are JSON files that move between status directories; see README.md.
"""

from .clock import Clock, SystemClock
from .errors import (
    InvalidJob,
    JobCancelled,
    JobNotFound,
    JobQueueError,
    JobTimeout,
    PermanentError,
    RetryLater,
    ScheduleNotFound,
    StaleJob,
    StoreError,
)
from .job import (
    Attempt,
    CancelledJob,
    CompleteJob,
    ErrorInfo,
    FailedJob,
    Job,
    Metadata,
    PendingJob,
    Progress,
    RunningJob,
    Status,
    WorkerInfo,
)
from .queue import JobQueue
from .retry import RetryPolicy
from .schedules import CronPatterns, Schedule
from .worker import HandlerWorker, JobContext, JobWorker

__all__ = [
    "Attempt",
    "CancelledJob",
    "Clock",
    "CompleteJob",
    "CronPatterns",
    "ErrorInfo",
    "FailedJob",
    "HandlerWorker",
    "InvalidJob",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobNotFound",
    "JobQueue",
    "JobQueueError",
    "JobTimeout",
    "JobWorker",
    "Metadata",
    "PendingJob",
    "PermanentError",
    "Progress",
    "RetryLater",
    "RetryPolicy",
    "RunningJob",
    "Schedule",
    "ScheduleNotFound",
    "StaleJob",
    "Status",
    "StoreError",
    "SystemClock",
    "WorkerInfo",
]
