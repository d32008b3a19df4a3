"""jobqueue.testing: run every job in the test's process, delayed jobs and retries
included, with a clock the helper moves instead of sleeping; the memory_queue fixture;
isolated(queue) for a queue an application defines at import."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from jobqueue import CompleteJob, JobContext, JobQueue, JobWorker, RetryPolicy, RunningJob
from jobqueue.testing import FakeClock, TooManyJobs, isolated, memory_queue, run_until_empty

__all__ = ["memory_queue"]  # the fixture, imported so that tests here can use it


def test_the_fixture_gives_a_fresh_memory_queue_with_a_fake_clock(memory_queue: JobQueue) -> None:
    assert memory_queue.location == "memory://" and memory_queue.stats()["total"] == 0
    assert isinstance(memory_queue.clock, FakeClock)


def test_delayed_jobs_and_retries_run_without_sleeping(memory_queue: JobQueue) -> None:
    clock = memory_queue.clock
    assert isinstance(clock, FakeClock)
    start, attempts = clock.now(), []

    @memory_queue.task(max_retries=3)
    def flaky(params: Any, ctx: JobContext) -> int:
        attempts.append(clock.now())
        if len(attempts) < 3:
            raise ValueError("not yet")
        return len(attempts)

    @memory_queue.task
    def remind(params: Any, ctx: JobContext) -> str:
        return "sent"

    reminder = remind.enqueue(delay=timedelta(days=3))
    job = flaky.enqueue()
    began = time.monotonic()
    ran = run_until_empty(memory_queue)
    assert time.monotonic() - began < 5  # three days and two backoffs, not slept
    assert [(j.metadata.id, j.status) for j in ran] == [
        (job.metadata.id, "complete"),
        (reminder.metadata.id, "complete"),
    ]
    assert isinstance(ran[0], CompleteJob) and ran[0].result == 3
    assert attempts[0] == start < attempts[1] < attempts[2]  # the backoffs moved the clock
    assert clock.now() == start + timedelta(days=3)
    assert memory_queue.stats()["pending"] == 0


def test_jobs_enqueued_by_jobs_run_too(memory_queue: JobQueue) -> None:
    @memory_queue.task
    def countdown(params: dict[str, int], ctx: JobContext) -> int:
        if params["n"]:
            countdown.enqueue({"n": params["n"] - 1}, delay=60)
        return params["n"]

    countdown.enqueue({"n": 3})
    ran = run_until_empty(memory_queue)
    assert [j.result for j in ran if isinstance(j, CompleteJob)] == [3, 2, 1, 0]


def test_a_job_that_never_stops_enqueueing_is_caught(memory_queue: JobQueue) -> None:
    @memory_queue.task
    def forever(params: Any, ctx: JobContext) -> None:
        forever.enqueue()

    forever.enqueue()
    with pytest.raises(TooManyJobs, match="ran 10 attempts"):
        run_until_empty(memory_queue, max_jobs=10)


def test_a_worker_is_run_with_its_own_settings() -> None:
    clock = FakeClock()
    queue = JobQueue("memory://", clock=clock)

    class Resize(JobWorker):
        job_types: ClassVar[set[str]] = {"resize"}

        def execute_job(self, job: RunningJob, ctx: JobContext) -> int:
            raise ValueError("bad image")

    worker = Resize(queue, retry_policy=RetryPolicy(base=3600, max_delay=86400, jitter=0))
    job = queue.enqueue("resize", max_retries=2)
    other = queue.enqueue("report", delay=10)  # not the worker's: left pending
    ran = run_until_empty(worker)
    assert [(j.metadata.id, j.status) for j in ran] == [(job.metadata.id, "failed")]
    assert clock.now() == datetime(2030, 1, 1, 3, tzinfo=UTC)  # 1 h, then 2 h of backoff
    assert queue.get_job(other.metadata.id) == other
    with pytest.raises(ValueError, match="the worker's own clock"):
        run_until_empty(worker, clock=FakeClock())


def test_a_queue_on_the_real_clock_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="FakeClock"):
        run_until_empty(JobQueue("memory://"))


def test_isolated_points_an_application_queue_at_memory(tmp_path: Path) -> None:
    app_queue = JobQueue(tmp_path / "data", durable=False)

    @app_queue.task
    def send_email(params: dict[str, str], ctx: JobContext) -> str:
        return params["to"]

    with isolated(app_queue) as clock:
        job = send_email.enqueue({"to": "a@example.com"}, delay=30)
        assert app_queue.location == "memory://"
        assert [j.result for j in run_until_empty(app_queue)] == ["a@example.com"]  # type: ignore[union-attr]
        assert clock.now() == job.metadata.run_at
    assert app_queue.location == str(tmp_path / "data")
    assert app_queue.stats()["total"] == 0  # nothing reached the data directory


def test_the_fake_clock() -> None:
    clock = FakeClock(datetime(2031, 5, 1, 12, tzinfo=UTC))
    assert clock.advance(90) == datetime(2031, 5, 1, 12, 1, 30, tzinfo=UTC)
    assert clock.advance_to(datetime(2031, 5, 1, tzinfo=UTC)) == clock.now()  # not back
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        FakeClock(datetime(2031, 5, 1))
