"""Shared fixtures: real files in tmp_path, a fake clock and predictable ids."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobqueue import JobQueue
from jobqueue.backend import (
    Backend,
    CancelRequests,
    EventLog,
    JobStore,
    ScheduleStore,
    SharedState,
    Wakeups,
    WorkerRegistry,
)
from jobqueue.clock import Clock
from jobqueue.job import Metadata, PendingJob, WorkerInfo

#: The ``cli`` and ``api`` fixtures (tests/cli_runs.py), for every CLI test module.
pytest_plugins = ["cli_runs"]

START = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass
class FakeClock:
    """A clock that only moves when a test says so."""

    current: datetime = START

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class SeqIds:
    """Ids job-000001, job-000002, ...: sortable and easy to read in failures."""

    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __call__(self, now: datetime) -> str:
        return f"job-{next(self.counter):06d}"


@dataclass(frozen=True)
class Assembled:
    """A Backend made of a real backend's parts with some replaced by test doubles (a
    jobs part that fails like a broken disk, wake-ups that never come):
    ``Assembled.of(FileBackend(data_dir), jobs=Broken(...))``. A replaced part reaches the
    rest of the store only through the real parts it delegates to."""

    inner: Backend
    jobs: JobStore
    cancels: CancelRequests
    events: EventLog
    workers: WorkerRegistry
    schedules: ScheduleStore
    shared: SharedState
    wakeups: Wakeups

    @classmethod
    def of(cls, inner: Backend, **parts: Any) -> Assembled:
        names = ("jobs", "cancels", "events", "workers", "schedules", "shared", "wakeups")
        unknown = set(parts) - set(names)
        assert not unknown, f"a Backend has no part {unknown}"
        return cls(inner, **({name: getattr(inner, name) for name in names} | parts))

    @property
    def location(self) -> str:
        return self.inner.location

    @property
    def process_local(self) -> bool:
        return self.inner.process_local

    @property
    def clock(self) -> Clock:
        return self.inner.clock

    @property
    def url(self) -> str:
        return self.inner.url

    def reopen(self) -> Backend:
        """Another process's view: the real store, without the doubles."""
        return self.inner.reopen()

    def close(self) -> None:
        self.inner.close()


WORKER_A = WorkerInfo(name="worker-a", host="test-host", pid=1001)
WORKER_B = WorkerInfo(name="worker-b", host="test-host", pid=1002)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def queue(data_dir: Path, clock: FakeClock) -> JobQueue:
    return JobQueue(data_dir, durable=False, clock=clock, new_id=SeqIds())


@pytest.fixture
def make_job(clock: FakeClock) -> Callable[..., PendingJob]:
    """Build a PendingJob without storing it: make_job(type="x", priority=1, ...)."""
    ids = SeqIds()

    def make(params: Any = None, **meta: Any) -> PendingJob:
        meta.setdefault("id", ids(clock.now()))
        meta.setdefault("type", "resize")
        meta.setdefault("created", clock.now())
        meta.setdefault("run_at", clock.now())
        return PendingJob(metadata=Metadata(**meta), params={} if params is None else params)

    return make
