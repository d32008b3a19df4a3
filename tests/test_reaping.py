"""Reaping against real worker processes (tests/workers/run_worker.py, heartbeat 0.2 s).

What tests/test_queue.py and tests/test_processes.py already prove is not repeated here
(a dead local pid is reaped at once, a stale remote heartbeat after stale_after, a
SIGKILLed worker's job comes back as a WorkerLost attempt). Here:

* a long job whose worker heartbeats is never reaped, by a reaper on this host or by one
  that, like a machine sharing the directory, can only judge by the heartbeat;
* a worker frozen past stale_after (alive, silent) is reaped by the remote reaper only,
  and once it wakes it drops its result with a warning and never overwrites the job's
  newer state.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobqueue import CompleteJob, JobQueue, PendingJob, RunningJob, codec, reaper
from jobqueue.job import WorkerInfo

RUN_WORKER = Path(__file__).parent / "workers" / "run_worker.py"
OTHER_HOST = "elsewhere.example"  # a reaper that cannot check pids: heartbeats only
STALE = timedelta(seconds=1)

# Reaps in a loop for SECONDS, as this host and as another one; prints how many it reaped.
REAP_LOOP = """
import sys, time
from datetime import UTC, datetime, timedelta
from jobqueue import JobQueue, reaper
queue = JobQueue(sys.argv[1], durable=False)
reaped, ends = 0, time.monotonic() + float(sys.argv[2])
while time.monotonic() < ends:
    reaped += len(queue.reap(stale_after=1))
    jobs, cancels, now = queue.backend.jobs, queue.backend.cancels, datetime.now(UTC)
    reaped += len(reaper.reap(jobs, cancels, now, timedelta(seconds=1), host="elsewhere.example"))
    time.sleep(0.05)
print(reaped)
"""


@pytest.fixture
def queue(data_dir: Path) -> JobQueue:
    return JobQueue(data_dir, durable=False)


@pytest.fixture
def worker(data_dir: Path, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """worker() starts run_worker.py; every one started is killed after the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, str(RUN_WORKER), str(data_dir), "--heartbeat-interval", "0.2"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait(10)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.02)
    return value


def running_in(queue: JobQueue, job_id: str, pid: int) -> RunningJob | None:
    job = queue.get_job(job_id)
    return job if isinstance(job, RunningJob) and job.worker.pid == pid else None


def test_a_long_job_that_heartbeats_is_never_reaped(
    queue: JobQueue, data_dir: Path, worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    job = queue.enqueue("work", {"seconds": 3, "cooperative": False})
    proc = worker()
    wait_for(lambda: running_in(queue, job.metadata.id, proc.pid), 10, "the job to start")
    reaping = subprocess.run(
        [sys.executable, "-c", REAP_LOOP, str(data_dir), "3.5"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert reaping.returncode == 0, reaping.stderr
    assert int(reaping.stdout) == 0, "a job with a live heartbeat was reaped"
    done = wait_for(lambda: _complete(queue, job.metadata.id), 10, "the job to complete")
    [attempt] = done.attempts
    assert attempt.error is None and attempt.worker.pid == proc.pid


def reap_remotely(queue: JobQueue) -> list[reaper.Reaped]:
    """Reap as a process on another host would: it can judge only by the heartbeat."""
    backend = queue.backend
    return reaper.reap(backend.jobs, backend.cancels, datetime.now(UTC), STALE, host=OTHER_HOST)


def _complete(queue: JobQueue, job_id: str) -> CompleteJob | None:
    job = queue.get_job(job_id)
    return job if isinstance(job, CompleteJob) else None


def test_a_silent_worker_is_reaped_after_stale_after_and_then_drops_its_result(
    queue: JobQueue, tmp_path: Path, worker: Callable[[], subprocess.Popen[bytes]]
) -> None:
    job = queue.enqueue("work", {"seconds": 1.5, "cooperative": False})
    proc = worker()
    wait_for(lambda: running_in(queue, job.metadata.id, proc.pid), 10, "the job to start")
    proc.send_signal(signal.SIGSTOP)  # alive, but neither working nor heartbeating
    frozen_at = datetime.now(UTC)

    assert queue.reap(stale_after=STALE) == []  # this host: the pid is alive, never reaped
    assert reap_remotely(queue) == []
    time.sleep(1.2)  # the heartbeat is now older than stale_after
    [reaped] = reap_remotely(queue)
    assert isinstance(reaped, PendingJob) and reaped.metadata.retry_count == 1
    assert reaped.attempts[-1].error is not None
    assert reaped.attempts[-1].error.type == "WorkerLost"
    assert reaped.attempts[-1].ended_at >= frozen_at + STALE

    taker = WorkerInfo(name="taker", host=OTHER_HOST, pid=1)  # the job's newer owner
    newer = queue.backend.jobs.claim(taker, datetime.now(UTC))
    assert isinstance(newer, RunningJob) and newer.metadata.id == job.metadata.id
    proc.send_signal(signal.SIGCONT)
    log = tmp_path / "worker-0.log"
    wait_for(lambda: "dropped its outcome" in log.read_text(), 10, "the worker to give up")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, log.read_text()

    assert queue.get_job(job.metadata.id) == newer  # never overwritten
    assert "changed under its worker" in log.read_text()
    assert json.loads(codec.encode(newer))["worker"]["name"] == "taker"
