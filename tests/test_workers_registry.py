"""The worker registry: workers list themselves under jobs/.workers/ while they run."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import FakeClock
from monitoring import ids, wait_for, worker_process

from jobqueue import HandlerWorker, JobQueue
from jobqueue.backend import WorkerRecord
from jobqueue.backends.file.workers import file_name
from jobqueue.process import hostname
from jobqueue.worker.registry import FORGET_AFTER

#: What ``queue.workers()`` shows of each worker (README, "Workers").
WORKER_KEYS = {"name", "host", "pid", "started_at", "heartbeat_at", "concurrency", "running"}


def test_a_worker_process_is_listed_with_its_jobs_and_leaves_on_sigterm(data_dir: Path) -> None:
    queue = JobQueue(data_dir, durable=False)
    with worker_process(data_dir, "--concurrency", "3") as proc:
        (record,) = wait_for(queue.workers, what="the worker to register")
        assert set(record) == WORKER_KEYS
        assert (record["pid"], record["host"], record["concurrency"]) == (proc.pid, hostname(), 3)
        assert record["running"] == []
        held = sorted(queue.enqueue("hold").metadata.id for _ in range(2))
        wait_for(lambda: ids(queue.workers()) == [held], what="its running jobs")
        assert record["started_at"] <= queue.workers()[0]["heartbeat_at"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert queue.workers() == []  # gone at once, not after a stale limit
        assert queue.workers(include_stale=True) == []
        assert list((data_dir / "jobs" / ".workers").iterdir()) == []


def test_a_killed_worker_is_stale_at_once(data_dir: Path) -> None:
    queue = JobQueue(data_dir, durable=False)
    with worker_process(data_dir) as proc:
        wait_for(queue.workers, what="the worker to register")
        proc.kill()
        proc.wait(timeout=10)
    assert queue.workers() == []  # its process is gone from this host: not live
    (stale,) = queue.workers(include_stale=True)
    assert stale["pid"] == proc.pid and stale["stale"] is True
    health = queue.health()
    assert (health["status"], health["active_workers"], health["stale_workers"]) == (
        "degraded", 0, 1,
    )  # fmt: skip


def test_an_embedded_worker_registers_and_leaves(queue: JobQueue, clock: FakeClock) -> None:
    worker = HandlerWorker(queue, concurrency=2, poll_interval=0.05)
    worker.start()
    try:
        (record,) = wait_for(queue.workers, what="the worker to register")
        assert record["name"] == worker.get_worker_name() and record["pid"] == os.getpid()
        assert record["started_at"] == record["heartbeat_at"] == clock.now()
    finally:
        worker.stop(timeout=10)
    assert queue.workers() == []


def test_a_long_stale_record_is_forgotten_when_a_worker_joins(
    queue: JobQueue, clock: FakeClock
) -> None:
    old = WorkerRecord(name="gone", host="elsewhere.example", pid=1, pid_started=None,
                       started_at=datetime(2029, 12, 31, 23, 0, tzinfo=UTC),
                       heartbeat_at=datetime(2029, 12, 31, 23, 49, tzinfo=UTC),
                       concurrency=1)  # fmt: skip
    recent = replace(old, name="recent", heartbeat_at=datetime(2029, 12, 31, 23, 59, tzinfo=UTC))
    queue.backend.workers.put(old)
    queue.backend.workers.put(recent)
    assert timedelta(minutes=1) < FORGET_AFTER <= timedelta(minutes=11)
    worker = HandlerWorker(queue)
    worker.run(burst=True)
    names = [w["name"] for w in queue.workers(include_stale=True)]
    assert names == ["recent"]  # stale for 1 minute: still reported; 11 minutes: forgotten


def test_record_file_names_are_safe_and_distinct() -> None:
    names = ["../../etc/passwd", ".hidden", "a/b", "a_b", "Worker@host:42", "", "x" * 500]
    files = [file_name(n) for n in names]
    assert len(set(files)) == len(files)
    for f in files:
        assert "/" not in f and not f.startswith(".") and f.endswith(".json") and len(f) < 150


def test_unreadable_records_are_skipped(queue: JobQueue, data_dir: Path) -> None:
    workers_dir = data_dir / "jobs" / ".workers"
    (workers_dir / "torn.json").write_text('{"name": "half')
    (workers_dir / "list.json").write_text("[1, 2]")
    (workers_dir / "link.json").symlink_to(workers_dir / "list.json")  # never read through
    assert queue.workers(include_stale=True) == []
    assert queue.health()["stale_workers"] == 0
