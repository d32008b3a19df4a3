"""A rate-limited worker process for tests/test_ratelimit.py:
``python rate_worker.py DATA_DIR START_LOG [--max-per-second N]``.

It serves ``tick`` jobs, which do nothing, behind ``RateLimit(max_per_second=N)``; a
middleware after the limit appends one line per admitted start to START_LOG:
``<time.time()> <job id> <pid>``. It runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobqueue import HandlerWorker, JobContext, JobQueue, RateLimit, RunningJob


def start_log(path: Path) -> Callable[[RunningJob, JobContext, Callable[[], Any]], Any]:
    def note(job: RunningJob, ctx: JobContext, call_next: Callable[[], Any]) -> Any:
        line = f"{time.time():.6f} {job.metadata.id} {os.getpid()}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one append of a short line: lines never interleave
        finally:
            os.close(fd)
        return call_next()

    return note


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("start_log", type=Path)
    parser.add_argument("--max-per-second", type=float, default=5.0)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format=f"%(asctime)s [{os.getpid()}] %(levelname)s %(message)s"
    )
    limit = RateLimit(max_per_second=args.max_per_second)
    worker = HandlerWorker(
        JobQueue(args.data_dir, durable=False),
        middleware=[limit, start_log(args.start_log)],
        poll_interval=0.05,
        heartbeat_interval=0.2,
        shutdown_timeout=1.0,
    )
    worker.register_handler("tick", lambda params, ctx: None)
    worker.run()


if __name__ == "__main__":
    main()
