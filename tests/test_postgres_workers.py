"""Real workers on PostgreSQL: ``jobqueue worker --processes`` drains a store it is told
by URL, process isolation forks children that reopen it, a dead local worker's job is
reaped at once, and ``show --json`` prints the job's document."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import postgres_cluster
import pytest
from typer.testing import CliRunner

from jobqueue import JobQueue, codec
from jobqueue.cli import app
from jobqueue.job import CompleteJob, PendingJob, WorkerInfo
from jobqueue.process import hostname

pytest.importorskip("psycopg", reason="the PostgreSQL backend needs jobqueue[postgres]")

WORKERS = Path(__file__).parent / "workers"


@pytest.fixture
def url() -> Iterator[str]:
    yield from postgres_cluster.fresh_url()


@pytest.fixture
def queue(url: str) -> Iterator[JobQueue]:
    queue = JobQueue(url)
    yield queue
    queue.close()


def run_worker(url: str, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "jobqueue", "--store", url, "worker",
               "run_worker:WorkWorker", "--burst", "--poll-interval", "0.05", *options]  # fmt: skip
    return subprocess.run(
        command, cwd=WORKERS, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "options",
    [("--processes", "2", "--concurrency", "2"), ("--isolation", "process")],
    ids=["two-processes", "process-isolation"],
)
def test_a_worker_told_the_store_by_url_drains_it(
    queue: JobQueue, url: str, options: tuple[str, ...]
) -> None:
    added = queue.enqueue_many("work", [{"n": n} for n in range(20)])

    done = run_worker(url, *options)

    assert done.returncode == 0, done.stderr[-2000:]
    for job in added:
        finished = queue.get_job(job.metadata.id)
        assert isinstance(finished, CompleteJob), finished
        assert len(finished.attempts) == 1
    assert queue.stats()["complete"] == 20


def test_the_job_of_a_dead_local_worker_is_reaped_at_once(queue: JobQueue) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    dead = WorkerInfo(name="dead", host=hostname(), pid=int(gone.stdout), pid_started=None)
    job = queue.enqueue("work")
    assert queue.backend.jobs.claim(dead, queue.clock.now()) is not None

    [reaped] = queue.reap(stale_after=3600)

    assert isinstance(reaped, PendingJob) and reaped.metadata.id == job.metadata.id
    assert reaped.attempts[0].error is not None


def test_show_json_prints_the_stored_document(queue: JobQueue, url: str) -> None:
    job = queue.enqueue("work", {"b": 1, "a": [0.5, None]}, priority=-1, unique_key="u")

    shown = CliRunner().invoke(app, ["--store", url, "show", job.metadata.id, "--json"])

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == orjson.loads(orjson.dumps(codec.to_document(job)))
