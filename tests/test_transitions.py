"""transitions: every state change as a pure function, checked without files or clocks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from jobqueue import transitions
from jobqueue.job import (
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
    WorkerInfo,
)

T0 = datetime(2030, 1, 1, tzinfo=UTC)
STARTED = T0 + timedelta(seconds=10)
NOW = T0 + timedelta(seconds=70)
WORKER = WorkerInfo(name="worker-a", host="host-1", pid=1001)
OTHER = WorkerInfo(name="worker-b", host="host-2", pid=2002)
BOOM = ErrorInfo(type="ValueError", message="bad pixel", traceback="Traceback ...")
EARLIER = Attempt(started_at=T0, ended_at=T0 + timedelta(seconds=1), worker=OTHER, error=BOOM)
META = Metadata(id="job-000001", type="resize", created=T0, run_at=T0, max_retries=2)
PENDING = PendingJob(metadata=META, params={"path": "a.png"}, attempts=(EARLIER,))
RUNNING = transitions.start(PENDING, WORKER, STARTED)


def ended_now(error: ErrorInfo | None) -> Attempt:
    """The attempt RUNNING records when it ends at NOW."""
    return Attempt(started_at=STARTED, ended_at=NOW, worker=WORKER, error=error)


# --- transitions that end an attempt: exactly one more entry in attempts ------------------

Ending = Callable[[RunningJob], Job]
ENDINGS: dict[str, tuple[Ending, type, ErrorInfo | None]] = {
    "complete": (lambda j: transitions.complete(j, {"w": 640}, NOW), CompleteJob, None),
    "fail, retry left": (
        lambda j: transitions.fail(j, BOOM, NOW, timedelta(seconds=8)), PendingJob, BOOM,
    ),
    "fail for good": (lambda j: transitions.fail(j, BOOM, NOW, None), FailedJob, BOOM),
    "lost": (
        lambda j: transitions.lost(j, NOW, "pid 1001 is gone"),
        PendingJob,
        ErrorInfo(type="WorkerLost", message="pid 1001 is gone"),
    ),
    "cancel running": (
        lambda j: transitions.cancel_running(j, "user asked", NOW),
        CancelledJob,
        ErrorInfo(type="JobCancelled", message="user asked"),
    ),
}  # fmt: skip


@pytest.mark.parametrize(("end", "kind", "error"), ENDINGS.values(), ids=ENDINGS.keys())
def test_ending_an_attempt_records_exactly_one_attempt(
    end: Ending, kind: type, error: ErrorInfo | None
) -> None:
    new = end(RUNNING)
    assert type(new) is kind
    assert new.attempts == (EARLIER, ended_now(error))
    assert (new.metadata.id, new.params) == (META.id, PENDING.params)


# --- transitions that end no attempt: attempts untouched ----------------------------------

FAILED = FailedJob(
    metadata=META, params=PENDING.params, attempts=(EARLIER,), failed_at=NOW, error=BOOM
)
CANCELLED = CancelledJob(
    metadata=META, params=PENDING.params, attempts=(EARLIER,), cancelled_at=NOW
)
KEEPING: dict[str, Callable[[], Job]] = {
    "start": lambda: transitions.start(PENDING, WORKER, NOW),
    "heartbeat": lambda: transitions.heartbeat(RUNNING, NOW),
    "release": lambda: transitions.release(RUNNING),
    "cancel pending": lambda: transitions.cancel_pending(PENDING, None, NOW),
    "retry failed": lambda: transitions.retry(FAILED, NOW),
    "retry cancelled": lambda: transitions.retry(CANCELLED, NOW),
}


@pytest.mark.parametrize("change", KEEPING.values(), ids=KEEPING.keys())
def test_changes_that_end_no_attempt_keep_the_history(change: Callable[[], Job]) -> None:
    new = change()
    assert new.attempts == (EARLIER,)
    assert new.params == PENDING.params


def test_start_makes_a_running_job_owned_by_the_worker() -> None:
    running = transitions.start(PENDING, WORKER, NOW)
    assert running == RunningJob(
        metadata=META,
        params=PENDING.params,
        attempts=(EARLIER,),
        started_at=NOW,
        heartbeat_at=NOW,
        worker=WORKER,
        progress=None,
    )


def test_heartbeat_moves_only_the_lease() -> None:
    beat = transitions.heartbeat(RUNNING, NOW)
    assert beat == replace(RUNNING, heartbeat_at=NOW)
    assert beat.started_at == STARTED


def test_heartbeat_carries_new_progress_and_keeps_the_last_one() -> None:
    progress = Progress(percentage=40.0, stage="resizing", message="a.png")
    with_progress = transitions.heartbeat(RUNNING, NOW, progress)
    later = transitions.heartbeat(with_progress, NOW + timedelta(seconds=5))
    assert with_progress.progress == progress
    assert later.progress == progress


def test_complete_keeps_start_time_and_result() -> None:
    done = transitions.complete(RUNNING, [1, 2], NOW)
    assert (done.started_at, done.completed_at, done.result) == (STARTED, NOW, [1, 2])
    assert done.metadata == META


def test_a_failure_with_a_delay_is_retried_later() -> None:
    again = transitions.fail(RUNNING, BOOM, NOW, timedelta(seconds=8))
    assert isinstance(again, PendingJob)
    assert again.metadata == replace(META, retry_count=1, run_at=NOW + timedelta(seconds=8))


def test_a_failure_without_a_delay_fails_the_job() -> None:
    failed = transitions.fail(RUNNING, BOOM, NOW, None)
    assert isinstance(failed, FailedJob)
    assert (failed.failed_at, failed.error, failed.metadata) == (NOW, BOOM, META)


@pytest.mark.parametrize(
    ("retry_count", "kind"), [(0, PendingJob), (1, PendingJob), (2, FailedJob)]
)
def test_a_lost_attempt_counts_against_max_retries(retry_count: int, kind: type) -> None:
    running = replace(RUNNING, metadata=replace(META, retry_count=retry_count))
    assert isinstance(transitions.lost(running, NOW, "gone"), kind)


def test_a_lost_job_is_due_at_once_with_one_more_retry_counted() -> None:
    again = transitions.lost(RUNNING, NOW, "gone")
    assert isinstance(again, PendingJob)
    assert (again.metadata.retry_count, again.metadata.run_at) == (1, NOW)


def test_a_lost_job_without_retries_fails_as_worker_lost() -> None:
    running = replace(RUNNING, metadata=replace(META, max_retries=0))
    failed = transitions.lost(running, NOW, "gone")
    assert isinstance(failed, FailedJob)
    assert failed.error == ErrorInfo(type="WorkerLost", message="gone")


def test_release_hands_the_job_back_unchanged() -> None:
    assert transitions.release(RUNNING) == PENDING


@pytest.mark.parametrize("reason", [None, "user asked"])
def test_cancel_pending_records_when_and_why(reason: str | None) -> None:
    cancelled = transitions.cancel_pending(PENDING, reason, NOW)
    assert (cancelled.cancelled_at, cancelled.reason, cancelled.metadata) == (NOW, reason, META)


def test_cancel_running_without_reason_still_names_the_error() -> None:
    cancelled = transitions.cancel_running(RUNNING, None, NOW)
    assert cancelled.reason is None
    assert cancelled.attempts[-1].error == ErrorInfo(type="JobCancelled", message="cancelled")


@pytest.mark.parametrize("job", [FAILED, CANCELLED], ids=["failed", "cancelled"])
def test_retry_makes_the_job_due_now_with_a_fresh_count(job: FailedJob | CancelledJob) -> None:
    later = NOW + timedelta(hours=1)
    again = transitions.retry(replace(job, metadata=replace(META, retry_count=2)), later)
    assert again.metadata == replace(META, retry_count=0, run_at=later)
    assert again.attempts == job.attempts


def pending(job: Job) -> PendingJob:
    assert isinstance(job, PendingJob)
    return job


def test_history_survives_retries_reaping_and_manual_retry() -> None:
    t = [T0 + timedelta(minutes=m) for m in range(10)]
    job = PendingJob(metadata=META, params={})
    job = pending(transitions.fail(transitions.start(job, WORKER, t[0]), BOOM, t[1], timedelta(0)))
    job = pending(transitions.lost(transitions.start(job, OTHER, t[2]), t[3], "gone"))
    assert job.metadata.retry_count == 2
    failed = transitions.fail(transitions.start(job, WORKER, t[4]), BOOM, t[5], None)
    assert isinstance(failed, FailedJob)
    job = transitions.retry(failed, t[6])
    assert job.metadata.retry_count == 0
    done = transitions.complete(transitions.start(job, OTHER, t[7]), "ok", t[8])
    assert [(a.started_at, a.ended_at, a.worker) for a in done.attempts] == [
        (t[0], t[1], WORKER),
        (t[2], t[3], OTHER),
        (t[4], t[5], WORKER),
        (t[7], t[8], OTHER),
    ]
    assert [a.error and a.error.type for a in done.attempts] == [
        "ValueError", "WorkerLost", "ValueError", None,
    ]  # fmt: skip
