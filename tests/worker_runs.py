"""Running a worker inside a test, bounded in time: ``burst(worker)`` for a burst run,
``running(worker)`` for a block during which it works in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from jobqueue import JobWorker

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
