"""Helpers for testing code that uses jobqueue: run jobs in the test's own process, with
time that only moves when the helpers move it.

* ``FakeClock``: a clock for ``JobQueue(..., clock=)`` and workers.
* ``run_until_empty(queue_or_worker)``: run every job until none is left, delayed jobs
  and retries included, jumping the clock to each next due time instead of sleeping.
* ``isolated(queue)``: point a queue your application defines (and its tasks) at a fresh
  ``memory://`` store with a fake clock, for the duration of a ``with`` block.
* ``memory_queue``: a pytest fixture giving a fresh ``JobQueue("memory://")`` with a
  FakeClock. Use it with ``pytest_plugins = ["jobqueue.testing"]`` in your
  ``conftest.py`` (or import it there). Nothing is registered for you: importing
  jobqueue never changes your test run.

This module needs pytest only for the fixture.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from .backend import open_backend
from .clock import Clock
from .errors import JobQueueError
from .job import CancelledJob, CompleteJob, FailedJob, RunningJob
from .queue import JobQueue
from .waiting import ENDING
from .worker import HandlerWorker, JobContext, JobWorker
from .worker.upkeep import KEEP_ALL

#: Where a FakeClock starts unless told: a fixed instant, so tests repeat exactly.
START = datetime(2030, 1, 1, tzinfo=UTC)

Ended = CompleteJob | FailedJob | CancelledJob


class FakeClock:
    """A clock that moves only when told (``advance``), and never backwards. Thread-safe:
    a worker reads it from its threads."""

    def __init__(self, start: datetime = START) -> None:
        if start.tzinfo is None:
            raise ValueError("a FakeClock starts at an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FakeClock({self.now().isoformat()})"

    def now(self) -> datetime:
        """The current fake time (aware UTC)."""
        with self._lock:
            return self._now

    def advance(self, seconds: float | timedelta) -> datetime:
        """Move forward by ``seconds``; returns the new time."""
        step = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        if step < timedelta(0):
            raise ValueError("a FakeClock does not go back")
        with self._lock:
            self._now += step
            return self._now

    def advance_to(self, when: datetime) -> datetime:
        """Move forward to ``when`` (nothing happens if it is not later)."""
        with self._lock:
            self._now = max(self._now, when.astimezone(UTC))
            return self._now


@runtime_checkable
class AdvancingClock(Clock, Protocol):
    """What ``run_until_empty`` needs of a clock: it can be moved to a later time."""

    def advance_to(self, when: datetime) -> datetime:
        """Move forward to ``when``."""
        ...


class TooManyJobs(JobQueueError, AssertionError):
    """``run_until_empty`` ran ``max_jobs`` attempts and more were due: most likely a job
    that enqueues itself, or one that always fails with unlimited retries."""


def run_until_empty(
    target: JobQueue | JobWorker,
    *,
    clock: AdvancingClock | None = None,
    max_jobs: int = 1000,
) -> list[Ended]:
    """Run every job in this process until none is left that the worker takes, jumping
    the clock to each next due time (delayed jobs, retry backoffs) instead of sleeping.
    Returns the jobs that ended, in the order they ended (a job retried and then
    completed appears once, completed). Jobs enqueued by the jobs run too.

    ``target``: a worker, or a queue (served by ``HandlerWorker(queue)``: its tasks).
    ``clock``: the clock the worker uses (default: the queue's), which must have
    ``advance_to``, as ``FakeClock`` has. Jobs of types the worker does not take are left
    pending. TooManyJobs after ``max_jobs`` attempts (each retry is an attempt)."""
    if isinstance(target, JobWorker):
        worker = target
        if clock is not None and clock is not worker.clock:
            raise ValueError("clock= must be the worker's own clock (or left out)")
    else:
        worker = HandlerWorker(target, clock=clock, retention=KEEP_ALL)
    moving = _advancing(worker.clock)
    counter = _Counter(worker, max_jobs)
    ended: dict[str, Ended] = {}
    worker.middleware.insert(0, counter)
    try:
        while True:
            _burst(worker, ended)
            counter.check()
            due = worker.jobs.next_due(worker._types())
            if due is None or due <= moving.now():
                return list(ended.values())  # none left, or only jobs the worker refuses
            moving.advance_to(due)
    finally:
        worker.middleware.remove(counter)


def _burst(worker: JobWorker, ended: dict[str, Ended]) -> None:
    """One burst run, adding the jobs it ended to ``ended`` (a job's last end moves it to
    the end). Its events are read at once: a store keeps events for 48 hours of the
    clock, and the next burst may be weeks later."""
    followed = worker.queue.backend.events.follow(idle_timeout=0)  # positioned now
    worker.run(burst=True, handle_signals=False)
    for event in followed:
        if event.event in ENDING:
            ended.pop(event.job_id, None)
            ended[event.job_id] = event.job  # type: ignore[assignment]  # an ending event's job


def _advancing(clock: Clock) -> AdvancingClock:
    if not isinstance(clock, AdvancingClock):
        raise TypeError(
            "run_until_empty moves time forward: give the queue (or the worker) a "
            "jobqueue.testing.FakeClock"
        )
    return clock


class _Counter:
    """Middleware counting attempts; at ``max_jobs`` it stops the worker (the attempt
    that reaches the limit still runs, so every job stays in a state of its own)."""

    def __init__(self, worker: JobWorker, max_jobs: int) -> None:
        self.worker = worker
        self.max_jobs = max_jobs
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, job: RunningJob, ctx: JobContext, call_next: Callable[[], Any]) -> Any:
        with self._lock:
            self.count += 1
            full = self.count >= self.max_jobs
        if full:
            self.worker.stop()
        return call_next()

    def check(self) -> None:
        """TooManyJobs if the limit was reached and jobs are still waiting."""
        if self.count >= self.max_jobs and self.worker.jobs.next_due(self.worker._types()):
            raise TooManyJobs(f"ran {self.count} attempts (max_jobs) and jobs are still pending")


@contextmanager
def isolated(queue: JobQueue, clock: FakeClock | None = None) -> Iterator[FakeClock]:
    """Point ``queue`` (and so its tasks: ``send_email.enqueue``) at a fresh ``memory://``
    store with a FakeClock until the block ends; yields the clock. For the queue your
    application defines at import: ``with isolated(app.queue): ...`` in a test or fixture."""
    clock = clock or FakeClock()
    saved = queue.backend, queue.clock, queue.__dict__.pop("_schedules", None)
    queue.backend, queue.clock = open_backend("memory://"), clock
    try:
        yield clock
    finally:
        queue.__dict__.pop("_schedules", None)  # built on the memory store
        queue.backend, queue.clock = saved[0], saved[1]
        if saved[2] is not None:
            queue.__dict__["_schedules"] = saved[2]


try:
    import pytest
except ImportError:  # the helpers above work without pytest; only the fixture needs it
    pass
else:

    @pytest.fixture
    def memory_queue() -> Iterator[JobQueue]:
        """A fresh ``JobQueue("memory://")`` whose clock (``queue.clock``) is a FakeClock."""
        queue = JobQueue("memory://", clock=FakeClock())
        yield queue
        queue.close()
