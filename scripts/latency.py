"""How long an idle worker takes to start a job after it is enqueued.

    python scripts/latency.py [--jobs 200] [--gap 0.02] [--durable]

For each mode a worker runs in its own process on a fresh data directory; this process
enqueues one job at a time, after an idle gap (``--gap`` seconds ± 50 %, measured from
the previous job's completion), and waits for it to complete. The latency of a job is
the time its handler began (its result) minus its ``metadata.created`` (the enqueue
call), both from the system clock of the same machine: the claim's writes and the
hand-over to the job's thread count, as they do for a user. Modes:

* file events: the default FileBackend (watchdog wakes the worker), ``poll_interval=1``;
* polling: the same backend with ``NoWakeups`` for its wake-ups, so the worker can
  only poll, every 5 ms or every 50 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jobqueue import CompleteJob, JobContext, JobQueue, JobWorker, RunningJob
from jobqueue.backend import NoWakeups
from jobqueue.backends.file import FileBackend

MODES = [  # (label, file events?, poll interval)
    ("file events, poll_interval=1", True, 1.0),
    ("polling only, poll_interval=0.005", False, 0.005),
    ("polling only, poll_interval=0.05", False, 0.05),
]


class PollingOnly:
    """A FileBackend whose wake-ups never come: a worker on it cannot hear file events.
    Every other part is the real backend's."""

    wakeups = NoWakeups()

    def __init__(self, inner: FileBackend) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Ping(JobWorker):
    def execute_job(self, job: RunningJob, ctx: JobContext) -> float:
        return time.time()  # when the handler began


def serve(data_dir: str, events: bool, poll_interval: float, durable: bool) -> None:
    """The worker process."""
    backend: Any = FileBackend(data_dir, durable=durable)
    queue = JobQueue(backend if events else PollingOnly(backend))
    Ping(queue, poll_interval=poll_interval, heartbeat_interval=5.0).run()


def wait_complete(data_dir: Path, job_id: str, timeout: float = 10.0) -> None:
    path = data_dir / "jobs" / "complete" / f"{job_id}.json"
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"job {job_id} did not complete within {timeout}s")
        time.sleep(0.0005)


def measure(
    events: bool, poll_interval: float, jobs: int, gap: float, durable: bool
) -> list[float]:
    """Latencies in milliseconds of ``jobs`` jobs enqueued one at a time to an idle worker."""
    with tempfile.TemporaryDirectory(prefix="jobqueue-latency-") as tmp:
        data_dir = Path(tmp) / "data"
        queue = JobQueue(data_dir, durable=durable)
        args = [__file__, "--serve", str(data_dir), "--poll-interval", str(poll_interval)]
        args += [*([] if events else ["--no-events"]), *(["--durable"] if durable else [])]
        worker = subprocess.Popen([sys.executable, *args])
        try:
            wait_complete(data_dir, queue.enqueue("ping").metadata.id, timeout=30)  # warm-up
            return [one_latency(queue, data_dir, gap) for _ in range(jobs)]
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)


def one_latency(queue: JobQueue, data_dir: Path, gap: float) -> float:
    time.sleep(random.uniform(gap / 2, gap * 1.5))  # the worker is idle, waiting
    job_id = queue.enqueue("ping").metadata.id
    wait_complete(data_dir, job_id)
    done = queue.get_job(job_id)
    while not isinstance(done, CompleteJob):  # its running/ copy may not be unlinked yet
        time.sleep(0.0005)
        done = queue.get_job(job_id)
    began = done.result
    assert isinstance(began, float), began
    return (began - done.metadata.created.timestamp()) * 1000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.02, help="mean idle seconds per job")
    parser.add_argument("--durable", action="store_true", help="fsync every write")
    parser.add_argument("--serve", metavar="DATA_DIR", help=argparse.SUPPRESS)
    parser.add_argument("--no-events", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, not args.no_events, args.poll_interval, args.durable)
        return
    print(
        f"idle enqueue -> start latency: {args.jobs} jobs per mode, idle gap {args.gap:g}s "
        f"± 50%, durable={args.durable}"
    )
    print(f"(python {sys.version.split()[0]}, {os.cpu_count()} CPUs)\n")
    print(f"{'mode':<36}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, events, poll in MODES:
        ms = measure(events, poll, args.jobs, args.gap, args.durable)
        row = (statistics.median(ms), percentile(ms, 99), max(ms))
        print(f"{label:<36}" + "".join(f"{v:>9.1f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
