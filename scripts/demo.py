"""`make demo`: a fresh ./data, a realistic mix of jobs, a worker running them with a
live progress bar, and the tables before and after. Every step is a command a user
could type; the script prints each one before running it."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from jobqueue import JobQueue

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
WORKER = ("worker", "demo_worker:worker", "--concurrency", "2", "--log-level", "warning")


def jobqueue(*args: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess[str]:
    print(f"\n$ jobqueue {shlex.join(args)}", flush=True)  # quoted: it can be pasted
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(DATA), *args]
    return subprocess.run(command, check=check, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def enqueue_mix(queue: JobQueue) -> str:
    """Immediate, prioritised, deferred, flaky and doomed jobs; returns the report's id."""
    for name in ("beach", "forest", "city"):
        queue.enqueue("resize", {"path": f"photos/{name}.png", "width": 640})
    queue.enqueue("resize", {"path": "photos/urgent.png", "width": 1280}, priority=-10)
    queue.enqueue("send_email", {"to": "ops@example.com", "flaky": True}, max_retries=2)
    queue.enqueue("import_csv", {"file": "contacts.csv"})
    report = queue.enqueue("report", {"kind": "daily"}, delay=timedelta(seconds=2))
    return report.metadata.id


def wait_until_idle(queue: JobQueue, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = queue.stats()
        if stats["pending"] == 0 and stats["running"] == 0:
            return
        time.sleep(0.2)
    raise SystemExit("demo: the worker did not finish in time")


def main() -> None:
    shutil.rmtree(DATA, ignore_errors=True)
    queue = JobQueue(DATA)
    report_id = enqueue_mix(queue)
    jobqueue("enqueue", "send_email", '{"to": "team@example.com"}', "--priority", "5")
    jobqueue("list")
    jobqueue("stats")
    # demo_worker.py is in scripts/ (a worker imports its module from the current directory).
    print(f"\n$ (cd scripts && jobqueue {shlex.join(WORKER)}) &   # in the background")
    worker = subprocess.Popen(
        [sys.executable, "-m", "jobqueue", "--data-dir", str(DATA), *WORKER], cwd=ROOT / "scripts"
    )
    try:
        jobqueue("watch", report_id)
        wait_until_idle(queue)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    jobqueue("list")
    jobqueue("stats")
    print(f"\nJob files are in {DATA.relative_to(ROOT)}/jobs/: try `cat` or `jq` on them.")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
