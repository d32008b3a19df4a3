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
    RateLimited,
    RetryLater,
    ScheduleNotFound,
    StaleJob,
    StoreError,
)
from .events import JobEvent
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
from .ratelimit import RateLimit
from .retry import RetryPolicy
from .schedules.cron import CronPatterns
from .schedules.model import Schedule
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
    "JobEvent",
    "JobNotFound",
    "JobQueue",
    "JobQueueError",
    "JobTimeout",
    "JobWorker",
    "Metadata",
    "PendingJob",
    "PermanentError",
    "Progress",
    "RateLimit",
    "RateLimited",
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
