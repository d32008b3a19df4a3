"""Jobs in every status, made the way a worker makes them (claims and transitions
through the backend protocol, so the event log records each step), for dashboard tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from jobqueue import JobQueue, transitions
from jobqueue.job import ErrorInfo, Job, Progress, RunningJob, WorkerInfo

WORKER = WorkerInfo(name="worker-7", host="test-host", pid=4242)
BOOM = ErrorInfo(type="ValueError", message="bad <b>pixel</b>", traceback="Traceback: line 1")


def claim(queue: JobQueue, job_type: str) -> RunningJob:
    """Claim the due job of ``job_type`` as WORKER."""
    job = queue.backend.jobs.claim(WORKER, queue.clock.now(), [job_type])
    assert job is not None, f"no due {job_type} job"
    return job


def run(queue: JobQueue, job_type: str, end: Callable[[RunningJob], Job]) -> Job:
    """Claim the ``job_type`` job and move it to ``end(job)``."""
    job = claim(queue, job_type)
    new = end(job)
    queue.backend.jobs.move(job, new)
    return new


def seed(queue: JobQueue) -> dict[str, str]:
    """One job per status (types pending/running/...: resize, encode, thumb, crop,
    mail), the failed one after two attempts with the same error; their ids by status."""
    ids = {"pending": queue.enqueue("resize", {"path": "a.png", "size": 3}).metadata.id}
    ids["complete"] = queue.enqueue("thumb", {"path": "b.png"}).metadata.id
    run(queue, "thumb", lambda j: transitions.complete(j, {"width": 640}, queue.clock.now()))
    ids["failed"] = queue.enqueue("crop", {"path": "c.png"}, max_retries=1).metadata.id
    now = queue.clock.now()
    run(queue, "crop", lambda j: transitions.fail(j, BOOM, now, timedelta(0)))
    run(queue, "crop", lambda j: transitions.fail(j, BOOM, queue.clock.now(), None))
    ids["cancelled"] = queue.enqueue("mail", {"to": "a@example.com"}).metadata.id
    assert queue.cancel(ids["cancelled"], reason="not needed")
    ids["running"] = queue.enqueue("encode", {"path": "d.mp4"}).metadata.id
    progress = Progress(percentage=40, stage="encoding", message="d.mp4")
    run(queue, "encode", lambda j: transitions.heartbeat(j, queue.clock.now(), progress))
    return ids
