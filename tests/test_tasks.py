"""@queue.task: a job type defined once with its handler and default options; HandlerWorker
serves the tasks of its queue and says so in its registry record; health() names due
jobs of a type no live worker serves."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from conftest import FakeClock

from jobqueue import (
    CompleteJob,
    HandlerWorker,
    InvalidJob,
    JobContext,
    JobQueue,
    PendingJob,
    RetryPolicy,
    RunningJob,
)
from jobqueue.backend import WorkerRecord
from jobqueue.health import HealthLimits
from jobqueue.process import hostname, start_ticks


@pytest.fixture
def queue(clock: FakeClock) -> JobQueue:
    return JobQueue("memory://", clock=clock)


def test_a_task_enqueues_with_its_defaults(queue: JobQueue, clock: FakeClock) -> None:
    @queue.task(max_retries=5, timeout=30, priority=2)
    def send_email(params: dict[str, str], ctx: JobContext) -> None: ...

    job = send_email.enqueue({"to": "a@example.com"})
    meta = job.metadata
    assert (meta.type, meta.max_retries, meta.timeout, meta.priority) == ("send_email", 5, 30, 2)
    assert job.params == {"to": "a@example.com"} and meta.run_at == clock.now()


def test_each_call_may_override_the_defaults(queue: JobQueue, clock: FakeClock) -> None:
    @queue.task(max_retries=5, priority=2, delay=60)
    def report(params: dict[str, int], ctx: JobContext) -> None: ...

    job = report.enqueue({"day": 1}, priority=-1, delay=timedelta(seconds=5))
    assert (job.metadata.priority, job.metadata.max_retries) == (-1, 5)
    assert job.metadata.run_at == clock.now() + timedelta(seconds=5)
    many = report.enqueue_many([{"day": 2}, {"day": 3}], max_retries=0)
    assert [(j.metadata.priority, j.metadata.max_retries) for j in many] == [(2, 0), (2, 0)]
    assert all(j.metadata.run_at == clock.now() + timedelta(seconds=60) for j in many)
    assert queue.stats()["pending"] == 3


def test_the_type_defaults_to_the_function_name(queue: JobQueue) -> None:
    @queue.task
    def plain(params: Any, ctx: JobContext) -> int:
        return 1

    @queue.task(type="email.send")
    def other(params: Any, ctx: JobContext) -> int:
        return 2

    assert (plain.type, other.type) == ("plain", "email.send")
    assert queue.tasks.plain is plain and queue.tasks["email.send"] is other
    assert plain({}, None) == 1  # type: ignore[arg-type]  # a task is still its function
    assert [t.type for t in queue.tasks] == ["plain", "email.send"] and "plain" in queue.tasks


def test_a_typo_in_a_task_name_raises_where_it_is_made(queue: JobQueue) -> None:
    @queue.task
    def send_email(params: Any, ctx: JobContext) -> None: ...

    with pytest.raises(AttributeError, match=r"no task 'send_emial'.*did you mean 'send_email'"):
        queue.tasks.send_emial.enqueue({})
    with pytest.raises(KeyError, match="no task 'nope'"):
        queue.tasks["nope"]
    assert queue.stats()["total"] == 0


def test_bad_task_definitions_are_refused_at_once(queue: JobQueue) -> None:
    def handler(params: Any, ctx: JobContext) -> None: ...

    queue.task(handler)
    with pytest.raises(InvalidJob, match="already defined"):
        queue.task(handler)
    with pytest.raises(InvalidJob, match="priority"):
        queue.task(type="x", priority="high")(handler)  # type: ignore[typeddict-item]
    with pytest.raises(InvalidJob, match="unknown task option 'max_retry'"):
        queue.task(type="y", max_retry=3)(handler)  # type: ignore[typeddict-unknown-key]
    with pytest.raises(InvalidJob, match="invalid job type"):
        queue.task(type="../x")(handler)


def test_handler_worker_serves_every_task_of_its_queue(queue: JobQueue, clock: FakeClock) -> None:
    @queue.task
    def double(params: dict[str, int], ctx: JobContext) -> int:
        return params["n"] * 2

    worker = HandlerWorker(queue, clock=clock)

    @queue.task(spread=True)  # defined after the worker: served all the same
    async def add(a: int, b: int) -> int:
        return a + b

    jobs = [double.enqueue({"n": 21}), add.enqueue([40, 2]), add.enqueue({"a": 1, "b": 2})]
    worker.run(burst=True)
    results = [queue.get_job(j.metadata.id) for j in jobs]
    assert [r.result if isinstance(r, CompleteJob) else r for r in results] == [42, 42, 3]


def test_a_task_retries_with_its_own_policy(queue: JobQueue, clock: FakeClock) -> None:
    @queue.task(max_retries=1, retry_policy=RetryPolicy(base=300.0, jitter=0.0))
    def slow_to_retry(params: Any, ctx: JobContext) -> None:
        raise ValueError("boom")

    @queue.task(max_retries=1)
    def worker_default(params: Any, ctx: JobContext) -> None:
        raise ValueError("boom")

    own, default = slow_to_retry.enqueue({}), worker_default.enqueue({})
    HandlerWorker(queue, clock=clock, retry_policy=RetryPolicy(base=7.0, jitter=0.0)).run(
        burst=True
    )
    waits = {
        job.metadata.id: (again.metadata.run_at - clock.now()).total_seconds()
        for job in (own, default)
        if isinstance(again := queue.get_job(job.metadata.id), PendingJob)
    }
    assert waits == {own.metadata.id: 300.0, default.metadata.id: 7.0}


def test_a_handler_registered_on_the_worker_wins(queue: JobQueue, clock: FakeClock) -> None:
    @queue.task
    def charge(params: Any, ctx: JobContext) -> str:
        return "real"

    worker = HandlerWorker(queue, clock=clock)
    worker.register_handler("charge", lambda params, ctx: "stub")
    job = charge.enqueue()
    worker.run(burst=True)
    assert queue.wait(job.metadata.id, timeout=5).result == "stub"  # type: ignore[union-attr]


def test_a_tasks_middleware_runs_inside_the_workers(queue: JobQueue, clock: FakeClock) -> None:
    seen: list[str] = []

    def tag(name: str) -> Callable[[RunningJob, JobContext, Callable[[], Any]], Any]:
        def middleware(job: RunningJob, ctx: JobContext, call_next: Callable[[], Any]) -> Any:
            seen.append(name)
            return [*call_next(), name]

        return middleware

    @queue.task(middleware=[tag("task")])
    async def traced(params: Any, ctx: JobContext) -> list[str]:
        return ["handler"]

    @queue.task
    def untraced(params: Any, ctx: JobContext) -> list[str]:
        return ["handler"]

    worker = HandlerWorker(queue, clock=clock, middleware=[tag("worker")])
    one, two = traced.enqueue(), untraced.enqueue()
    worker.run(burst=True)
    assert queue.wait(one.metadata.id, 5).result == ["handler", "task", "worker"]  # type: ignore[union-attr]
    assert queue.wait(two.metadata.id, 5).result == ["handler", "worker"]  # type: ignore[union-attr]
    assert seen == ["worker", "task", "worker"]


def test_a_handler_workers_record_lists_the_types_it_serves(queue: JobQueue) -> None:
    @queue.task
    def b_task(params: Any, ctx: JobContext) -> None: ...

    worker = HandlerWorker(queue, poll_interval=0.05)
    worker.register_handler("a_handler", lambda params, ctx: None)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not queue.backend.workers.all() and time.monotonic() < deadline:
            time.sleep(0.01)
        records = queue.backend.workers.all()
    finally:
        worker.stop(timeout=10)
    assert [r.types for r in records] == [("a_handler", "b_task")]


# --- health: due jobs that no live worker serves ------------------------------------------


def record(clock: FakeClock, name: str, *types: str) -> WorkerRecord:
    """A live registry record (this test process) serving ``types`` (none: every type)."""
    pid = os.getpid()
    return WorkerRecord(
        name=name, host=hostname(), pid=pid, pid_started=start_ticks(pid),
        started_at=clock.now(), heartbeat_at=clock.now(), concurrency=1, types=types,
    )  # fmt: skip


def verdict(queue: JobQueue, **limits: Any) -> tuple[str, list[str]]:
    health = queue.health(HealthLimits(**limits))
    return health["status"], health["reasons"]


def test_due_jobs_of_a_type_nobody_serves_degrade_health(queue: JobQueue, clock: FakeClock) -> None:
    queue.backend.workers.put(record(clock, "w1", "resize"))
    queue.enqueue("resize")
    queue.enqueue("report", delay=60)  # not due yet: nobody has to serve it now
    assert verdict(queue) == ("healthy", [])
    queue.enqueue("report")
    queue.enqueue("email")
    assert verdict(queue) == (
        "degraded",
        ["no live worker serves the due jobs of types email, report"],
    )
    queue.backend.workers.put(record(clock, "w2", "report", "email"))
    assert verdict(queue) == ("healthy", [])


def test_a_worker_with_no_types_serves_every_type(queue: JobQueue, clock: FakeClock) -> None:
    queue.backend.workers.put(record(clock, "w1", "resize"))
    queue.enqueue("report")
    assert verdict(queue)[0] == "degraded"
    queue.backend.workers.put(record(clock, "w2"))  # registered with no types: takes all
    assert verdict(queue) == ("healthy", [])


def test_a_stale_worker_serves_nothing(queue: JobQueue, clock: FakeClock) -> None:
    queue.backend.workers.put(record(clock, "live", "resize"))
    queue.backend.workers.put(record(clock, "gone", "report"))
    queue.enqueue("report")
    clock.advance(31)  # past the records' stale_after (30 s); "live" beats again below
    queue.backend.workers.put(record(clock, "live", "resize"))
    status, reasons = verdict(queue)
    assert status == "degraded"
    assert "no live worker serves the due jobs of type report" in reasons


def test_a_tasks_due_jobs_are_found_past_the_scan(queue: JobQueue, clock: FakeClock) -> None:
    """Health reads only the oldest pending jobs (``scan_unserved``); a task's type is
    checked through the store's index, however deep the backlog."""

    @queue.task
    def report(params: Any, ctx: JobContext) -> None: ...

    queue.backend.workers.put(record(clock, "w1", "resize"))
    queue.enqueue_many("resize", [{}] * 3)
    queue.enqueue("email")
    report.enqueue()
    assert verdict(queue, scan_unserved=3) == (
        "degraded",
        ["no live worker serves the due jobs of type report"],
    )
    assert "email" in verdict(queue, scan_unserved=10)[1][0]
