"""Running a worker inside a test, bounded in time: ``burst(worker)`` for a burst run,
``running(worker)`` for a block during which it works in a background thread, and
``end_now(queue, "ok" | "bad")`` for a job that reaches its end at the clock's time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from jobqueue import HandlerWorker, JobQueue, JobWorker, PermanentError

#: Short intervals so a worker reacts within a fraction of a second.
FAST: dict[str, Any] = {
    "poll_interval": 0.05,
    "heartbeat_interval": 0.2,
    "shutdown_timeout": 1.0,
    "error_backoff": 0.1,
}


def burst(worker: JobWorker, timeout: float = 10.0) -> float:
    """Run ``worker.run(burst=True)`` in a thread, bounded; returns the seconds it took."""
    thread = threading.Thread(
        target=worker.run, kwargs={"burst": True, "handle_signals": False}, daemon=True
    )
    began = time.monotonic()
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        worker.stop(now=True)
        thread.join(5)
        pytest.fail(f"a burst run did not return within {timeout}s")
    return time.monotonic() - began


@contextmanager
def running(worker: JobWorker) -> Iterator[JobWorker]:
    """``worker.start()`` for the block; always stopped (at once) afterwards."""
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(now=True, timeout=10)


def ending_worker(queue: JobQueue, **options: Any) -> HandlerWorker:
    """``ok`` jobs complete, ``bad`` jobs fail at once."""
    worker = HandlerWorker(queue, **{**FAST, **options})
    worker.register_handler("ok", lambda params, ctx: None)

    @worker.handler("bad")
    def bad(params: Any, ctx: Any) -> None:
        raise PermanentError("bad")

    return worker


def end_now(queue: JobQueue, job_type: str) -> str:
    """Enqueue a job and run it to its end at the clock's current time; its id."""
    job = queue.enqueue(job_type, {})
    burst(ending_worker(queue))
    ended = queue.get_job(job.metadata.id)
    assert ended is not None and ended.status in ("complete", "failed")
    return job.metadata.id


def present(queue: JobQueue) -> set[str]:
    """The ids of every job the queue holds."""
    return {job.metadata.id for job in queue.query_jobs()}
