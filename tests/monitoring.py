"""Helpers shared by the monitoring tests (events, workers registry, health, CLI): a real
worker process on a data directory, and polling with a deadline."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

WORKER_SCRIPT = Path(__file__).parent / "workers" / "monitor_worker.py"

T = TypeVar("T")


@contextmanager
def worker_process(data_dir: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """Run tests/workers/monitor_worker.py; SIGTERM it (then SIGKILL) if it is still up."""
    command = [sys.executable, str(WORKER_SCRIPT), str(data_dir), *args]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, what: str = "it") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def dead_pid() -> int:
    """The pid of a process that has exited (and was reaped): a killed worker's, say."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True, timeout=30)  # fmt: skip
    return int(done.stdout)


def ids(records: list[dict[str, Any]]) -> list[list[str]]:
    """The running job ids of each worker record."""
    return [list(r["running"]) for r in records]
