"""The worker `make demo` runs: plain functions served by a HandlerWorker.

jobqueue --data-dir data worker demo_worker:worker   (run from scripts/)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jobqueue import HandlerWorker, JobContext, JobQueue, PermanentError

DATA = Path(__file__).resolve().parent.parent / "data"  # the demo's data dir, from any cwd
worker = HandlerWorker(JobQueue(DATA), concurrency=2, poll_interval=0.2)


@worker.handler("resize")
def resize(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    for step in range(1, 11):
        time.sleep(0.08)
        ctx.report_progress(step * 10, stage="resizing", message=params["path"])
    return {"path": params["path"], "width": params.get("width", 640)}


@worker.handler("send_email")
def send_email(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    if params.get("flaky") and ctx.job.metadata.retry_count == 0:
        raise ConnectionError("SMTP server busy, try again")
    return {"sent_to": params["to"]}


@worker.handler("report")
def report(params: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    stages = ["querying", "aggregating", "rendering", "uploading"]
    for i, stage in enumerate(stages):
        for tick in range(5):
            time.sleep(0.1)
            done = (i * 5 + tick + 1) * 100 / (len(stages) * 5)
            ctx.report_progress(done, stage=stage, message=f"{params['kind']} report")
    return {"rows": 1234, "url": f"https://reports.example.com/{params['kind']}"}


@worker.handler("import_csv")
def import_csv(params: dict[str, Any], ctx: JobContext) -> None:
    raise PermanentError(f"{params['file']}: column 'email' is missing")
