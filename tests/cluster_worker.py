"""The worker that tests/cluster_hosts.py starts on each of its "hosts":

    cd tests && jobqueue --store postgresql://...@10.77.N.1:5432/postgres?schema=s \\
        worker cluster_worker:ClusterWorker

A ``cluster`` job works for ``params["seconds"]`` (waking early when its context is
cancelled: a lost lease, a shutdown). Each run is recorded in ``cluster_runs``, a table
in the store's schema beside its own tables, on the server's clock: a row at its
start (committed before the work begins) and its end (committed after the work is over),
so the interval on the server always covers the work. No unique constraint: a job run
twice has two rows, which is what the checks look for. The result names the run, so the
one completion the store accepted is known.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import psycopg

from jobqueue import JobContext, JobQueue, JobWorker, RunningJob
from jobqueue.backends.postgres.database import connect
from jobqueue.backends.postgres.url import parse

JOB_TYPE = "cluster"
#: Short, so a stall or a cut is noticed within seconds (the defaults are 5 s and 30 s).
HEARTBEAT_INTERVAL = 0.5
STALE_AFTER = 3.0
ERROR_BACKOFF = 0.5
#: How long a run keeps trying to record its end while its host is cut off.
RECORD_FOR = 60.0

RUNS_TABLE = """
CREATE TABLE IF NOT EXISTS {schema}.cluster_runs (
    id bigserial PRIMARY KEY,
    job_id text NOT NULL,
    attempt integer NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended timestamptz,
    -- done: the work was over; fenced: it stopped early on a lost lease (or a shutdown)
    how text
)
"""


class ClusterWorker(JobWorker):
    """Runs ``cluster`` jobs and records each run (see the module docstring)."""

    job_types = frozenset({JOB_TYPE})

    def __init__(self, queue: JobQueue, **options: Any) -> None:
        defaults = {
            "heartbeat_interval": HEARTBEAT_INTERVAL,
            "stale_after": STALE_AFTER,
            "error_backoff": ERROR_BACKOFF,
        }
        super().__init__(queue, **(defaults | options))
        settings = parse(queue.backend.url)
        self._conninfo = settings.conninfo
        self._table = f"{settings.schema}.cluster_runs"

    def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
        """Record the start, work (or stop when the lease is lost), record the end."""
        attempt = len(job.attempts) + 1
        run = self._record_start(job.metadata.id, attempt)
        params = job.params if isinstance(job.params, dict) else {}
        fenced = ctx.wait(float(params.get("seconds", 0.3)))
        self._record_end(run, "fenced" if fenced else "done")
        return {"run": run}

    def _record_start(self, job_id: str, attempt: int) -> int:
        query = (
            f"INSERT INTO {self._table} (job_id, attempt, host, pid) "
            "VALUES (%s, %s, %s, %s) RETURNING id"
        )
        found = self._write(query, (job_id, attempt, socket.gethostname(), os.getpid()))
        assert found is not None
        return int(found[0])

    def _record_end(self, run: int, how: str) -> None:
        query = f"UPDATE {self._table} SET ended = clock_timestamp(), how = %s WHERE id = %s"
        self._write(query, (how, run))

    def _write(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Run ``query`` until it is stored: a cut host records its run once it is back
        (its start too, so no work is done unrecorded)."""
        give_up = time.monotonic() + RECORD_FOR
        while True:
            try:
                with connect(self._conninfo, application_name="cluster-run") as conn:
                    cursor = conn.execute(query, params)
                    return cursor.fetchone() if cursor.description else None
            except psycopg.Error:
                if time.monotonic() > give_up:
                    raise
                time.sleep(ERROR_BACKOFF)
