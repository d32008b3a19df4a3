"""A host whose clock is an hour off behaves the same on PostgreSQL: its queue reads the
server's clock (``PostgresBackend.clock``), so the instants it writes and compares are
the ones every other host writes and compares.

Each test also runs the skewed host on its own clock (``SystemClock``-like, the hour
off), and shows what would go wrong: so the test fails if the correction stops working.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import postgres_cluster
import pytest

from jobqueue import JobQueue, transitions
from jobqueue.backend import WorkerRecord
from jobqueue.job import ErrorInfo, PendingJob, WorkerInfo

pytest.importorskip("psycopg", reason="the PostgreSQL backend needs jobqueue[postgres]")

from jobqueue.backends.postgres import PostgresBackend

HOUR = 3600.0
#: Judged by heartbeat only: the reaper does not look for its pid.
FAR = WorkerInfo(name="far", host="far-host", pid=1)
BOOM = ErrorInfo(type="Boom", message="it broke")


@dataclass
class HostClock:
    """A host's own clock: the system clock, ``offset`` seconds off."""

    offset: float

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)


@dataclass
class Hosts:
    """Two hosts on one store: ``here`` has a good clock, ``there`` one ``skew`` off."""

    here: JobQueue
    there: JobQueue
    #: ``there`` on its own clock, ignoring the server's: what the correction prevents.
    naive: JobQueue


@pytest.fixture
def url() -> Iterator[str]:
    yield from postgres_cluster.fresh_url()


@pytest.fixture(params=[HOUR, -HOUR], ids=["an-hour-ahead", "an-hour-behind"])
def hosts(url: str, request: pytest.FixtureRequest) -> Iterator[Hosts]:
    skewed = HostClock(request.param)
    good = PostgresBackend(url)
    bad = PostgresBackend(url, host_clock=skewed.time)
    yield Hosts(
        here=JobQueue(good, clock=good.clock),
        there=JobQueue(bad, clock=bad.clock),
        naive=JobQueue(bad, clock=skewed),
    )
    bad.close()
    good.close()


def close_to(a: datetime, b: datetime, seconds: float = 2.0) -> bool:
    return abs((a - b).total_seconds()) < seconds


def test_both_hosts_read_the_servers_time(hosts: Hosts) -> None:
    assert close_to(hosts.there.clock.now(), hosts.here.clock.now())
    assert not close_to(hosts.naive.clock.now(), hosts.here.clock.now(), HOUR / 2)


def claim(queue: JobQueue, worker: WorkerInfo = FAR) -> object:
    return queue.backend.jobs.claim(worker, queue.clock.now())


def test_a_deferred_job_is_not_claimed_early(hosts: Hosts) -> None:
    job = hosts.here.enqueue("t", delay=60)

    assert claim(hosts.there) is None
    if hosts.naive.clock.now() > job.metadata.run_at:  # the host an hour ahead
        assert claim(hosts.naive) is not None  # ...would have run it an hour early


def test_a_running_job_is_not_reaped_while_it_beats(hosts: Hosts) -> None:
    hosts.here.enqueue("t")
    jobs = hosts.there.backend.jobs
    running = jobs.claim(FAR, hosts.there.clock.now())
    assert running is not None
    beat = transitions.heartbeat(running, hosts.there.clock.now())
    jobs.move(running, beat)

    assert hosts.here.reap(stale_after=30) == []
    jobs.move(beat, transitions.heartbeat(beat, hosts.naive.clock.now()))  # the host's own time
    reaped = hosts.here.reap(stale_after=30)
    assert len(reaped) == (1 if hosts.naive.clock.now() < hosts.here.clock.now() else 0)


def test_a_retry_delay_holds_on_every_host(hosts: Hosts) -> None:
    hosts.here.enqueue("t", max_retries=1)
    running = hosts.there.backend.jobs.claim(FAR, hosts.there.clock.now())
    assert running is not None

    retrying = transitions.fail(running, BOOM, hosts.there.clock.now(), timedelta(seconds=60))
    hosts.there.backend.jobs.move(running, retrying)

    assert isinstance(retrying, PendingJob)
    assert close_to(retrying.metadata.run_at, hosts.here.clock.now() + timedelta(seconds=60))
    assert claim(hosts.here) is None


def test_a_beating_worker_is_live_to_every_host(hosts: Hosts) -> None:
    def record(name: str, clock: Callable[[], datetime]) -> WorkerRecord:
        now = clock()
        return WorkerRecord(name=name, host="far-host", pid=1, pid_started=None,
                            started_at=now, heartbeat_at=now, concurrency=1)  # fmt: skip

    hosts.there.backend.workers.put(record("corrected", hosts.there.clock.now))
    hosts.there.backend.workers.put(record("naive", hosts.naive.clock.now))

    live = {w["name"] for w in hosts.here.workers()}
    assert "corrected" in live
    if hosts.naive.clock.now() < hosts.here.clock.now():
        assert "naive" not in live  # an hour-old heartbeat: judged dead


def test_a_schedule_fires_on_the_servers_time(hosts: Hosts) -> None:
    """A tick half an hour away: the host an hour ahead would fire it now on its own clock."""
    minute = (hosts.here.clock.now() + timedelta(minutes=30)).minute
    hosts.here.schedule("half-hour-away", f"{minute} * * * *", "report")

    assert hosts.there.scheduler().tick() == []
    if hosts.naive.clock.now() > hosts.here.clock.now():
        assert len(hosts.naive.scheduler(clock=hosts.naive.clock).tick()) == 1
