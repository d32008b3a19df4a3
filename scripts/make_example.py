"""Regenerate data-example/: a small data dir with real job files in every status.

    python scripts/make_example.py data-example

The files are written by jobqueue itself (API, store and the pure transitions), with a
fixed clock and seeded ids, so re-running it gives the same bytes.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from random import Random

from jobqueue import ErrorInfo, JobQueue, Progress, RunningJob, WorkerInfo, transitions
from jobqueue.ids import TimeIds

WORKER = WorkerInfo(name="ResizeWorker@example-host:4242", host="example-host", pid=4242)
TRACEBACK = """Traceback (most recent call last):
  File "workers.py", line 31, in execute_job
    smtp.send(params["to"], body)
ConnectionRefusedError: [Errno 111] Connection refused"""


@dataclass
class StepClock:
    """Moves 1.5 s per reading, so every timestamp in the example differs."""

    current: datetime = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(seconds=1.5)
        return self.current


def claim(queue: JobQueue, job_type: str) -> RunningJob:
    job = queue.backend.jobs.claim(WORKER, queue.clock.now(), {job_type})
    assert job is not None, f"no {job_type} job to claim"
    return job


def build(target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    clock = StepClock()
    queue = JobQueue(target, durable=False, clock=clock, new_id=TimeIds(Random(7)))
    refused = ErrorInfo(type="ConnectionRefusedError", message="[Errno 111] Connection refused",
                        traceback=TRACEBACK)  # fmt: skip

    done = queue.enqueue("resize", {"path": "photos/beach.png", "width": 640})
    queue.backend.jobs.move(r := claim(queue, "resize"), transitions.complete(
        r, {"width": 640, "height": 427, "output": "thumbs/beach.png"}, clock.now()))  # fmt: skip

    queue.enqueue("resize", {"path": "photos/forest.png", "width": 640})
    running = claim(queue, "resize")
    queue.backend.jobs.move(running, transitions.heartbeat(running, clock.now(), _progress()))

    queue.enqueue("send_email", {"to": "ops@example.com", "template": "weekly"}, max_retries=1)
    first = claim(queue, "send_email")
    retried = transitions.fail(first, refused, clock.now(), timedelta(0))
    queue.backend.jobs.move(first, retried)
    second = claim(queue, "send_email")
    queue.backend.jobs.move(second, transitions.fail(second, refused, clock.now(), None))

    report = queue.enqueue("report", {"kind": "daily"}, unique_key="report:2026-11-23")
    queue.cancel(report.metadata.id, reason="superseded by a newer report")

    queue.enqueue("resize", {"path": "photos/city.png", "width": 1280}, priority=-5)
    queue.enqueue("send_email", {"to": "team@example.com"}, delay=timedelta(hours=1))
    queue.enqueue("report", {"kind": "weekly"}, user_id="alice", timeout=600)
    assert done.metadata.id and retried.status == "pending"
    _drop_hidden(target / "jobs")


def _progress() -> Progress:
    return Progress(percentage=40.0, stage="resizing", message="forest.png 2/5")


def _drop_hidden(jobs: Path) -> None:
    """Locks, index and temp dirs are rebuilt on first use: keep only the job files."""
    for entry in jobs.iterdir():
        if entry.name.startswith("."):
            shutil.rmtree(entry)


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "data-example"))
