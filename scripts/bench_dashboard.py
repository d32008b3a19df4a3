"""How long each dashboard page takes on a big store, server side, against a 300 ms budget.

    .venv/bin/python scripts/bench_dashboard.py [--store DIR|URL] [--complete 100000]
        [--failed 10000] [--live 2000] [--repeat 5]

The store is filled once (a data directory that already holds the jobs is reused):

* ``--complete`` and ``--failed`` jobs are built with the real transitions (claimed,
  run, ended) and stored with ``import_jobs``, the bulk path of ``jobqueue transfer``:
  fast, but it records no event (a transfer does not change a job's history). Their
  creation times spread over the last week.
* ``--live`` more jobs go the way a worker takes them (enqueue, claim, complete or fail
  through the backend), so the event log has an hour of history for the charts, the
  queue latency, the failure groups and the events page.

Each page is requested in-process (``httpx.ASGITransport``: the app's own time, no
network): ``cold`` is its first request (templates compiled, the History cache empty),
``miss`` the median of ``--repeat`` requests with the dashboard's short caches (counts,
health) forgotten before each (``best``: the fastest of them), ``warm`` the median with
them kept. The budget applies to ``miss``: what any request may cost once the app has
run for a moment. Wall-clock times on a shared machine: the table starts with the load
average, since a busy machine inflates them all.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from random import Random
from urllib.parse import quote

import httpx

from jobqueue import JobQueue, transitions
from jobqueue.codec import format_time
from jobqueue.dashboard import create_app
from jobqueue.ids import TimeIds
from jobqueue.job import ErrorInfo, Job, Metadata, PendingJob, WorkerInfo

BUDGET_MS = 300.0
WORKER = WorkerInfo(name="bench-worker", host="bench-host", pid=1)
ERRORS = [
    ErrorInfo(type="KeyError", message="no row {n} in table users", traceback=""),
    ErrorInfo(type="TimeoutError", message="upstream timed out after {n}s", traceback=""),
    ErrorInfo(type="ValueError", message="bad pixel at {n},{n}", traceback=""),
]
TYPES = ("resize", "thumb", "encode", "mail")
BATCH = 5000


def main() -> None:
    args = _arguments()
    store = args.store or str(Path(tempfile.mkdtemp(prefix="bench-dashboard-")) / "data")
    queue = JobQueue(store, durable=False) if "://" not in store else JobQueue(store)
    took = fill(queue, args.complete, args.failed, args.live)
    print(f"store: {queue.location}  ({_counts(queue)}; filled in {took:.1f}s)")
    app = create_app(queue)
    try:
        rows = asyncio.run(measure(app, pages(queue), args.repeat))
    finally:
        app.state.dashboard.live.close()
        queue.close()
    print(table(rows))
    sys.exit(0 if all(row[2] <= BUDGET_MS for row in rows) else 1)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", help="data directory or store URL (default: a new temp dir)")
    parser.add_argument("--complete", type=int, default=100_000)
    parser.add_argument("--failed", type=int, default=10_000)
    parser.add_argument("--live", type=int, default=2_000, help="jobs run with events")
    parser.add_argument("--repeat", type=int, default=5)
    return parser.parse_args()


def _counts(queue: JobQueue) -> str:
    stats = queue.stats()
    return ", ".join(f"{stats[s]:,} {s}" for s in ("complete", "failed", "pending", "running"))


# --- filling the store ------------------------------------------------------------------------


def fill(queue: JobQueue, complete: int, failed: int, live: int) -> float:
    """Add the jobs unless the store already holds that many; seconds it took."""
    start = time.perf_counter()
    stats = queue.stats()
    if stats["complete"] >= complete and stats["failed"] >= failed:
        return 0.0
    rng = Random(7)
    ids = TimeIds(rng)
    now = queue.clock.now()
    built = ended_jobs(ids, rng, now, complete, failed)
    while batch := [job for _, job in zip(range(BATCH), built, strict=False)]:
        queue.backend.jobs.import_jobs(batch)
    run_live(queue, rng, live)
    return time.perf_counter() - start


def ended_jobs(ids: Callable[[datetime], str], rng: Random, now: datetime, complete: int,
               failed: int) -> Iterator[Job]:  # fmt: skip
    """``complete`` + ``failed`` ended jobs, created over the last week, oldest first."""
    total = complete + failed
    fail_every = max(1, total // max(1, failed)) if failed else 0
    made_failed = 0
    for n in range(total):
        created = now - timedelta(days=7) * (1 - n / total)
        meta = Metadata(id=ids(created), type=TYPES[n % len(TYPES)], created=created,
                        run_at=created)  # fmt: skip
        pending = PendingJob(metadata=meta, params={"n": n, "path": f"img/{n}.png"})
        started = created + timedelta(milliseconds=rng.randint(1, 500))
        running = transitions.start(pending, WORKER, started)
        ended = started + timedelta(milliseconds=rng.randint(5, 3000))
        if fail_every and n % fail_every == 0 and made_failed < failed:
            made_failed += 1
            yield transitions.fail(running, _error(rng), ended, None)
        else:
            yield transitions.complete(running, {"width": 640}, ended)


def _error(rng: Random) -> ErrorInfo:
    error = rng.choice(ERRORS)
    return ErrorInfo(type=error.type, message=error.message.format(n=rng.randint(1, 99999)),
                     traceback="")  # fmt: skip


def run_live(queue: JobQueue, rng: Random, count: int) -> None:
    """``count`` jobs enqueued, claimed and ended through the backend: the event log's
    history (a tenth fail)."""
    for start in range(0, count, 500):
        queue.enqueue_many("render", [{"n": n} for n in range(start, min(count, start + 500))])
        for job in queue.backend.jobs.claim_many(WORKER, queue.clock.now(), 500):
            now = queue.clock.now()
            ended = (
                transitions.fail(job, _error(rng), now, None)
                if rng.random() < 0.1
                else transitions.complete(job, {"ok": True}, now)
            )
            queue.backend.jobs.move(job, ended)


# --- timing -------------------------------------------------------------------------------------


def pages(queue: JobQueue) -> list[str]:
    """Every page (and fragment) of the dashboard, with the variants that cost most."""
    failed = queue.query_jobs("failed", limit=1, newest_first=True)
    job_page = [f"/jobs/{failed[0].metadata.id}"] if failed else []
    since = quote(format_time(queue.clock.now() - timedelta(minutes=15)))
    return [
        "/", "/?window=15m", "/?window=24h", "/?window=7d",
        "/overview/latency?window=1h", "/overview/latency?window=24h",
        "/jobs", "/jobs?status=failed", "/jobs?status=failed&q=error:timed", *job_page,
        "/workers", "/schedules", "/events", f"/events?since={since}",
        "/bulk?action=retry&status=failed", "/bulk?action=delete&status=complete",
        "/bulk?action=retry&status=failed&q=error:timed", "/bulk?action=cancel",
        "/metrics", "/health.json",
    ]  # fmt: skip


#: A page's line: path, cold, miss (median), best miss and warm, in milliseconds.
Row = tuple[str, float, float, float, float]


async def measure(app: object, paths: list[str], repeat: int) -> list[Row]:
    """A Row per page."""
    dash = app.state.dashboard  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    rows: list[Row] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:

        async def timed(path: str) -> float:
            start = time.perf_counter()
            response = await client.get(path)
            took = (time.perf_counter() - start) * 1000
            if response.status_code >= 400 and path != "/health.json":
                raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
            return took

        for path in paths:
            cold = await timed(path)
            misses = []
            for _ in range(repeat):
                dash.stats.forget()
                dash.health.forget()
                misses.append(await timed(path))
            warm = [await timed(path) for _ in range(repeat)]
            rows.append(
                (path, cold, statistics.median(misses), min(misses), statistics.median(warm))
            )
    return rows


def table(rows: list[Row]) -> str:
    """The results, one page a line, with the budget verdict on ``miss`` (the median; the
    best of the misses shows what a page costs when the machine is not shared)."""
    width = max(len(row[0]) for row in rows)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        f"load average {load} on {os.cpu_count()} cores; times in ms, server side",
        f"{'page':<{width}}  {'cold':>7}  {'miss':>7}  {'best':>7}  {'warm':>7}  "
        f"budget {BUDGET_MS:.0f} ms (miss)",
    ]
    for path, cold, miss, best, warm in rows:
        verdict = "ok" if miss <= BUDGET_MS else "OVER"
        lines.append(
            f"{path:<{width}}  {cold:7.1f}  {miss:7.1f}  {best:7.1f}  {warm:7.1f}  {verdict}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
