"""queue.health(): each rule of jobqueue.health, on a fake clock with hand-made worker records."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import WORKER_A, Assembled, FakeClock, SeqIds
from monitoring import dead_pid

from jobqueue import ErrorInfo, JobQueue, StoreError, transitions
from jobqueue.backend import WorkerRecord
from jobqueue.backends.file import FileBackend, FileStore
from jobqueue.health import HealthLimits
from jobqueue.process import hostname, start_ticks


def record(clock: FakeClock, name: str = "w1", **changes: Any) -> WorkerRecord:
    """A registry record of this (live) test process, heartbeating now."""
    fields = {
        "name": name, "host": hostname(), "pid": os.getpid(),
        "pid_started": start_ticks(os.getpid()), "started_at": clock.now(),
        "heartbeat_at": clock.now(), "concurrency": 2, "running": (), "stale_after": 30.0,
    }  # fmt: skip
    return WorkerRecord(**(fields | changes))


def verdict(queue: JobQueue, **limits: Any) -> tuple[str, list[str]]:
    h = queue.health(HealthLimits(**limits)) if limits else queue.health()
    return h["status"], h["reasons"]


def test_an_idle_empty_queue_is_healthy(queue: JobQueue) -> None:
    assert queue.health() == {
        "status": "healthy", "queue_depth": 0, "oldest_due_wait_s": 0.0,
        "active_workers": 0, "stale_workers": 0, "reasons": [],
    }  # fmt: skip


def test_due_jobs_without_a_live_worker_are_unhealthy(queue: JobQueue, clock: FakeClock) -> None:
    queue.enqueue("a", delay=60)  # delayed: not part of the depth
    assert verdict(queue) == ("healthy", [])
    queue.enqueue("a")
    clock.advance(5)
    h = queue.health()
    assert (h["status"], h["queue_depth"], h["oldest_due_wait_s"]) == ("unhealthy", 1, 5.0)
    queue.backend.workers.put(record(clock))
    assert verdict(queue) == ("healthy", [])
    assert queue.health()["active_workers"] == 1


def test_the_oldest_due_job_waiting_too_long_degrades(queue: JobQueue, clock: FakeClock) -> None:
    queue.enqueue("a", delay=10)  # due at +10 s: its wait counts from its run_at
    queue.enqueue("a", delay=20)
    queue.backend.workers.put(record(clock, stale_after=3600.0))
    clock.advance(310)
    assert queue.health()["oldest_due_wait_s"] == 300.0
    assert verdict(queue) == ("healthy", [])  # 300 s is the limit, not past it
    clock.advance(1)
    assert verdict(queue) == ("degraded", ["the oldest due job has waited 301s"])
    assert verdict(queue, max_wait_s=400.0) == ("healthy", [])


def test_stale_workers_degrade(queue: JobQueue, clock: FakeClock) -> None:
    queue.backend.workers.put(record(clock, "live", stale_after=60.0))
    queue.backend.workers.put(record(clock, "killed", pid=dead_pid(), pid_started=None))
    queue.backend.workers.put(record(clock, "remote", host="elsewhere.example"))
    assert verdict(queue) == ("degraded", ["stale workers (1): killed or silent"])
    clock.advance(31)  # past the remote worker's stale_after (30 s), not the live one's
    h = queue.health()
    assert (h["active_workers"], h["stale_workers"]) == (1, 2)
    assert [w["name"] for w in queue.workers()] == ["live"]
    listed = {w["name"]: w["stale"] for w in queue.workers(include_stale=True)}
    assert listed == {"killed": True, "live": False, "remote": True}
    clock.advance(30)  # a live process that stopped heartbeating is hung: stale too
    assert queue.health()["stale_workers"] == 3


def test_quarantined_files_degrade(queue: JobQueue, data_dir: Path) -> None:
    (data_dir / "jobs" / "pending" / "broken.json").write_text("{not json")
    assert queue.query_jobs() == []  # reading it quarantines it
    assert verdict(queue) == ("degraded", ["quarantined job files (1)"])


def finish(queue: JobQueue, clock: FakeClock, failed: int, succeeded: int) -> None:
    for n in range(failed + succeeded):
        queue.enqueue("a", max_retries=0)
        running = queue.backend.jobs.claim(WORKER_A, clock.now())
        assert running is not None
        end = (
            transitions.fail(running, ErrorInfo(type="E", message="x"), clock.now(), None)
            if n < failed
            else transitions.complete(running, None, clock.now())
        )
        queue.backend.jobs.move(running, end)


@pytest.mark.parametrize(
    ("failed", "succeeded", "status"),
    [(6, 4, "degraded"), (5, 5, "healthy"), (9, 0, "healthy")],  # 9: too few to judge
)
def test_a_high_recent_error_rate_degrades(
    queue: JobQueue, clock: FakeClock, failed: int, succeeded: int, status: str
) -> None:
    finish(queue, clock, failed, succeeded)
    assert verdict(queue)[0] == status
    clock.advance(16 * 60)  # out of the 15-minute error window
    assert verdict(queue) == ("healthy", [])


class BrokenStore(FileStore):
    def counts(self, now: datetime) -> Mapping[str, int]:
        raise StoreError("cannot read jobs/: the disk is gone")


def test_an_unreadable_store_is_unhealthy(data_dir: Path, clock: FakeClock) -> None:
    backend = Assembled.of(FileBackend(data_dir), jobs=BrokenStore(data_dir))
    queue = JobQueue(backend, clock=clock, new_id=SeqIds())
    h = queue.health()
    assert h["status"] == "unhealthy" and h["queue_depth"] is None
    assert h["reasons"] == ["the store cannot be read: cannot read jobs/: the disk is gone"]


def test_limits_are_keyword_only_and_frozen() -> None:
    limits = HealthLimits(max_wait_s=1.0)
    with pytest.raises(AttributeError):
        limits.max_wait_s = 2.0  # type: ignore[misc]
    assert limits.error_window == timedelta(minutes=15)
