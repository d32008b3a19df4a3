"""jobqueue: a durable job queue whose embedded default needs no server.

Jobs are JSON files that move between status directories; see README.md.

The public names are loaded on first use (PEP 562): ``import jobqueue`` alone costs
next to nothing, so a one-shot command such as ``jobqueue enqueue`` does not pay for
the worker, the scheduler and their dependencies. ``from jobqueue import JobWorker``
and ``jobqueue.__all__`` work as with plain imports; type checkers read the imports
under ``TYPE_CHECKING``.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .aio import AsyncJobQueue
    from .clock import Clock, SystemClock
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
    from .tasks import Task
    from .worker import HandlerWorker, JobContext, JobWorker

#: Where each lazily loaded public name lives (the errors above are imported at once).
_LAZY = {
    **dict.fromkeys(["Clock", "SystemClock"], ".clock"),
    "JobEvent": ".events",
    **dict.fromkeys(
        ["Attempt", "CancelledJob", "CompleteJob", "ErrorInfo", "FailedJob", "Job",
         "Metadata", "PendingJob", "Progress", "RunningJob", "Status", "WorkerInfo"],
        ".job",
    ),
    "JobQueue": ".queue",
    "AsyncJobQueue": ".aio",
    "Task": ".tasks",
    "RateLimit": ".ratelimit",
    "RetryPolicy": ".retry",
    "CronPatterns": ".schedules.cron",
    "Schedule": ".schedules.model",
    **dict.fromkeys(["HandlerWorker", "JobContext", "JobWorker"], ".worker"),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use. Anything else is an AttributeError,
    which is also what lets ``from jobqueue import codec`` find the submodule."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module, __name__), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AsyncJobQueue",
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
    "Task",
    "WorkerInfo",
]
