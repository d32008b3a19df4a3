"""Pin the public names: adding or dropping one from ``jobqueue`` must be a deliberate change."""

from __future__ import annotations

import jobqueue

# Promised by INTERFACE.md and importable today.
PROMISED = {
    "JobQueue",
    "Job", "PendingJob", "RunningJob", "CompleteJob", "FailedJob", "CancelledJob",
    "JobQueueError", "JobNotFound", "InvalidJob", "JobCancelled", "JobTimeout", "PermanentError",
    "RetryPolicy", "JobWorker", "HandlerWorker", "JobContext", "RateLimit",
    "CronPatterns", "Schedule", "ScheduleNotFound", "JobEvent", "AsyncJobQueue",
}  # fmt: skip
# Not promised by name, but public on purpose: what a job is made of, the clock seam,
# and errors a caller may catch or (RetryLater) raise in a handler.
ALSO_PUBLIC = {
    "Metadata", "WorkerInfo", "Progress", "ErrorInfo", "Attempt", "Status",
    "StaleJob", "StoreError", "RetryLater", "RateLimited", "Clock", "SystemClock", "Task",
}  # fmt: skip
ERRORS = ["JobNotFound", "InvalidJob", "JobCancelled", "JobTimeout", "PermanentError", "StaleJob"]


def test_all_is_exactly_the_public_names() -> None:
    assert sorted(jobqueue.__all__) == sorted(PROMISED | ALSO_PUBLIC)


def test_every_public_name_imports() -> None:
    namespace: dict[str, object] = {}
    exec("from jobqueue import *", namespace)
    assert set(jobqueue.__all__) <= namespace.keys()


def test_every_error_descends_from_job_queue_error() -> None:
    for name in [*ERRORS, "StoreError", "RetryLater"]:
        assert issubclass(getattr(jobqueue, name), jobqueue.JobQueueError), name
