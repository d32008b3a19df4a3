"""JobQueue: the public API on a real FileStore in tmp_path, with a FakeClock and SeqIds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import WORKER_A, WORKER_B, FakeClock, SeqIds
from jsonschema import Draft202012Validator

from jobqueue import (
    CancelledJob,
    CompleteJob,
    ErrorInfo,
    FailedJob,
    InvalidJob,
    Job,
    JobNotFound,
    JobQueue,
    PendingJob,
    RunningJob,
    WorkerInfo,
    codec,
    process,
    transitions,
)
from jobqueue.schema import job_schema

STATUSES = ("pending", "running", "complete", "failed", "cancelled")
BOOM = ErrorInfo(type="ValueError", message="bad pixel")
DAY = 86400.0


def path_of(queue: JobQueue, status: str, job_id: str) -> Path:
    return Path(queue.location) / "jobs" / status / f"{job_id}.json"


def job_files(queue: JobQueue) -> list[str]:
    """Every job file as 'status/name', in all status directories."""
    jobs = Path(queue.location) / "jobs"
    return sorted(f"{s}/{p.name}" for s in STATUSES for p in (jobs / s).glob("*.json"))


def claim(queue: JobQueue, clock: FakeClock, job: Job, worker: WorkerInfo = WORKER_A) -> RunningJob:
    """Claim ``job`` (it must be the best due job of its type) as a worker would."""
    running = queue.backend.jobs.claim(worker, clock.now(), {job.metadata.type})
    assert running is not None and running.metadata.id == job.metadata.id
    return running


def complete(queue: JobQueue, clock: FakeClock, job: Job) -> CompleteJob:
    running = claim(queue, clock, job)
    done = transitions.complete(running, {"ok": True}, clock.now())
    queue.backend.jobs.move(running, done)
    return done


def fail(queue: JobQueue, clock: FakeClock, job: Job) -> FailedJob:
    """Fail the job's next attempt for good (no retry)."""
    running = claim(queue, clock, job)
    failed = transitions.fail(running, BOOM, clock.now(), None)
    assert isinstance(failed, FailedJob)
    queue.backend.jobs.move(running, failed)
    return failed


def cancelled(queue: JobQueue, clock: FakeClock, job: Job) -> CancelledJob:
    assert queue.cancel(job.metadata.id, reason="not needed")
    found = queue.get_job(job.metadata.id)
    assert isinstance(found, CancelledJob)
    return found


def ids(jobs: Sequence[Job]) -> list[str]:
    return [j.metadata.id for j in jobs]


# --- enqueue -------------------------------------------------------------------------------


def test_enqueue_writes_a_pending_job_file(queue: JobQueue) -> None:
    job = queue.enqueue("resize", {"path": "a.png"})
    assert isinstance(job, PendingJob)
    assert job_files(queue) == ["pending/job-000001.json"]
    data = path_of(queue, "pending", "job-000001").read_bytes()
    assert codec.decode(data, expect="pending") == job
    Draft202012Validator(job_schema()).validate(orjson.loads(data))


def test_enqueue_fills_in_the_documented_defaults(queue: JobQueue, clock: FakeClock) -> None:
    meta = queue.enqueue("resize").metadata
    assert (meta.created, meta.run_at) == (clock.now(), clock.now())
    assert (meta.priority, meta.retry_count, meta.max_retries) == (0, 0, 3)
    assert (meta.timeout, meta.unique_key, meta.user_id) == (None, None, None)


def test_params_default_to_an_empty_object(queue: JobQueue) -> None:
    job = queue.enqueue("resize")
    assert job.params == {}
    assert orjson.loads(path_of(queue, "pending", job.metadata.id).read_bytes())["params"] == {}


@pytest.mark.parametrize("params", [[1, "a", None], ("x", 2), []], ids=["list", "tuple", "empty"])
def test_params_may_be_an_array(queue: JobQueue, params: Any) -> None:
    job = queue.enqueue("resize", params)
    assert job.params == list(params)
    assert queue.get_job(job.metadata.id) == job


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


BAD_PARAMS = {
    "not serialisable": {"when": object()},
    "a set": {1, 2},
    "a string": "a.png",
    "bytes": b"{}",
    "a number": 42,
    "non-string key": {1: "x"},
    "nested 100 deep": nested(100),
    "NaN (orjson would write null)": {"x": float("nan")},
    "infinity": [1.0, [float("-inf")]],
}


@pytest.mark.parametrize("params", BAD_PARAMS.values(), ids=BAD_PARAMS.keys())
def test_bad_params_are_refused_and_nothing_is_written(queue: JobQueue, params: object) -> None:
    with pytest.raises(InvalidJob, match="params"):
        queue.enqueue("resize", params)
    assert job_files(queue) == []


def test_params_over_the_size_limit_are_refused(data_dir: Path, clock: FakeClock) -> None:
    queue = JobQueue(data_dir, durable=False, clock=clock, max_params_bytes=100)
    queue.enqueue("resize", {"x": "a" * 92})  # 100 bytes as compact JSON: at the limit
    with pytest.raises(InvalidJob, match="the limit is 100"):
        queue.enqueue("resize", {"x": "a" * 93})
    assert len(job_files(queue)) == 1


@pytest.mark.parametrize(
    "delay", [30, 30.0, timedelta(seconds=30)], ids=["int", "float", "timedelta"]
)
def test_a_delay_defers_the_job(queue: JobQueue, clock: FakeClock, delay: float) -> None:
    job = queue.enqueue("resize", delay=delay)
    assert job.metadata.run_at == clock.now() + timedelta(seconds=30)


def test_run_at_defers_the_job_to_that_instant_in_utc(queue: JobQueue) -> None:
    at = datetime(2030, 7, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    job = queue.enqueue("resize", run_at=at)
    assert job.metadata.run_at == at and job.metadata.run_at.tzinfo == UTC
    assert queue.get_job(job.metadata.id) == job


NEW_YORK_WINTER = timezone(-timedelta(hours=5))
BAD_OPTIONS: dict[str, dict[str, Any]] = {
    "naive run_at": {"run_at": datetime(2030, 1, 2)},
    "run_at and delay": {"run_at": datetime(2030, 1, 2, tzinfo=UTC), "delay": 5},
    "run_at not a datetime": {"run_at": "2030-01-02T00:00:00Z"},
    "run_at out of range": {"run_at": datetime(9999, 12, 31, 23, tzinfo=NEW_YORK_WINTER)},
    "negative delay": {"delay": -1},
    "NaN delay": {"delay": float("nan")},
    "delay past year 9999": {"delay": 10**12},
    "priority a word": {"priority": "high"},
    "priority a float": {"priority": 1.5},
    "priority a bool": {"priority": True},
    "negative max_retries": {"max_retries": -1},
    "max_retries a string": {"max_retries": "3"},
    "zero timeout": {"timeout": 0},
    "negative timeout": {"timeout": -5},
    "infinite timeout": {"timeout": float("inf")},
    "empty unique_key": {"unique_key": ""},
    "unique_key with a newline": {"unique_key": "a\nb"},
    "user_id a number": {"user_id": 7},
}  # fmt: skip


@pytest.mark.parametrize("options", BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_bad_options_are_refused_and_nothing_is_written(
    queue: JobQueue, options: dict[str, Any]
) -> None:
    with pytest.raises(InvalidJob):
        queue.enqueue("resize", {}, **options)
    assert job_files(queue) == []


@pytest.mark.parametrize("job_type", ["../x", "/etc/passwd", "a/b", "", "a\x00b", 5])
def test_a_type_that_could_escape_is_refused(queue: JobQueue, job_type: Any) -> None:
    with pytest.raises(InvalidJob, match="job type"):
        queue.enqueue(job_type)
    assert job_files(queue) == []


def test_good_options_are_recorded(queue: JobQueue) -> None:
    job = queue.enqueue(
        "resize", priority=-5, max_retries=0, timeout=timedelta(minutes=1.5), user_id="u1"
    )
    meta = job.metadata
    assert (meta.priority, meta.max_retries, meta.timeout, meta.user_id) == (-5, 0, 90.0, "u1")


def test_a_durable_queue_writes_the_same_files(tmp_path: Path, clock: FakeClock) -> None:
    queue = JobQueue(tmp_path / "data", clock=clock, new_id=SeqIds())
    queue.enqueue("resize")
    queue.enqueue_many("resize", [{}, {}])
    assert len(job_files(queue)) == 3


# --- unique_key ----------------------------------------------------------------------------


def test_a_held_unique_key_returns_the_pending_holder(queue: JobQueue) -> None:
    first = queue.enqueue("resize", {"n": 1}, unique_key="img-1")
    again = queue.enqueue("resize", {"n": 2}, unique_key="img-1")
    assert again == first
    assert job_files(queue) == ["pending/job-000001.json"]


def test_a_held_unique_key_returns_the_running_holder(queue: JobQueue, clock: FakeClock) -> None:
    running = claim(queue, clock, queue.enqueue("resize", unique_key="img-1"))
    assert queue.enqueue("resize", unique_key="img-1") == running


@pytest.mark.parametrize("end", [complete, fail, cancelled])
def test_a_unique_key_is_free_once_its_holder_ended(
    queue: JobQueue, clock: FakeClock, end: Any
) -> None:
    first = queue.enqueue("resize", unique_key="img-1")
    end(queue, clock, first)
    again = queue.enqueue("resize", unique_key="img-1")
    assert isinstance(again, PendingJob) and again.metadata.id != first.metadata.id


def test_other_unique_keys_do_not_collide(queue: JobQueue) -> None:
    a = queue.enqueue("resize", unique_key="img-1")
    b = queue.enqueue("resize", unique_key="img-2")
    assert a.metadata.id != b.metadata.id


# --- enqueue_many --------------------------------------------------------------------------


def test_enqueue_many_returns_pending_jobs_in_order(queue: JobQueue, clock: FakeClock) -> None:
    jobs = queue.enqueue_many("resize", [{"n": 1}, [2], {"n": 3}], priority=2, delay=5)
    assert ids(jobs) == ["job-000001", "job-000002", "job-000003"]
    assert [j.params for j in jobs] == [{"n": 1}, [2], {"n": 3}]
    assert all(isinstance(j, PendingJob) and j.metadata.priority == 2 for j in jobs)
    assert queue.query_jobs("pending") == jobs


def test_enqueue_many_is_all_or_nothing(queue: JobQueue) -> None:
    with pytest.raises(InvalidJob, match="params"):
        queue.enqueue_many("resize", [{"n": 1}, {"bad": object()}, {"n": 3}])
    assert job_files(queue) == []


def test_enqueue_many_refuses_an_unknown_option(queue: JobQueue) -> None:
    with pytest.raises(InvalidJob, match="prio"):
        queue.enqueue_many("resize", [{}], prio=1)
    assert job_files(queue) == []


def test_enqueue_many_of_nothing_adds_nothing(queue: JobQueue) -> None:
    assert queue.enqueue_many("resize", []) == []
    assert job_files(queue) == []


# --- reading -------------------------------------------------------------------------------


def test_get_job_returns_the_current_state(queue: JobQueue, clock: FakeClock) -> None:
    job = queue.enqueue("resize")
    assert queue.get_job(job.metadata.id) == job
    running = claim(queue, clock, job)
    assert queue.get_job(job.metadata.id) == running


def test_get_job_of_an_unknown_id_is_none(queue: JobQueue) -> None:
    assert queue.get_job("job-999999") is None


@pytest.mark.parametrize("job_id", ["../../x", "/etc/passwd", "a/b", "", ".."])
def test_get_job_refuses_an_id_that_could_escape(queue: JobQueue, job_id: str) -> None:
    with pytest.raises(InvalidJob, match="job id"):
        queue.get_job(job_id)


@pytest.fixture
def mixed(queue: JobQueue, clock: FakeClock) -> list[Job]:
    """job-000001 resize pending, -000002 email running, -000003 resize complete,
    -000004 resize pending."""
    a = queue.enqueue("resize")
    b = claim(queue, clock, queue.enqueue("email"))
    c = complete(queue, clock, queue.enqueue("thumb", {"n": 3}))
    d = queue.enqueue("resize", priority=-1)
    return [a, b, c, d]


def test_query_jobs_lists_every_job_oldest_first(queue: JobQueue, mixed: list[Job]) -> None:
    assert queue.query_jobs() == mixed


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", ["job-000001", "job-000004"]),
        (["running"], ["job-000002"]),
        (("pending", "complete"), ["job-000001", "job-000003", "job-000004"]),
    ],
)
def test_query_jobs_filters_by_status(
    queue: JobQueue, mixed: list[Job], status: Any, expected: list[str]
) -> None:
    assert ids(queue.query_jobs(status=status)) == expected


def test_query_jobs_filters_by_type_and_limits(queue: JobQueue, mixed: list[Job]) -> None:
    assert ids(queue.query_jobs(type="resize")) == ["job-000001", "job-000004"]
    assert ids(queue.query_jobs(limit=2)) == ["job-000001", "job-000002"]
    assert ids(queue.query_jobs("pending", type="resize", limit=1)) == ["job-000001"]
    assert queue.query_jobs(limit=0) == []


@pytest.mark.parametrize(
    "query", [{"status": "paused"}, {"status": ["pending", "x"]}, {"type": "../x"}, {"limit": -1}]
)
def test_query_jobs_refuses_bad_filters(queue: JobQueue, query: dict[str, Any]) -> None:
    with pytest.raises(InvalidJob):
        queue.query_jobs(**query)


# --- cancel --------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["not needed", None])
def test_cancel_of_a_pending_job_ends_it_at_once(
    queue: JobQueue, clock: FakeClock, reason: str | None
) -> None:
    job = queue.enqueue("resize")
    assert isinstance(job, PendingJob)
    clock.advance(10)
    assert queue.cancel(job.metadata.id, reason=reason) is True
    assert queue.get_job(job.metadata.id) == transitions.cancel_pending(job, reason, clock.now())
    assert job_files(queue) == ["cancelled/job-000001.json"]


def test_cancel_of_a_running_job_asks_its_worker(queue: JobQueue, clock: FakeClock) -> None:
    running = claim(queue, clock, queue.enqueue("resize"))
    assert queue.cancel(running.metadata.id, reason="user asked") is True
    request = queue.backend.cancels.get(running.metadata.id)
    assert request is not None and request.reason == "user asked"
    assert queue.get_job(running.metadata.id) == running  # the worker ends it


@pytest.mark.parametrize("end", [complete, fail, cancelled])
def test_cancel_of_an_ended_job_is_refused(queue: JobQueue, clock: FakeClock, end: Any) -> None:
    ended = end(queue, clock, queue.enqueue("resize"))
    assert queue.cancel(ended.metadata.id) is False
    assert queue.get_job(ended.metadata.id) == ended


def test_cancel_of_an_unknown_job_is_refused(queue: JobQueue) -> None:
    assert queue.cancel("job-999999") is False
    with pytest.raises(InvalidJob):
        queue.cancel("../x")


# --- retry ---------------------------------------------------------------------------------


def failed_after_a_retry(queue: JobQueue, clock: FakeClock) -> FailedJob:
    """A failed job with two attempts behind it and retry_count 1."""
    job = queue.enqueue("resize", max_retries=1)
    running = claim(queue, clock, job)
    again = transitions.fail(running, BOOM, clock.now(), timedelta(0))
    queue.backend.jobs.move(running, again)
    return fail(queue, clock, again)


def test_retry_of_a_failed_job_makes_it_due_now(queue: JobQueue, clock: FakeClock) -> None:
    failed = failed_after_a_retry(queue, clock)
    clock.advance(3600)
    again = queue.retry(failed.metadata.id)
    assert again.metadata.run_at == clock.now()
    assert again.metadata.retry_count == 0
    assert again.attempts == failed.attempts and len(again.attempts) == 2
    assert queue.get_job(failed.metadata.id) == again
    assert job_files(queue) == ["pending/job-000001.json"]
    assert claim(queue, clock, again).attempts == failed.attempts


def test_retry_of_a_cancelled_job_makes_it_due_now(queue: JobQueue, clock: FakeClock) -> None:
    job = cancelled(queue, clock, queue.enqueue("resize", delay=3600))
    again = queue.retry(job.metadata.id)
    assert isinstance(again, PendingJob) and again.metadata.run_at == clock.now()
    assert queue.get_job(job.metadata.id) == again


@pytest.mark.parametrize("state", ["pending", "running", "complete"])
def test_retry_of_a_job_that_did_not_fail_is_refused(
    queue: JobQueue, clock: FakeClock, state: str
) -> None:
    job: Job = queue.enqueue("resize")
    if state == "running":
        job = claim(queue, clock, job)
    elif state == "complete":
        job = complete(queue, clock, job)
    with pytest.raises(InvalidJob, match=f"is {state}"):
        queue.retry(job.metadata.id)
    assert queue.get_job(job.metadata.id) == job


def test_retry_of_an_unknown_job_is_not_found(queue: JobQueue) -> None:
    with pytest.raises(JobNotFound):
        queue.retry("job-999999")


# --- cleanup and remove_jobs ---------------------------------------------------------------


def test_cleanup_measures_age_from_when_the_job_ended(queue: JobQueue, clock: FakeClock) -> None:
    job = queue.enqueue("resize")
    clock.advance(10 * DAY)  # created long ago...
    complete(queue, clock, job)  # ...but completed just now
    assert queue.cleanup(older_than=timedelta(days=1)) == 0
    clock.advance(DAY - 1)
    assert queue.cleanup() == 0
    clock.advance(1)  # exactly one day since it completed
    assert queue.cleanup() == 1
    assert job_files(queue) == []


def test_cleanup_takes_each_end_time_into_account(queue: JobQueue, clock: FakeClock) -> None:
    complete(queue, clock, queue.enqueue("a"))
    clock.advance(3600)
    fail(queue, clock, queue.enqueue("b"))
    clock.advance(3600)
    cancelled(queue, clock, queue.enqueue("c"))
    clock.advance(3600)
    assert queue.cleanup(older_than="2h") == 2
    assert job_files(queue) == ["cancelled/job-000003.json"]


def test_cleanup_only_touches_the_statuses_given(queue: JobQueue, clock: FakeClock) -> None:
    complete(queue, clock, queue.enqueue("a"))
    fail(queue, clock, queue.enqueue("b"))
    cancelled(queue, clock, queue.enqueue("c"))
    assert queue.cleanup(older_than=0, statuses=["failed", "cancelled"]) == 2
    assert job_files(queue) == ["complete/job-000001.json"]


def test_cleanup_never_touches_pending_or_running_jobs(queue: JobQueue, clock: FakeClock) -> None:
    claim(queue, clock, queue.enqueue("a"))
    queue.enqueue("b")
    clock.advance(30 * DAY)
    assert queue.cleanup(older_than=0) == 0
    assert job_files(queue) == ["pending/job-000002.json", "running/job-000001.json"]
    for status in ("pending", "running"):
        with pytest.raises(InvalidJob, match="only removes"):
            queue.cleanup(older_than=0, statuses=[status])


def test_remove_jobs_deletes_the_pending_jobs_of_one_type(
    queue: JobQueue, clock: FakeClock
) -> None:
    claim(queue, clock, queue.enqueue("resize"))
    queue.enqueue("resize")
    queue.enqueue("email")
    queue.enqueue("resize", delay=60)
    assert queue.remove_jobs(type="resize") == 2
    assert job_files(queue) == ["pending/job-000003.json", "running/job-000001.json"]
    assert queue.remove_jobs(type="resize") == 0


# --- stats ---------------------------------------------------------------------------------


def test_stats_of_an_empty_queue_are_zero(queue: JobQueue) -> None:
    assert queue.stats() == dict.fromkeys(
        [
            "pending",
            "delayed",
            "running",
            "complete",
            "failed",
            "cancelled",
            "quarantined",
            "total",
        ],
        0,
    )


def test_stats_count_every_status(queue: JobQueue, clock: FakeClock) -> None:
    queue.enqueue("ready")
    queue.enqueue("ready")
    queue.enqueue("later", delay=60)
    claim(queue, clock, queue.enqueue("run"))
    complete(queue, clock, queue.enqueue("done"))
    fail(queue, clock, queue.enqueue("broken"))
    cancelled(queue, clock, queue.enqueue("unwanted"))
    cancelled(queue, clock, queue.enqueue("unwanted"))
    path_of(queue, "pending", "job-000099").write_bytes(b"{ not json")
    assert queue.stats() == {
        "pending": 3, "delayed": 1, "running": 1, "complete": 1, "failed": 1,
        "cancelled": 2, "quarantined": 1, "total": 8,
    }  # fmt: skip
    clock.advance(60)
    assert queue.stats()["delayed"] == 0


# --- reap ----------------------------------------------------------------------------------


@pytest.fixture
def gone_worker() -> WorkerInfo:
    """A worker on this host whose process has exited (the start time guards against the
    pid being reused meanwhile)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = process.start_ticks(child.pid)
    child.kill()
    child.wait(timeout=10)
    return WorkerInfo(name="gone", host=process.hostname(), pid=child.pid, pid_started=started)


def live_worker() -> WorkerInfo:
    pid = os.getpid()
    return WorkerInfo(
        name="me", host=process.hostname(), pid=pid, pid_started=process.start_ticks(pid)
    )


def test_a_job_of_a_dead_local_worker_is_reaped_at_once(
    queue: JobQueue, clock: FakeClock, gone_worker: WorkerInfo
) -> None:
    running = claim(queue, clock, queue.enqueue("resize"), gone_worker)
    clock.advance(1)
    [reaped] = queue.reap(stale_after=3600)
    assert isinstance(reaped, PendingJob) and queue.get_job(running.metadata.id) == reaped
    assert (reaped.metadata.retry_count, reaped.metadata.run_at) == (1, clock.now())
    [attempt] = reaped.attempts
    assert (attempt.worker, attempt.started_at, attempt.ended_at) == (
        gone_worker, running.started_at, clock.now(),
    )  # fmt: skip
    assert attempt.error is not None and attempt.error.type == "WorkerLost"
    assert queue.reap() == []


def test_a_reaped_job_without_retries_fails(
    queue: JobQueue, clock: FakeClock, gone_worker: WorkerInfo
) -> None:
    claim(queue, clock, queue.enqueue("resize", max_retries=0), gone_worker)
    [reaped] = queue.reap()
    assert isinstance(reaped, FailedJob) and reaped.error.type == "WorkerLost"
    assert job_files(queue) == ["failed/job-000001.json"]


def test_a_job_of_a_live_local_worker_is_never_reaped(queue: JobQueue, clock: FakeClock) -> None:
    running = claim(queue, clock, queue.enqueue("resize"), live_worker())
    clock.advance(30 * DAY)
    assert queue.reap(stale_after=30) == []
    assert queue.get_job(running.metadata.id) == running


def test_a_reused_local_pid_does_not_keep_a_job(queue: JobQueue, clock: FakeClock) -> None:
    me = live_worker()
    assert me.pid_started is not None
    impostor = WorkerInfo(name="old", host=me.host, pid=me.pid, pid_started=me.pid_started - 1)
    claim(queue, clock, queue.enqueue("resize"), impostor)
    assert len(queue.reap(stale_after=3600)) == 1


def test_a_job_on_another_host_is_reaped_once_its_heartbeat_is_stale(
    queue: JobQueue, clock: FakeClock
) -> None:
    remote = WorkerInfo(name="far", host="elsewhere.invalid", pid=os.getpid())
    running = claim(queue, clock, queue.enqueue("resize"), remote)
    clock.advance(20)
    beat = transitions.heartbeat(running, clock.now())
    queue.backend.jobs.move(running, beat)
    clock.advance(30)
    assert queue.reap(stale_after=30) == []  # 30 s since the last heartbeat: not yet
    clock.advance(1)
    [reaped] = queue.reap(stale_after=timedelta(seconds=30))
    assert isinstance(reaped, PendingJob) and reaped.metadata.retry_count == 1


def test_reap_leaves_other_jobs_alone(
    queue: JobQueue, clock: FakeClock, gone_worker: WorkerInfo
) -> None:
    queue.enqueue("waiting")
    complete(queue, clock, queue.enqueue("done"))
    mine = claim(queue, clock, queue.enqueue("mine"), live_worker())
    claim(queue, clock, queue.enqueue("lost"), gone_worker)
    remote = claim(queue, clock, queue.enqueue("remote"), WORKER_B)
    assert ids(queue.reap()) == ["job-000004"]
    assert queue.query_jobs("running") == [mine, remote]


def test_a_lost_job_whose_cancel_was_asked_is_cancelled_not_rerun(
    queue: JobQueue, clock: FakeClock, gone_worker: WorkerInfo
) -> None:
    running = claim(queue, clock, queue.enqueue("resize"), gone_worker)
    assert queue.cancel(running.metadata.id, reason="user asked")
    [reaped] = queue.reap()
    assert isinstance(reaped, CancelledJob) and reaped.reason == "user asked"
    assert queue.get_job(running.metadata.id) == reaped
    assert [a.worker for a in reaped.attempts] == [gone_worker]


# --- corrupt files -------------------------------------------------------------------------


def test_a_corrupt_job_file_is_quarantined_and_tolerated(queue: JobQueue) -> None:
    good = queue.enqueue("resize")
    bad = path_of(queue, "pending", "job-000002")
    bad.write_bytes(b'{"status": "pending"')
    with pytest.raises(InvalidJob, match=r"pending/job-000002\.json: not valid JSON"):
        queue.get_job("job-000002")
    assert queue.query_jobs() == [good]
    assert queue.stats()["quarantined"] == 1
    [kept] = (Path(queue.location) / "jobs" / ".quarantine").iterdir()
    assert kept.read_bytes() == b'{"status": "pending"'
