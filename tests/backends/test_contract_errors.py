"""The error promise: when the store itself fails (a disk gone bad, a database down),
every method of every part raises ``StoreError`` with the original error as its
``__cause__``, so callers catch ``StoreError`` and nothing wider; no method answers as if
nothing were wrong. It runs on backends that can be broken on demand (``Kind.breaker``):
the file backend's directories become regular files. Memory has nothing that can fail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pytest
from conftest import START, WORKER_B, FakeClock

from jobqueue import transitions
from jobqueue.backend import Backend, WorkerRecord
from jobqueue.errors import StoreError
from jobqueue.job import STATUSES, PendingJob, RunningJob
from jobqueue.schedules.model import Schedule

from .helpers import MakeJob, claim


@dataclass(frozen=True)
class Stored:
    """What the store held before it broke, and a job it never saw."""

    pending: PendingJob
    running: RunningJob
    fresh: PendingJob


NIGHTLY = Schedule(name="nightly", cron="0 3 * * *", type="report", params={})
WORKER = WorkerRecord(
    name="w-1", host="h", pid=1, pid_started=None, started_at=START, heartbeat_at=START,
    concurrency=1,
)  # fmt: skip


@pytest.fixture
def stored(backend: Backend, make_job: MakeJob, clock: FakeClock) -> Stored:
    backend.jobs.add([make_job()])
    running = claim(backend.jobs, clock)
    pending = make_job()
    backend.jobs.add([pending])
    backend.schedules.put(NIGHTLY)
    backend.workers.put(WORKER)
    return Stored(pending, running, make_job())


Operation = Callable[[Backend, Stored, datetime], object]


def _lock(backend: Backend, stored: Stored, now: datetime) -> None:
    with backend.schedules.lock(NIGHTLY.name):
        pass


def _complete(backend: Backend, stored: Stored, now: datetime) -> None:
    backend.jobs.move(stored.running, transitions.complete(stored.running, None, now))


OPERATIONS = [
    pytest.param(lambda b, s, now: b.jobs.add([s.fresh]), id="jobs.add"),
    pytest.param(lambda b, s, now: b.jobs.get(s.pending.metadata.id), id="jobs.get"),
    pytest.param(lambda b, s, now: b.jobs.claim(WORKER_B, now), id="jobs.claim"),
    pytest.param(_complete, id="jobs.move"),
    pytest.param(lambda b, s, now: b.jobs.delete(s.pending), id="jobs.delete"),
    pytest.param(lambda b, s, now: list(b.jobs.scan(STATUSES)), id="jobs.scan"),
    pytest.param(lambda b, s, now: b.jobs.counts(now), id="jobs.counts"),
    pytest.param(lambda b, s, now: b.jobs.oldest_due(now), id="jobs.oldest_due"),
    pytest.param(
        lambda b, s, now: b.jobs.next_due(),
        id="jobs.next_due",
    ),
    pytest.param(lambda b, s, now: b.jobs.recover(), id="jobs.recover"),
    pytest.param(lambda b, s, now: b.cancels.request(s.running, None, now), id="cancels.request"),
    pytest.param(
        lambda b, s, now: b.cancels.get(s.running.metadata.id),
        id="cancels.get",
    ),
    pytest.param(
        lambda b, s, now: list(b.events.follow(since=START, idle_timeout=0.2)),
        id="events.follow",
    ),
    pytest.param(lambda b, s, now: list(b.events.samples(START)), id="events.samples"),
    pytest.param(lambda b, s, now: b.workers.put(WORKER), id="workers.put"),
    pytest.param(lambda b, s, now: b.workers.remove(WORKER.name), id="workers.remove"),
    pytest.param(lambda b, s, now: b.workers.all(), id="workers.all"),
    pytest.param(_lock, id="schedules.lock"),
    pytest.param(lambda b, s, now: b.schedules.get(NIGHTLY.name), id="schedules.get"),
    pytest.param(
        lambda b, s, now: b.schedules.all(),
        id="schedules.all",
    ),
    pytest.param(lambda b, s, now: b.schedules.put(NIGHTLY), id="schedules.put"),
    pytest.param(lambda b, s, now: b.schedules.delete(NIGHTLY.name), id="schedules.delete"),
    pytest.param(lambda b, s, now: b.shared.update("n", lambda d: (b"1", 1)), id="shared.update"),
]
# Not here: jobs.flush (nothing deferred to write: it may well succeed) and
# wakeups.subscribe (a hint: a backend that cannot watch falls back to polling).


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_store_failure_is_a_store_error_with_its_cause(
    backend: Backend,
    break_store: Callable[[], type[BaseException]],
    stored: Stored,
    clock: FakeClock,
    operation: Operation,
) -> None:
    cause = break_store()

    with pytest.raises(StoreError) as failure:
        operation(backend, stored, clock.now())

    assert isinstance(failure.value.__cause__, cause)
