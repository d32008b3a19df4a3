"""A worker process for the events and workers-registry tests:
``python monitor_worker.py DATA_DIR [--concurrency N] [--shutdown-timeout S]``.

Job types, each showing one path through the event names:

* ``steps``: reports progress at 50 %, then completes;
* ``flaky``: its first attempt raises, the retry (due at once) completes;
* ``hold``: runs until cancelled, or for ``params["seconds"]`` (default 30).

It runs until SIGTERM/SIGINT, with fast heartbeats so the registry follows quickly.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from jobqueue import HandlerWorker, JobContext, JobQueue, RetryPolicy


def steps(params: Any, ctx: JobContext) -> Any:
    ctx.report_progress(50, stage="half", message="one of two")
    return {"steps": 2}


def flaky(params: Any, ctx: JobContext) -> Any:
    if ctx.job.attempts:
        return {"attempt": len(ctx.job.attempts) + 1}
    raise RuntimeError("the first attempt fails")


def hold(params: Any, ctx: JobContext) -> Any:
    ends = time.monotonic() + float(params.get("seconds", 30))
    while time.monotonic() < ends:
        ctx.raise_if_cancelled()
        time.sleep(0.01)
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--shutdown-timeout", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    worker = HandlerWorker(
        JobQueue(args.data_dir, durable=False),
        concurrency=args.concurrency,
        poll_interval=0.05,
        heartbeat_interval=0.2,
        retry_policy=RetryPolicy(base=0.0, jitter=0.0),
        shutdown_timeout=args.shutdown_timeout,
    )
    for fn in (steps, flaky, hold):
        worker.register_handler(fn.__name__, fn)
    worker.run()


if __name__ == "__main__":
    main()
