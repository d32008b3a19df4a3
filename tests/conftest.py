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
from jobqueue.job import Metadata, PendingJob, WorkerInfo

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
