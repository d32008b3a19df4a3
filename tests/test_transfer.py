"""``jobqueue transfer`` and ``jobqueue.transfer``: a whole queue copied between stores,
ids and documents kept, re-runnable after an interruption, ``--move`` and ``--dry-run``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import postgres_cluster
import pytest
from conftest import WORKER_A, FakeClock, SeqIds
from typer.testing import CliRunner, Result

from jobqueue import transitions
from jobqueue.backend import Backend, JobStore, open_backend
from jobqueue.cli import app
from jobqueue.errors import StoreError
from jobqueue.job import STATUSES, ErrorInfo, Job, Metadata, PendingJob
from jobqueue.schedules.model import Schedule
from jobqueue.transfer import JobsRunning, transfer

ALL = STATUSES
BOOM = ErrorInfo(type="Boom", message="it broke")


def everything(backend: Backend) -> list[Job]:
    return list(backend.jobs.scan(ALL))


def schedules(backend: Backend) -> list[Schedule]:
    return backend.schedules.all()


def put_schedule(backend: Backend, name: str) -> Schedule:
    schedule = Schedule(name=name, cron="*/5 * * * *", type="report", params={"n": name})
    with backend.schedules.lock(name):
        backend.schedules.put(schedule)
    return schedule


def fill(backend: Backend, clock: FakeClock, pending: int = 4) -> list[Job]:
    """A queue with a job of each status but running (with attempts) and a schedule."""
    jobs = backend.jobs
    now = clock.now()
    new_id = SeqIds()

    def make(**meta: Any) -> PendingJob:
        meta.setdefault("created", now)
        meta.setdefault("run_at", now)
        return PendingJob(metadata=Metadata(id=new_id(now), type="resize", **meta), params={})

    ended = [make(), make(), make()]
    jobs.add(ended)
    _end(jobs, clock, "complete")
    _end(jobs, clock, "fail")
    _end(jobs, clock, "retry")
    jobs.add([make(unique_key=f"k{n}", run_at=now + timedelta(hours=n)) for n in range(pending)])
    cancelled = make()
    jobs.add([cancelled])
    jobs.move(cancelled, transitions.cancel_pending(cancelled, "no", now))
    put_schedule(backend, "nightly")
    return everything(backend)


def _end(jobs: JobStore, clock: FakeClock, how: str) -> None:
    running = jobs.claim(WORKER_A, clock.now())
    assert running is not None
    now = clock.now()
    if how == "complete":
        jobs.move(running, transitions.complete(running, {"ok": True}, now))
    else:
        delay = timedelta(minutes=1) if how == "retry" else None
        jobs.move(running, transitions.fail(running, BOOM, now, delay))


@pytest.fixture
def file_source(tmp_path: Path) -> Iterator[Backend]:
    backend = open_backend(tmp_path / "source", durable=False)
    yield backend
    backend.close()


@pytest.fixture
def file_target(tmp_path: Path) -> Iterator[Backend]:
    backend = open_backend(tmp_path / "target", durable=False)
    yield backend
    backend.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_cluster.fresh_url()


# --- between backends ----------------------------------------------------------------------


def test_file_to_memory_keeps_every_job_and_schedule(
    file_source: Backend, clock: FakeClock
) -> None:
    jobs = fill(file_source, clock)
    target = open_backend("memory://")

    done = transfer(file_source, target)

    assert everything(target) == jobs
    assert schedules(target) == schedules(file_source)
    assert (done.copied, done.skipped, done.schedules) == (len(jobs), 0, 1)
    assert everything(file_source) == jobs  # a copy, not a move


def test_file_to_file_keeps_documents_byte_for_byte(
    file_source: Backend, file_target: Backend, clock: FakeClock, tmp_path: Path
) -> None:
    jobs = fill(file_source, clock)

    transfer(file_source, file_target)

    assert everything(file_target) == jobs
    for job in jobs:
        name = f"{job.status}/{job.metadata.id}.json"
        source_file = tmp_path / "source" / "jobs" / name
        assert (tmp_path / "target" / "jobs" / name).read_bytes() == source_file.read_bytes()


def test_file_to_postgresql_and_the_copies_are_claimable(
    file_source: Backend, clock: FakeClock, pg_url: str
) -> None:
    jobs = fill(file_source, clock)
    target = open_backend(pg_url)
    try:
        done = transfer(file_source, target, page=3)  # several pages

        assert everything(target) == jobs
        assert schedules(target) == schedules(file_source)
        assert done.copied == len(jobs)
        claimed = target.jobs.claim(WORKER_A, clock.now() + timedelta(days=1))
        assert claimed is not None and claimed.metadata.id in {j.metadata.id for j in jobs}
    finally:
        target.close()


# --- re-running ------------------------------------------------------------------------------


def test_a_rerun_copies_nothing_twice(file_source: Backend, clock: FakeClock) -> None:
    jobs = fill(file_source, clock)
    target = open_backend("memory://")
    transfer(file_source, target)

    again = transfer(file_source, target)

    assert (again.copied, again.skipped) == (0, len(jobs))
    assert (again.schedules, again.schedules_skipped) == (0, 1)
    assert everything(target) == jobs


class Interrupted(StoreError):
    """The fake target's failure midway."""


class FailingJobs:
    """A JobStore that fails on the call to import_jobs after ``calls_left`` calls."""

    def __init__(self, inner: JobStore, calls_left: int) -> None:
        self.inner = inner
        self.calls_left = calls_left

    def import_jobs(self, jobs: Sequence[Job]) -> list[bool]:
        if self.calls_left == 0:
            raise Interrupted("the connection dropped")
        self.calls_left -= 1
        return self.inner.import_jobs(jobs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FailingTarget:
    def __init__(self, inner: Backend, calls_left: int) -> None:
        self.inner = inner
        self.jobs = FailingJobs(inner.jobs, calls_left)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("move", [False, True])
def test_an_interrupted_transfer_completes_when_run_again(
    file_source: Backend, clock: FakeClock, move: bool
) -> None:
    jobs = fill(file_source, clock, pending=6)
    target = open_backend("memory://")
    failing: Any = FailingTarget(target, calls_left=2)

    with pytest.raises(Interrupted):
        transfer(file_source, failing, page=3, move=move)
    half = everything(target)
    assert 0 < len(half) < len(jobs)

    done = transfer(file_source, target, page=3, move=move)

    assert everything(target) == jobs
    assert (done.copied, done.skipped) == (len(jobs) - len(half), 0 if move else len(half))
    assert everything(file_source) == ([] if move else jobs)


# --- move, dry run, refusal -------------------------------------------------------------------


def test_move_deletes_what_was_copied_from_the_source(
    file_source: Backend, file_target: Backend, clock: FakeClock
) -> None:
    jobs = fill(file_source, clock)

    done = transfer(file_source, file_target, move=True)

    assert everything(file_target) == jobs
    assert everything(file_source) == []
    assert schedules(file_source) == []
    assert (done.deleted, done.schedules_deleted, done.changed) == (len(jobs), 1, 0)
    new = file_source.jobs.get(jobs[0].metadata.id)
    assert new is None


def test_a_dry_run_changes_nothing(
    file_source: Backend, file_target: Backend, clock: FakeClock
) -> None:
    jobs = fill(file_source, clock)
    file_target.jobs.import_jobs(jobs[:2])

    done = transfer(file_source, file_target, move=True, dry_run=True)

    assert (done.copied, done.skipped, done.schedules) == (len(jobs) - 2, 2, 1)
    assert everything(file_target) == jobs[:2]
    assert schedules(file_target) == []
    assert everything(file_source) == jobs
    assert len(schedules(file_source)) == 1


def test_refused_while_a_job_runs_in_the_source(file_source: Backend, clock: FakeClock) -> None:
    fill(file_source, clock)
    file_source.jobs.claim(WORKER_A, clock.now() + timedelta(days=1))
    target = open_backend("memory://")

    with pytest.raises(JobsRunning, match="running"):
        transfer(file_source, target)
    assert everything(target) == []
    assert schedules(target) == []


# --- the command ------------------------------------------------------------------------------


def run(*args: str, source: Path) -> Result:
    return CliRunner().invoke(app, ["--data-dir", str(source), "transfer", *args])


def test_cli_transfer_prints_a_summary(
    file_source: Backend, clock: FakeClock, tmp_path: Path
) -> None:
    jobs = fill(file_source, clock)
    to = str(tmp_path / "target")

    first = run("--to", to, source=tmp_path / "source")
    again = run("--to", to, source=tmp_path / "source")

    assert first.exit_code == 0, first.output
    assert first.stdout == (
        f"copied {len(jobs)} jobs, skipped 0 already in {to}; schedules: copied 1, skipped 0\n"
    )
    assert again.stdout.startswith(f"copied 0 jobs, skipped {len(jobs)} already in")
    assert everything(open_backend(to)) == jobs


def test_cli_transfer_move_says_what_it_deleted(
    file_source: Backend, clock: FakeClock, tmp_path: Path
) -> None:
    jobs = fill(file_source, clock)

    result = run("--to", str(tmp_path / "target"), "--move", source=tmp_path / "source")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == (
        f"deleted {len(jobs)} jobs and 1 schedule from {file_source.location}"
    )
    assert everything(file_source) == []


def test_cli_dry_run_creates_no_target(
    file_source: Backend, clock: FakeClock, tmp_path: Path
) -> None:
    jobs = fill(file_source, clock)

    result = run("--to", str(tmp_path / "target"), "--dry-run", source=tmp_path / "source")

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"would copy {len(jobs)} jobs, would skip 0 already in {tmp_path / 'target'}; "
        "schedules: would copy 1, would skip 0\n"
    )
    assert not (tmp_path / "target").exists()


def test_cli_refuses_with_one_line_while_a_job_runs(
    file_source: Backend, clock: FakeClock, tmp_path: Path
) -> None:
    fill(file_source, clock)
    running = file_source.jobs.claim(WORKER_A, clock.now())
    assert running is not None

    result = run("--to", str(tmp_path / "target"), source=tmp_path / "source")

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: job {running.metadata.id} is running in {file_source.location}: "
        "stop its workers before a transfer\n"
    )


def test_cli_refuses_a_transfer_to_the_store_itself(tmp_path: Path, file_source: Backend) -> None:
    result = run("--to", str(tmp_path / "source"), "--move", source=tmp_path / "source")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_cli_a_missing_source_is_an_error(tmp_path: Path) -> None:
    result = run("--to", str(tmp_path / "target"), source=tmp_path / "nowhere")

    assert result.exit_code == 1
    assert "no queue" in result.stderr
    assert not (tmp_path / "target").exists()


class FailingDeletes:
    """A source JobStore whose delete fails after ``calls_left`` calls."""

    def __init__(self, inner: JobStore, calls_left: int) -> None:
        self.inner = inner
        self.calls_left = calls_left

    def delete(self, job: Job) -> None:
        if self.calls_left == 0:
            raise Interrupted("the disk went away")
        self.calls_left -= 1
        self.inner.delete(job)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_move_interrupted_between_copy_and_delete_deletes_on_the_rerun(
    file_source: Backend, clock: FakeClock
) -> None:
    jobs = fill(file_source, clock)
    target = open_backend("memory://")
    failing: Any = FailingTarget(file_source, calls_left=0)
    failing.jobs = FailingDeletes(file_source.jobs, calls_left=2)

    with pytest.raises(Interrupted):
        transfer(failing, target, page=4, move=True)
    left = everything(file_source)

    done = transfer(file_source, target, page=4, move=True)

    assert everything(target) == jobs
    assert everything(file_source) == []
    assert (done.skipped, done.deleted) == (len(left) - done.copied, len(left))
    assert done.skipped > 0
