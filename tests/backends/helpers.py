"""Small steps the contract tests share: claim, end and name jobs through the protocol."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

from conftest import WORKER_A, FakeClock

from jobqueue import transitions
from jobqueue.backend import JobStore
from jobqueue.job import CompleteJob, ErrorInfo, FailedJob, Job, PendingJob, RunningJob

MakeJob = Callable[..., PendingJob]
BOOM = ErrorInfo(type="Boom", message="it broke")
#: How long a test waits for something another thread or process does, at most.
WAIT = 5.0


def claim(jobs: JobStore, clock: FakeClock, types: set[str] | None = None) -> RunningJob:
    job = jobs.claim(WORKER_A, clock.now(), types)
    assert job is not None, "expected a due job"
    return job


def ago(clock: FakeClock, seconds: float) -> dict[str, object]:
    """make_job(**ago(clock, 5)): due since five seconds."""
    return {"run_at": clock.now() - timedelta(seconds=seconds)}


def later(clock: FakeClock, seconds: float) -> dict[str, object]:
    """make_job(**later(clock, 5)): deferred, due in five seconds."""
    return {"run_at": clock.now() + timedelta(seconds=seconds)}


def ids(jobs: Iterable[Job]) -> list[str]:
    return [j.metadata.id for j in jobs]


def complete(jobs: JobStore, job: RunningJob, clock: FakeClock) -> CompleteJob:
    done = transitions.complete(job, {"ok": True}, clock.now())
    jobs.move(job, done)
    return done


def fail_for_good(jobs: JobStore, job: RunningJob, clock: FakeClock) -> FailedJob:
    failed = transitions.fail(job, BOOM, clock.now(), None)
    assert isinstance(failed, FailedJob)
    jobs.move(job, failed)
    return failed


def run_together(tasks: list[Callable[[], None]]) -> None:
    """Run each task in its own thread, all released at once; fail if one is still
    running after ``WAIT`` seconds per task (no test hangs), or if one raised."""
    start = threading.Barrier(len(tasks))
    errors: list[BaseException] = []

    def run(task: Callable[[], None]) -> None:
        try:
            start.wait(timeout=WAIT)
            task()
        except BaseException as e:  # handed to the test thread below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(task,), daemon=True) for task in tasks]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + WAIT * len(tasks)
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a thread did not finish in time"
    if errors:
        raise errors[0]
