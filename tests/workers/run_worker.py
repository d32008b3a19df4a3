"""A worker process for tests/test_processes.py: ``python run_worker.py DATA_DIR [options]``.

It serves one job type, ``work``, whose params say how it behaves:

* ``seconds``: how long the attempt runs (default 0);
* ``cooperative``: check for a cancel every few milliseconds (default true); a
  non-cooperative job ignores cancels and shutdown until its time is up;
* ``first_attempt_only``: only the first attempt runs long; later ones return at once
  (a job whose first worker was killed completes on the next one).

With ``--pid-dir`` the process leaves an empty file named after its pid there, so a
test can count the processes a supervisor started.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import Any

from jobqueue import JobContext, JobQueue, JobWorker, RunningJob


class WorkWorker(JobWorker):
    job_types = frozenset({"work"})

    def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
        params = dict(job.params) if isinstance(job.params, dict) else {}
        seconds = float(params.get("seconds", 0))
        if params.get("first_attempt_only") and job.attempts:
            seconds = 0.0
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            if params.get("cooperative", True):
                ctx.raise_if_cancelled()
            time.sleep(0.01)
        return {"pid": os.getpid(), "attempt": len(job.attempts) + 1}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--shutdown-timeout", type=float, default=30.0)
    parser.add_argument("--poll-interval", type=float, default=0.05)
    parser.add_argument("--heartbeat-interval", type=float, default=0.2)
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--pid-dir", type=Path)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s [{os.getpid()}] %(levelname)s %(message)s"
    )
    if args.pid_dir is not None:
        (args.pid_dir / str(os.getpid())).touch()
    queue = JobQueue(args.data_dir, durable=False)
    worker = WorkWorker(
        queue,
        shutdown_timeout=args.shutdown_timeout,
        poll_interval=args.poll_interval,
        heartbeat_interval=args.heartbeat_interval,
    )
    worker.run(burst=args.burst)


if __name__ == "__main__":
    main()
