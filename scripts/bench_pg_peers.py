"""The PostgreSQL side of the benchmark: a database per measurement, and procrastinate.

The bench starts one throwaway server (``bench_pg``) and names it in the environment
(``DSN_ENV``), so child processes find it too. Every measurement runs in a fresh
directory (its ``root``); on the server it gets a database of its own, named after that
directory, made by the first adapter that opens it and dropped by ``discard``. jobqueue
creates its schema there on open, as it always does; procrastinate's database is a copy
of a template that holds its schema (``procrastinate schema --apply``, done once).

procrastinate is driven through its public API where it has one (``defer``,
``batch_defer``, ``run_worker_async``); a single claim and its end, which it only has
inside its worker, run the same SQL its worker runs (``fetch_job``, ``finish_job``)
through its sync connector.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from bench_base import PAD, Claimed, OnStart, Payload, Peer, Stopper

#: The server's DSN (a ``postgresql://`` URL), set by the bench for every process.
DSN_ENV = "JOBQUEUE_BENCH_POSTGRES"
#: Jobs each worker process runs at once, for every PostgreSQL peer alike.
WORKER_CONCURRENCY = 4
QUEUE = "bench"
_TEMPLATE = "bench_procrastinate_template"


def server_dsn() -> str:
    dsn = os.environ.get(DSN_ENV)
    if not dsn:
        raise RuntimeError(f"no PostgreSQL server for the bench: {DSN_ENV} is not set")
    return dsn


def database_name(root: Path) -> str:
    """The measurement's database: its directory's name, as an SQL identifier."""
    return "b_" + re.sub(r"[^a-z0-9]+", "_", root.name.lower())[:50]


def database_dsn(root: Path) -> str:
    """The server's DSN with the measurement's database in it."""
    parts = urlsplit(server_dsn())
    return urlunsplit(parts._replace(path="/" + database_name(root)))


def create_database(root: Path, template: str | None = None) -> str:
    """Create the measurement's database unless it exists; its DSN."""
    import psycopg

    name = database_name(root)
    copy = f' TEMPLATE "{template}"' if template else ""
    with _admin() as conn, contextlib.suppress(psycopg.errors.DuplicateDatabase):
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return database_dsn(root)


def drop_database(root: Path) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database_name(root)}" WITH (FORCE)')


def analyze(root: Path) -> None:
    """ANALYZE the measurement's database after a fill: autovacuum would within a minute
    of such a burst, and every peer's claims are then planned with statistics (without,
    a typed claim may sort every pending job: see jobqueue's migration 2)."""
    import psycopg

    with psycopg.connect(database_dsn(root), autocommit=True) as conn:
        conn.execute("ANALYZE")


def server_settings() -> dict[str, str]:
    """What the report says about the server: its version and how it writes."""
    names = ("server_version", "fsync", "synchronous_commit", "shared_buffers")
    with _admin() as conn:
        return {n: str(conn.execute(f"SHOW {n}").fetchone()[0]) for n in names}


def _admin() -> Any:
    import psycopg

    return psycopg.connect(server_dsn(), autocommit=True, connect_timeout=10)


# --- procrastinate ------------------------------------------------------------------------


class ProcrastinatePeer(Peer):
    key = "procrastinate"
    label = "procrastinate"
    durable = False  # the bench's server runs without fsync, for every peer on it
    requires = ("procrastinate", "psycopg")
    preloads = ("procrastinate.worker", "procrastinate.psycopg_connector")
    kind = "postgres"
    task_name: ClassVar[str] = "bench_job"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        import procrastinate

        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        self.dsn = create_database(root, template=_procrastinate_template())
        connector = procrastinate.PsycopgConnector(conninfo=self.dsn)
        self.app = procrastinate.App(connector=connector)
        self.task = self.app.task(name=self.task_name, queue=QUEUE)(self._run)
        self.app.open()  # the sync pool: defer, and the claims below
        self._on_start: OnStart | None = None
        self._worker_id: int | None = None

    async def _run(self, seq: int, pad: str) -> None:
        """The task: a no-op (async: procrastinate runs it on its loop, no thread hop)."""
        if self._on_start is not None:
            self._on_start(seq)

    def enqueue(self, job: Payload) -> None:
        self.task.defer(**job)

    def enqueue_many(self, jobs: list[Payload]) -> None:
        self.task.batch_defer(*jobs)

    def fill(self, start: int, count: int) -> None:
        """One INSERT of the rows ``defer`` would make (its triggers record the events)."""
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, args) "
                "SELECT %s, %s, jsonb_build_object('seq', s, 'pad', %s::text) "
                "FROM generate_series(%s::bigint, %s::bigint) AS s",
                (QUEUE, self.task_name, PAD, start, start + count - 1),
            )
        analyze(self.root)

    def claim(self) -> Claimed | None:
        from procrastinate import sql

        row = self._sync().execute_query_one(
            query=sql.queries["fetch_job"], queues=[QUEUE], worker_id=self._registered()
        )
        return None if row["id"] is None else Claimed(row["args"]["seq"], row["id"])

    def complete(self, claimed: Claimed) -> None:
        from procrastinate import sql

        self._sync().execute_query(
            query=sql.queries["finish_job"],
            job_id=claimed.handle,
            status="succeeded",
            delete_job=False,
        )

    def _sync(self) -> Any:
        return self.app.connector.get_sync_connector()

    def _registered(self) -> int:
        """A worker row for the claims made here, as its worker registers one."""
        from procrastinate import sql

        if self._worker_id is None:
            row = self._sync().execute_query_one(query=sql.queries["register_worker"])
            self._worker_id = int(row["worker_id"])
        return self._worker_id

    def serve(self, on_start: OnStart, stop: Stopper) -> None:
        """procrastinate's own worker (``run_worker_async``: LISTEN/NOTIFY, a 5 s poll)
        with ``WORKER_CONCURRENCY`` jobs at once, until ``stop`` is set."""
        self._on_start = on_start
        asyncio.run(self._serve(stop))

    async def _serve(self, stop: Stopper) -> None:
        async with self.app.open_async():
            worker = asyncio.create_task(
                self.app.run_worker_async(
                    queues=[QUEUE],
                    concurrency=WORKER_CONCURRENCY,
                    install_signal_handlers=False,
                )
            )
            await asyncio.to_thread(stop.wait)
            worker.cancel()  # procrastinate's graceful stop
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    def close(self) -> None:
        self.app.close()

    @classmethod
    def discard(cls, root: Path) -> None:
        drop_database(root)


def _procrastinate_template() -> str:
    """The database every procrastinate measurement copies: its schema, applied once."""
    import procrastinate.schema
    import psycopg

    with _admin() as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (_TEMPLATE,)).fetchone():
            return _TEMPLATE
        conn.execute(f'CREATE DATABASE "{_TEMPLATE}"')
    dsn = urlunsplit(urlsplit(server_dsn())._replace(path="/" + _TEMPLATE))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(procrastinate.schema.SchemaManager.get_schema())
    return _TEMPLATE
