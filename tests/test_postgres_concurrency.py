"""The PostgreSQL backend under concurrency, across processes and connections: claimers
never share a job, followers lose no event of transactions that commit out of order,
and a killed LISTEN connection is survived."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import postgres_cluster
import pytest
from conftest import FakeClock

from jobqueue import JobQueue
from jobqueue.events import JobEvent
from jobqueue.job import CompleteJob

pytest.importorskip("psycopg", reason="the PostgreSQL backend needs jobqueue[postgres]")

from backends.helpers import WAIT, run_together

from jobqueue.backends.postgres import PostgresBackend
from jobqueue.backends.postgres import events as events_module

#: A claimer process: claims and completes until nothing is left, prints what it took.
CLAIMER = """
import json, sys
from jobqueue import transitions
from jobqueue.backends.postgres import PostgresBackend
from jobqueue.backends.postgres import events as events_module
from jobqueue.job import WorkerInfo
backend = PostgresBackend(sys.argv[1])
worker = WorkerInfo(name=sys.argv[2], host="claimer-" + sys.argv[2], pid=1)
print("ready", flush=True)
sys.stdin.readline()  # all claimers start together
taken = []
while (job := backend.jobs.claim(worker, backend.clock.now())) is not None:
    taken.append(job.metadata.id)
    backend.jobs.move(job, transitions.complete(job, None, backend.clock.now()))
backend.close()
print(json.dumps(taken))
"""


@pytest.fixture
def url() -> Iterator[str]:
    yield from postgres_cluster.fresh_url()


@pytest.fixture
def backend(url: str) -> Iterator[PostgresBackend]:
    handle = PostgresBackend(url)
    yield handle
    handle.close()


def test_claimer_processes_never_take_the_same_job(backend: PostgresBackend, url: str) -> None:
    queue = JobQueue(backend, clock=backend.clock)
    added = [job.metadata.id for job in queue.enqueue_many("t", [{"n": n} for n in range(600)])]
    claimers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, url, f"c{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    for claimer in claimers:
        assert claimer.stdout is not None and claimer.stdout.readline() == "ready\n"
    for claimer in claimers:
        assert claimer.stdin is not None
        claimer.stdin.write("go\n")
        claimer.stdin.flush()
    taken = [json.loads(c.communicate(timeout=60)[0]) for c in claimers]

    every = [job_id for got in taken for job_id in got]
    assert sorted(every) == sorted(added)  # none twice, none missing
    assert sum(1 for got in taken if got) >= 2, "the claimers did not overlap at all"
    for job in backend.jobs.scan(["complete"]):
        assert isinstance(job, CompleteJob) and len(job.attempts) == 1


# --- the event log -------------------------------------------------------------------------


def naive_ids(url: str, after: int) -> list[int]:
    """What a follower paging by a plain serial id would read past ``after``."""
    schema = url.rsplit("schema=", 1)[1]
    with postgres_cluster.server().admin() as conn:
        rows = conn.execute(
            f'SELECT id FROM "{schema}".jq_events WHERE id > %s ORDER BY id', (after,)
        )
        return [int(r[0]) for r in rows.fetchall()]


def test_an_event_whose_transaction_commits_late_is_not_lost(
    backend: PostgresBackend, url: str
) -> None:
    """Writer A's event takes an id first but commits last: a follower that already read
    B's later id must still yield A's event (a cursor on ids would skip it)."""
    slow = PostgresBackend(url)
    queue, slow_queue = JobQueue(backend), JobQueue(slow)
    follow = backend.events.follow(idle_timeout=0.5)
    inside = threading.Event()
    release = threading.Event()

    def slow_writer() -> None:
        with slow.schedules.lock("hold"):  # its transaction: the add commits at the end
            slow_queue.enqueue("early")
            inside.set()
            release.wait(WAIT)

    thread = threading.Thread(target=slow_writer, daemon=True)
    thread.start()
    try:
        assert inside.wait(WAIT)
        queue.enqueue("late")
        first = next(follow)  # the late job's event, committed first
        read_up_to = max(naive_ids(url, 0))
        release.set()
        thread.join(WAIT)

        rest = list(follow)
    finally:
        release.set()
        slow.close()

    assert [first.job_type, *(e.job_type for e in rest)] == ["late", "early"]
    assert naive_ids(url, read_up_to) == []  # an id cursor past "late" never sees "early"


@pytest.mark.parametrize("page", [500, 4], ids=["one-page", "pages-of-4"])
def test_concurrent_writers_with_random_commit_order_lose_no_event(
    backend: PostgresBackend, url: str, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With pages of 4, a follower also reads through windows (a snapshot kept while
    later transactions commit) and replays in pages."""
    monkeypatch.setattr(events_module, "_PAGE", page)
    writers = [PostgresBackend(url) for _ in range(3)]
    start = backend.clock.now()
    follow = backend.events.follow(idle_timeout=1.0)
    rng = random.Random(7)
    pauses = [[rng.uniform(0, 0.02) for _ in range(15)] for _ in writers]

    def write(n: int) -> None:
        queue = JobQueue(writers[n], clock=writers[n].clock)
        for i, pause in enumerate(pauses[n]):
            with writers[n].schedules.lock(f"w{n}"):  # one open transaction per job
                queue.enqueue("t", {"n": n, "i": i})
                time.sleep(pause)

    try:
        run_together([partial(write, n) for n in range(len(writers))])
        seen = [numbers(e) for e in follow]
    finally:
        for writer in writers:
            writer.close()

    everything = [(n, i) for n in range(3) for i in range(15)]
    assert sorted(seen) == everything  # each exactly once
    replayed = backend.events.follow(since=start, idle_timeout=0.1)
    assert sorted(numbers(e) for e in replayed) == everything


def numbers(event: JobEvent) -> tuple[int, int]:
    params: Any = event.job.params
    return params["n"], params["i"]


# --- the listener ------------------------------------------------------------------------


def wait_for_pid(backend: PostgresBackend, other_than: int | None = None) -> int:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        pid = backend.listener.backend_pid
        if pid is not None and pid != other_than:
            return pid
        time.sleep(0.01)
    raise AssertionError("the listener did not connect")


def test_a_killed_listen_connection_is_survived(backend: PostgresBackend, url: str) -> None:
    woken = threading.Event()
    backend.wakeups.subscribe(woken.set)
    killed = wait_for_pid(backend)
    writer = PostgresBackend(url)
    try:
        with postgres_cluster.server().admin() as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (killed,))
        new_pid = wait_for_pid(backend, other_than=killed)  # set once it woke everyone
        assert woken.is_set()  # the reconnect woke everyone: something may have been missed
        woken.clear()  # now a real notification, on the new connection:

        JobQueue(writer).enqueue("t")

        assert woken.wait(WAIT)
        assert new_pid != killed
        follow = backend.events.follow(idle_timeout=0.3)
        JobQueue(writer).enqueue("u")
        assert [e.job_type for e in follow] == ["u"]
    finally:
        writer.close()


def test_without_listen_nobody_is_woken_and_followers_still_poll(url: str) -> None:
    quiet = PostgresBackend(url + "&listen=false")
    writer = PostgresBackend(url)
    try:
        woken = threading.Event()
        quiet.wakeups.subscribe(woken.set)
        follow = quiet.events.follow(idle_timeout=1.5)
        JobQueue(writer).enqueue("t")

        assert [e.job_type for e in follow] == ["t"]  # found by polling
        assert not woken.is_set() and quiet.listener.backend_pid is None
    finally:
        quiet.close()
        writer.close()


def test_a_clock_is_not_needed_to_follow(backend: PostgresBackend) -> None:
    """Events carry the writer's times (a FakeClock's here); following ignores them."""
    queue = JobQueue(backend, clock=FakeClock())
    follow = backend.events.follow(idle_timeout=0.3)
    queue.enqueue("t")

    assert [e.at for e in follow] == [FakeClock().now()]
