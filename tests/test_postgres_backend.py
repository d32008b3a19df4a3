"""The PostgreSQL backend beyond the contract suite: opening by URL, documents identical
to the file backend's, fencing of a reaped worker, and errors (a killed connection, a
server that is not there, psycopg not installed)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import postgres_cluster
import pytest
from conftest import WORKER_A, FakeClock, SeqIds
from jsonschema import Draft202012Validator

from jobqueue import JobQueue, codec, transitions
from jobqueue.backend import NoQueue, open_backend
from jobqueue.errors import InvalidJob, StaleJob, StoreError
from jobqueue.job import CompleteJob, ErrorInfo, PendingJob, Progress, RunningJob, WorkerInfo
from jobqueue.schema import job_schema

psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL backend needs jobqueue[postgres]")

from jobqueue.backends.postgres import PostgresBackend  # noqa: E402

#: Owners on another host: the reaper judges them by heartbeat alone.
FAR_A = WorkerInfo(name="far-a", host="far-host", pid=1)
FAR_B = WorkerInfo(name="far-b", host="far-host", pid=2)


@pytest.fixture
def url() -> Iterator[str]:
    yield from postgres_cluster.fresh_url()


@pytest.fixture
def backend(url: str) -> Iterator[PostgresBackend]:
    handle = PostgresBackend(url)
    yield handle
    handle.close()


@pytest.fixture
def queue(backend: PostgresBackend, clock: FakeClock) -> JobQueue:
    return JobQueue(backend, clock=clock, new_id=SeqIds())


# --- opening ----------------------------------------------------------------------------


def test_open_backend_opens_a_postgresql_url_and_its_url_reopens_the_store(url: str) -> None:
    first = open_backend(url)
    try:
        assert isinstance(first, PostgresBackend)
        assert not first.process_local
        job = JobQueue(first).enqueue("t")
        second = open_backend(first.url)
        try:
            assert second.jobs.get(job.metadata.id) == job
        finally:
            second.close()
    finally:
        first.close()


def test_schemas_are_separate_stores(url: str) -> None:
    server = postgres_cluster.server()
    other_url = server.url(server.new_schema())
    here, there = PostgresBackend(url), PostgresBackend(other_url)
    try:
        job = JobQueue(here).enqueue("t")
        assert there.jobs.get(job.metadata.id) is None
        assert there.jobs.counts(job.metadata.created)["total"] == 0
    finally:
        here.close()
        there.close()
        server.drop(urlschema(other_url))


def urlschema(url: str) -> str:
    return url.rsplit("schema=", 1)[1].split("&")[0]


def test_a_read_only_open_of_a_missing_store_is_no_queue_and_creates_nothing(url: str) -> None:
    with pytest.raises(NoQueue):
        open_backend(url, create=False)
    with postgres_cluster.server().admin() as conn:
        row = conn.execute("SELECT to_regnamespace(%s)", (urlschema(url),)).fetchone()
    assert row == (None,)


def test_durable_is_refused_for_postgresql(url: str) -> None:
    with pytest.raises(InvalidJob, match="file backend"):
        open_backend(url, durable=False)


def test_the_password_stays_out_of_the_location(url: str) -> None:
    with_password = url.replace("postgres@", "postgres:hunter2@")
    backend = PostgresBackend(with_password)  # trust authentication ignores it
    try:
        assert "hunter2" not in backend.location and "hunter2" not in repr(backend)
        assert "hunter2" in backend.url
    finally:
        backend.close()


def test_without_psycopg_the_open_says_what_to_install(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(sys.modules):
        if name.startswith(("psycopg", "jobqueue.backends.postgres")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)

    with pytest.raises(StoreError, match=r"pip install 'jobqueue\[postgres\]'") as failure:
        open_backend(url)
    assert "\n" not in str(failure.value)


# --- documents ----------------------------------------------------------------------------


def run_through_every_status(queue: JobQueue, clock: FakeClock) -> list[str]:
    """The same calls on any backend; the ids of the jobs, one per end state."""
    done = queue.enqueue("t", {"b": 2, "a": [1.5, None]}, unique_key="k", user_id="u")
    failed, cancelled, pending = (queue.enqueue("t", {"n": n}, max_retries=0) for n in range(3))
    jobs = queue.backend.jobs
    running = jobs.claim(WORKER_A, clock.now())
    assert running is not None
    clock.advance(1)
    jobs.move(running, transitions.complete(running, {"w": 640}, clock.now()))
    running = jobs.claim(WORKER_A, clock.now())
    assert running is not None
    error = ErrorInfo(type="E", message="m", traceback="tb")
    jobs.move(running, transitions.fail(running, error, clock.now(), None))
    queue.cancel(cancelled.metadata.id, "no")
    return [j.metadata.id for j in (done, failed, cancelled, pending)]


def test_show_json_prints_the_file_backends_document(
    queue: JobQueue, clock: FakeClock, tmp_path: Path
) -> None:
    on_file = JobQueue(tmp_path / "data", durable=False, clock=FakeClock(), new_id=SeqIds())
    pg_ids = run_through_every_status(queue, clock)
    file_ids = run_through_every_status(on_file, on_file.clock)  # type: ignore[arg-type]

    assert pg_ids == file_ids
    for job_id in pg_ids:
        pg_job, file_job = queue.get_job(job_id), on_file.get_job(job_id)
        assert pg_job is not None and file_job is not None
        assert codec.encode(pg_job) == codec.encode(file_job)


def test_the_stored_document_is_valid_against_the_shipped_schema(
    queue: JobQueue, clock: FakeClock, url: str
) -> None:
    run_through_every_status(queue, clock)
    with postgres_cluster.server().admin() as conn:
        rows = conn.execute(
            f'SELECT id, document::text FROM "{urlschema(url)}".jq_job_documents ORDER BY id'
        ).fetchall()

    validator = Draft202012Validator(job_schema())
    for job_id, text in rows:
        validator.validate(orjson.loads(text))
        assert text == orjson.dumps(codec.to_document(queue.get_job(job_id))).decode()  # type: ignore[arg-type]
    assert len(rows) == 4


# --- fencing -------------------------------------------------------------------------------


def test_a_reaped_workers_heartbeat_progress_and_end_are_refused(
    queue: JobQueue, clock: FakeClock
) -> None:
    jobs = queue.backend.jobs
    queue.enqueue("t")
    stalled = jobs.claim(FAR_A, clock.now())
    assert stalled is not None
    clock.advance(31)  # past stale_after without a heartbeat

    [reaped] = queue.reap(stale_after=30)
    second = jobs.claim(FAR_B, clock.now())

    assert isinstance(reaped, PendingJob) and second is not None
    late = clock.now() + timedelta(seconds=1)
    for write in (
        transitions.heartbeat(stalled, late),
        transitions.heartbeat(stalled, late, Progress(percentage=90.0)),
        transitions.complete(stalled, None, late),
        transitions.fail(stalled, ErrorInfo(type="E", message="m"), late, None),
    ):
        with pytest.raises(StaleJob):
            jobs.move(stalled, write)
    done = transitions.complete(second, None, late)
    jobs.move(second, done)
    assert queue.get_job(second.metadata.id) == done
    assert [a.worker.name for a in done.attempts] == ["far-a", "far-b"]
    assert done.attempts[0].error is not None and done.attempts[0].error.type == "WorkerLost"


def test_the_fence_is_the_attempt_even_for_the_same_worker_at_the_same_instant(
    queue: JobQueue, clock: FakeClock
) -> None:
    """Claimed again by the same worker name, at the same instant: still another attempt."""
    jobs = queue.backend.jobs
    queue.enqueue("t")
    first = jobs.claim(FAR_A, clock.now())
    assert first is not None
    jobs.move(first, transitions.lost(first, clock.now(), "gone"))
    again = jobs.claim(FAR_A, clock.now())
    assert again is not None and again.started_at == first.started_at

    with pytest.raises(StaleJob):
        jobs.move(first, transitions.complete(first, None, clock.now()))
    assert not queue.backend.cancels.request(first, "old attempt", clock.now())
    assert isinstance(queue.get_job(first.metadata.id), RunningJob)


# --- errors ----------------------------------------------------------------------------


def kill_connections(url: str) -> int:
    """Terminate the pooled connections of this test's store (named after its schema)."""
    with postgres_cluster.server().admin() as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (f"jobqueue {urlschema(url)}",),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_killed_connection_is_one_store_error_with_its_cause_then_work_goes_on(
    backend: PostgresBackend, queue: JobQueue
) -> None:
    job = queue.enqueue("t")
    assert kill_connections(backend.url) >= 1

    with pytest.raises(StoreError) as failure:
        backend.jobs.get(job.metadata.id)

    assert isinstance(failure.value.__cause__, psycopg.OperationalError)
    assert "\n" not in str(failure.value)
    assert backend.jobs.get(job.metadata.id) == job  # the pool made a new connection


def test_a_server_that_is_not_there_is_a_store_error_at_open(tmp_path: Path) -> None:
    nowhere = f"postgresql://postgres@/postgres?host={tmp_path}&port=5"

    with pytest.raises(StoreError) as failure:
        open_backend(nowhere)

    assert isinstance(failure.value.__cause__, psycopg.OperationalError)


def test_a_handle_used_after_fork_refuses_instead_of_sharing_sockets(
    backend: PostgresBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: pid + 1)

    with pytest.raises(StoreError, match="reopen"):
        backend.jobs.counts(FakeClock().now())


def test_a_complete_job_is_what_the_worker_wrote(queue: JobQueue, clock: FakeClock) -> None:
    """A smoke test of the queue on PostgreSQL: enqueue, claim, complete, read back."""
    job = queue.enqueue("t", {"x": 1})
    running = queue.backend.jobs.claim(WORKER_A, clock.now())
    assert running is not None and running.metadata == job.metadata
    done = transitions.complete(running, {"r": 1}, clock.now())
    queue.backend.jobs.move(running, done)

    got: Any = queue.wait(job.metadata.id, timeout=5)
    assert isinstance(got, CompleteJob) and got == done
