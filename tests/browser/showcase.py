"""A queue that looks like a real one, for the pages every test walks through and for
the screenshots: a few dozen jobs of five types in every status, an hour of history
(jobs that ran over the last hour, some failing, so the overview's charts have bars),
two running with progress, failures grouped by error, a live worker, a dead one whose
job a reap would take back, and two schedules (one paused). Made through the backend
protocol as a worker makes them, so the event log has each step
(``tests/dashboard/seed.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dashboard.seed import run

from jobqueue import JobQueue, transitions
from jobqueue.backend import WorkerRecord
from jobqueue.job import ErrorInfo, Job, Progress, RunningJob, WorkerInfo
from jobqueue.process import hostname, start_ticks

TIMEOUT = ErrorInfo(type="TimeoutError", message="crm.example.com took longer than 30s")
TIFF = ErrorInfo(type="ValueError", message="unsupported image format 'tiff'")


def dead_pid() -> int:
    """The pid of a process that has exited (a worker killed mid-job)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True, timeout=30)  # fmt: skip
    return int(done.stdout)


def populate(queue: JobQueue) -> dict[str, str]:
    """Fill ``queue``; the ids worth visiting: ``failed``, ``running``, ``complete``,
    ``pending``, ``lost`` (a running job whose worker is gone)."""
    ids = _history(queue)
    ids["running"] = _running(queue)
    ids["lost"] = _lost(queue)
    ids["cancelled"] = queue.enqueue("send_email", {"to": "old@example.com"}).metadata.id
    queue.cancel(ids["cancelled"], reason="address bounced")
    for n in range(5):
        job = queue.enqueue("resize_image", {"path": f"uploads/{n}.png", "width": 800},
                            priority=n % 3)  # fmt: skip
        ids["pending"] = job.metadata.id
    queue.enqueue("generate_report", {"month": "2030-02"}, delay=timedelta(hours=1))
    queue.schedule("nightly-report", "0 3 * * *", "generate_report", {"period": "day"})
    queue.schedule("hourly-sync", "0 * * * *", "sync_crm", {"full": False})
    queue.pause("hourly-sync")
    return ids


@dataclass
class Past:
    """A clock that starts in the past and moves ``step`` at each reading: jobs run on
    it look spread over the time before now."""

    at: datetime
    step: timedelta

    def now(self) -> datetime:
        """The next reading."""
        self.at += self.step
        return self.at


#: The hour of history, in order: a job type and how it ended (a result or an error).
HISTORY: tuple[tuple[str, dict[str, Any] | ErrorInfo], ...] = (
    ("resize_image", {"width": 800}), ("send_email", {"sent": 1}),
    ("sync_crm", TIMEOUT), ("generate_report", {"rows": 1204}),
    ("resize_image", {"width": 1600}), ("send_email", {"sent": 3}),
    ("resize_image", TIFF), ("generate_report", {"rows": 980}),
    ("send_email", {"sent": 1}), ("resize_image", {"width": 800}),
    ("sync_crm", TIMEOUT), ("send_email", {"sent": 2}),
    ("generate_report", {"rows": 1311}), ("resize_image", {"width": 640}),
    ("send_email", {"sent": 1}),
)  # fmt: skip


def _history(queue: JobQueue) -> dict[str, str]:
    """Run HISTORY over the last ~50 minutes; the last complete and failed ids."""
    start = datetime.now(UTC) - timedelta(minutes=55)
    past = JobQueue(queue.backend, clock=Past(start, timedelta(seconds=50)))
    ids = {}
    for job_type, outcome in HISTORY:
        ids["failed" if isinstance(outcome, ErrorInfo) else "complete"] = _ended(
            past, job_type, outcome
        )
    return ids


def _ended(queue: JobQueue, job_type: str, outcome: dict[str, Any] | ErrorInfo) -> str:
    """A ``job_type`` job run once: complete with ``outcome`` as its result, or failed
    with ``outcome`` as its error (no retry left); its id."""
    job_id = queue.enqueue(job_type, {"batch": 7}, max_retries=0).metadata.id

    def end(job: RunningJob) -> Job:
        now = queue.clock.now()
        if isinstance(outcome, ErrorInfo):
            return transitions.fail(job, outcome, now, None)
        return transitions.complete(job, outcome, now)

    run(queue, job_type, end)
    return job_id


def _running(queue: JobQueue) -> str:
    me = WorkerInfo(name="worker-a", host=hostname(), pid=os.getpid(),
                    pid_started=start_ticks(os.getpid()))  # fmt: skip
    running = []
    for job_type, percentage, stage in (("transcode_video", 64, "encoding 1080p"),
                                        ("generate_report", 35, "aggregating")):  # fmt: skip
        job_id = queue.enqueue(job_type, {"source": "talk.mov"}).metadata.id
        job = claim_as(queue, me, job_type)
        progress = Progress(percentage=percentage, stage=stage)
        queue.backend.jobs.move(job, transitions.heartbeat(job, queue.clock.now(), progress))
        running.append(job_id)
    now = queue.clock.now()
    queue.backend.workers.put(WorkerRecord(
        name=me.name, host=me.host, pid=me.pid, pid_started=me.pid_started, started_at=now,
        heartbeat_at=now, concurrency=4, running=tuple(running),
    ))  # fmt: skip
    return running[0]


def _lost(queue: JobQueue) -> str:
    gone = WorkerInfo(name="worker-b", host=hostname(), pid=dead_pid())
    job_id = queue.enqueue("sync_crm", {"batch": 8}).metadata.id
    job = claim_as(queue, gone, "sync_crm")
    now = queue.clock.now()
    queue.backend.workers.put(WorkerRecord(
        name=gone.name, host=gone.host, pid=gone.pid, pid_started=None,
        started_at=now - timedelta(minutes=5), heartbeat_at=now - timedelta(minutes=2),
        concurrency=1, running=(job.metadata.id,),
    ))  # fmt: skip
    return job_id


def claim_as(queue: JobQueue, worker: WorkerInfo, job_type: str) -> RunningJob:
    """Claim the due ``job_type`` job as ``worker``."""
    job = queue.backend.jobs.claim(worker, queue.clock.now(), [job_type])
    assert job is not None, f"no due {job_type} job"
    return job
