"""Real processes race to claim from one data dir: every job is claimed exactly once.

Each process opens its own FileStore, builds its index, waits at a barrier so the race
really overlaps, then claims until nothing is left and reports what it got.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import START, FakeClock, SeqIds

from jobqueue import JobQueue
from jobqueue.backends.file import FileStore
from jobqueue.job import RunningJob, WorkerInfo
from jobqueue.process import hostname, start_ticks

N_JOBS = 2_000
N_PROCESSES = 4
TIMEOUT = 45.0


def claim_until_empty(root: str, name: str, barrier: Any, results: Any) -> None:
    """Runs in a child process (spawned: it must be importable at module level)."""
    store = FileStore(root, durable=False)
    pid = os.getpid()
    worker = WorkerInfo(name=name, host=hostname(), pid=pid, pid_started=start_ticks(pid))
    store.counts(START)  # every process knows every job before the race starts
    barrier.wait(timeout=TIMEOUT)
    claimed = []
    while (job := store.claim(worker, START)) is not None:
        claimed.append(job.metadata.id)
    results.put((name, claimed))


@pytest.mark.timeout(60)
def test_each_job_is_claimed_by_exactly_one_process(data_dir: Path) -> None:
    queue = JobQueue(data_dir, durable=False, clock=FakeClock(START), new_id=SeqIds())
    expected = {j.metadata.id for j in queue.enqueue_many("race", [{}] * N_JOBS)}
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(N_PROCESSES), ctx.Queue()
    names = [f"claimer-{n}" for n in range(N_PROCESSES)]
    processes = [
        ctx.Process(target=claim_until_empty, args=(str(data_dir), name, barrier, results))
        for name in names
    ]
    for p in processes:
        p.start()
    try:
        reports = dict(results.get(timeout=TIMEOUT) for _ in processes)
    finally:
        for p in processes:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in processes] == [0] * N_PROCESSES

    claims = Counter(job_id for got in reports.values() for job_id in got)
    assert [job_id for job_id, n in claims.items() if n > 1] == []  # no duplicate
    assert set(claims) == expected  # none missing
    assert_all_running_as_reported(data_dir, reports)


def assert_all_running_as_reported(data_dir: Path, reports: dict[str, list[str]]) -> None:
    """Every file is in running/, owned by the process that said it claimed it."""
    jobs = data_dir / "jobs"
    assert list((jobs / "pending").iterdir()) == []
    assert list((jobs / ".staging").iterdir()) == []
    store = FileStore(data_dir, durable=False)
    owner = {job_id: name for name, got in reports.items() for job_id in got}
    running = list(store.scan(["running"]))
    assert len(running) == N_JOBS
    for job in running:
        assert isinstance(job, RunningJob)
        assert job.worker.name == owner[job.metadata.id]
