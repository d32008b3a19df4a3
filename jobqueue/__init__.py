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

__all__ = [
    "Attempt",
    "CancelledJob",
    "Clock",
    "CompleteJob",
    "ErrorInfo",
    "FailedJob",
    "InvalidJob",
    "Job",
    "JobCancelled",
    "JobNotFound",
    "JobQueue",
    "JobQueueError",
    "JobTimeout",
    "Metadata",
    "PendingJob",
    "PermanentError",
    "Progress",
    "RetryPolicy",
    "RunningJob",
    "StaleJob",
    "Status",
    "StoreError",
    "SystemClock",
    "WorkerInfo",
]
