"""A worker whose backend fails (a database restart, a disk that comes back) keeps its
running jobs, backs off, logs once per streak and resumes; a burst run gives up with
the StoreError. And a process-isolated job's child opens its own backend.

The failing backend is the in-memory one with its jobs part switched off on demand:
every call raises a StoreError whose cause is a ConnectionError, as a database
backend's would.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from worker_runs import FAST, burst, running

from jobqueue import CompleteJob, HandlerWorker, JobContext, JobQueue, StoreError
from jobqueue.backends.memory import MemoryBackend
from jobqueue.errors import InvalidOption
from jobqueue.worker.base import BURST_ERROR_LIMIT


class SwitchableJobs:
    """The jobs part of another backend, which raises StoreError while ``down`` is set,
    or for the next ``fail_next`` calls; a move to an ended job while ``lose_answers``
    is set is made, and then raises (a commit whose answer the connection lost)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.down = threading.Event()
        self.lose_answers = threading.Event()
        self.fail_next = 0
        self.calls_while_down = 0

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down.is_set() or self.fail_next > 0:
                self.fail_next -= 1
                self.calls_while_down += 1
                raise StoreError("the store is down") from ConnectionError("refused")
            result = method(*args, **kwargs)
            if name == "move" and args[1].status != "running" and self.lose_answers.is_set():
                raise StoreError("connection lost") from ConnectionError("timed out")
            return result

        return call


class FlakyBackend(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.jobs: SwitchableJobs = SwitchableJobs(self.jobs)  # type: ignore[assignment]


@pytest.fixture
def backend() -> FlakyBackend:
    return FlakyBackend()


@pytest.fixture
def queue(backend: FlakyBackend) -> JobQueue:
    return JobQueue(backend)


def store_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "store error" in r.getMessage()]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    done = threading.Event()
    deadline = threading.Timer(timeout, done.set)
    deadline.start()
    try:
        while not condition():
            if done.wait(0.01):
                pytest.fail(f"not true within {timeout}s")
    finally:
        deadline.cancel()


def test_a_running_job_survives_an_outage_and_its_end_is_recorded_after(
    queue: JobQueue, backend: FlakyBackend
) -> None:
    started, release = threading.Event(), threading.Event()
    worker = HandlerWorker(queue, **FAST)

    @worker.handler("work")
    def work(params: Any, ctx: JobContext) -> str:
        started.set()
        release.wait(10)
        return "done"

    job = queue.enqueue("work")
    with running(worker):
        assert started.wait(10)
        backend.jobs.down.set()
        release.set()
        wait_until(lambda: backend.jobs.calls_while_down >= 3)  # it tried, and backs off
        backend.jobs.down.clear()
        wait_until(lambda: isinstance(queue.get_job(job.metadata.id), CompleteJob))


@pytest.mark.parametrize("outcome", ["complete", "pending"])
def test_an_end_that_committed_though_its_answer_was_lost_is_not_a_lost_job(
    queue: JobQueue, backend: FlakyBackend, caplog: pytest.LogCaptureFixture, outcome: str
) -> None:
    """The retried write is refused (the job already ended), yet the job is this
    worker's: its hooks run and nothing says it was taken away."""
    caplog.set_level(logging.INFO, logger="jobqueue")
    ended: list[str] = []

    class Recording(HandlerWorker):
        def on_job_completed(self, job: Any) -> None:
            ended.append(job.status)

        def on_job_retrying(self, job: Any, error: BaseException) -> None:
            ended.append(job.status)

    worker = Recording(queue, **{**FAST, "error_backoff": 0.01})

    @worker.handler("work")
    def work(params: Any, ctx: JobContext) -> str:
        backend.jobs.lose_answers.set()
        if outcome == "pending":
            raise ValueError("try again")
        return "done"

    job = queue.enqueue("work", max_retries=1)
    with running(worker):
        wait_until(lambda: ended == [outcome])
    assert queue.get_job(job.metadata.id).status == outcome  # type: ignore[union-attr]
    assert not [r for r in caplog.records if "changed under its worker" in r.getMessage()]


def test_an_outage_is_logged_once_and_the_worker_resumes(
    queue: JobQueue, backend: FlakyBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jobqueue")
    worker = HandlerWorker(queue, **{**FAST, "error_backoff": 0.02})
    worker.register_handler("work", lambda params, ctx: "ok")
    backend.jobs.down.set()
    with running(worker):
        wait_until(lambda: backend.jobs.calls_while_down >= 20)  # many failed claims...
        assert len(store_errors(caplog)) == 1  # ...one line
        backend.jobs.down.clear()
        job = queue.enqueue("work")
        wait_until(lambda: isinstance(queue.get_job(job.metadata.id), CompleteJob))
    assert any("the store is back" in r.getMessage() for r in caplog.records)


def test_a_burst_run_gives_up_with_the_store_error(queue: JobQueue, backend: FlakyBackend) -> None:
    worker = HandlerWorker(queue, **{**FAST, "error_backoff": 0.01})
    backend.jobs.down.set()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            worker.run(burst=True, handle_signals=False)
        except StoreError as e:
            failure.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "a burst run on a dead store must not run forever"
    [error] = failure
    assert isinstance(error.__cause__, ConnectionError)
    assert backend.jobs.calls_while_down >= BURST_ERROR_LIMIT


def test_a_burst_run_rides_out_a_short_outage(queue: JobQueue, backend: FlakyBackend) -> None:
    worker = HandlerWorker(queue, **{**FAST, "error_backoff": 0.01})
    worker.register_handler("work", lambda params, ctx: "ok")
    job = queue.enqueue("work")
    backend.jobs.fail_next = BURST_ERROR_LIMIT - 1  # back just before the limit
    burst(worker)
    assert isinstance(queue.get_job(job.metadata.id), CompleteJob)


# --- fork safety ------------------------------------------------------------------------


def test_a_process_isolated_job_uses_its_own_backend(data_dir: Path) -> None:
    queue = JobQueue(data_dir, durable=False)
    parent_backend = queue.backend
    worker = HandlerWorker(queue, isolation="process", **FAST)

    @worker.handler("spawn")
    def spawn(params: Any, ctx: JobContext) -> dict[str, Any]:
        assert ctx.queue is not None
        child = ctx.queue.enqueue("follow-up", {"from": os.getpid()})
        return {
            "pid": os.getpid(),
            "own_backend": ctx.queue.backend is not parent_backend,
            "child_job": child.metadata.id,
        }

    worker.register_handler("follow-up", lambda params, ctx: None)
    job = queue.enqueue("spawn")
    burst(worker, timeout=30)
    done = queue.get_job(job.metadata.id)
    assert isinstance(done, CompleteJob), done
    assert done.result["pid"] != os.getpid()
    assert done.result["own_backend"] is True
    follow_up = queue.get_job(done.result["child_job"])
    assert isinstance(follow_up, CompleteJob)  # the parent saw what the child enqueued


def test_process_isolation_is_refused_on_a_process_local_store() -> None:
    with pytest.raises(InvalidOption, match="memory://"):
        HandlerWorker(JobQueue("memory://"), isolation="process")
