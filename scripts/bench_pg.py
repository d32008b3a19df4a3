"""The PostgreSQL part of ``make bench``: jobqueue's PostgreSQL backend and procrastinate,
side by side on one throwaway server (issue 11).

The server is a cluster made from the installed binaries by ``tests/postgres_cluster.py``
(as the ``postgres`` user when we are root), the tests' own: fsync, synchronous_commit
and full_page_writes off, for both peers alike. It is started when a PostgreSQL peer is
selected, named to every process in ``bench_pg_peers.DSN_ENV``, and stopped and deleted
when the run ends. Without PostgreSQL binaries the rows say so and the rest runs.

The workloads are the file part's (``bench_workloads``, run by ``bench_runner.Runner``),
except that jobs are drained by the peers' real workers, in processes of their own
(``served``), each running ``bench_pg_peers.WORKER_CONCURRENCY`` jobs at once: the drain
by one worker process, and one producer with four worker processes behind it. Claims
are timed with 1k and 1M jobs pending. Every fill (the untimed set-up of the drain and
of the claim levels) ends with an ANALYZE, for both peers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import bench_report as br
import bench_runner
from bench_pg_peers import DSN_ENV, WORKER_CONCURRENCY, server_settings
from bench_report import TIMES, Row, Target
from bench_runner import Config, Runner

REPO = Path(__file__).resolve().parent.parent
JQ, PEER = "jobqueue-pg", "procrastinate"

#: 5,000 jobs a run, not the file part's 2,000: a fresh handle's first statements (its
#: pool's first connection, the server's caches of a new database, statements not yet
#: prepared) cost tens of milliseconds, which 2,000 jobs would not amortise.
DEFAULT = Config(
    n=5_000,
    levels=(1_000, 1_000_000),
    deadline=60.0,
    consumers=4,
    served=True,
    startup_runs=0,
    budget=600.0,
)
QUICK = replace(
    bench_runner.QUICK,
    levels=(1_000, 5_000),
    startup_runs=0,
    budget=35.0,
    consumers=4,
    served=True,
)
HEADERS = (
    "queue",
    "fsync",
    "enqueue/s",
    "enqueue_many/s",
    "drain/s (1 worker process)",
    "producer + 4 workers/s",
    "first claim ms, fresh process",
    "claim ms, warm store",
    "enqueue→start ms p50 / p99, after idle ≥ s",
    "worker peak RSS MB",
)


class NoServer(Exception):
    """No PostgreSQL server could be started for the bench."""


@contextmanager
def server() -> Iterator[dict[str, str]]:
    """A throwaway cluster for the run, named in ``DSN_ENV``; its settings."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        import postgres_cluster
    finally:
        sys.path.remove(str(REPO / "tests"))
    bin_dir = postgres_cluster.find_binaries()
    if bin_dir is None:
        raise NoServer("no PostgreSQL server: initdb is neither on PATH nor in /usr/lib/postgresql")
    try:
        cluster = postgres_cluster.start_cluster(bin_dir)
    except (OSError, KeyError, RuntimeError, subprocess.SubprocessError) as e:
        raise NoServer(f"could not start a PostgreSQL cluster: {e}") from e
    os.environ[DSN_ENV] = cluster.dsn
    try:
        yield server_settings()
    finally:
        del os.environ[DSN_ENV]
        cluster.stop()


def run(config: Config, rows: dict[str, Row], base: Path) -> dict[str, str] | None:
    """Run the PostgreSQL part on a server of its own; the server's settings, or None
    when there is none (every row then says why)."""
    try:
        with server() as settings:
            Runner(config, rows, base).run()
            return settings
    except NoServer as e:
        for row in rows.values():
            row.note = row.note or str(e)
        return None


def report(config: Config, rows: dict[str, Row], settings: dict[str, str] | None) -> str:
    lines = [
        "PostgreSQL: jobqueue vs procrastinate, one server",
        "",
        br.table(rows, HEADERS),
        "",
        f"N = {config.n:,} jobs per throughput run; medians of {config.reps} repetition(s), "
        f"interleaved; claim levels {', '.join(f'{x:,}' for x in config.levels)}.",
        f"(jq {TIMES}r) = how many times better jobqueue is than procrastinate (> 1: jobqueue "
        "wins). Drain: one worker process, from the first job's start to the last one's; "
        f"every worker runs {WORKER_CONCURRENCY} jobs at once (procrastinate: an async "
        "no-op task, jobqueue: a sync no-op handler).",
        "",
        "targets (issue 11):",
        *(t.line() for t in targets(rows)),
        *br.error_lines(rows),
        "",
        server_line(settings),
    ]
    return "\n".join(lines)


def server_line(settings: dict[str, str] | None) -> str:
    if settings is None:
        return "server: none"
    return (
        f"server: PostgreSQL {settings['server_version']} on this machine (unix socket), "
        f"fsync={settings['fsync']}, synchronous_commit={settings['synchronous_commit']}, "
        f"shared_buffers={settings['shared_buffers']}, the same for both peers"
    )


def targets(rows: dict[str, Row]) -> list[Target]:
    """Issue 11's targets, as ratios and bounds measured in this one run."""
    top, low = br.top_level(rows, JQ), _low_level(rows)
    return [
        Target(
            f"drain ÷ procrastinate (jq {TIMES})", br.versus(rows, JQ, "drain", PEER), 1.5, False
        ),
        Target(
            f"producer + 4 workers ÷ procrastinate (jq {TIMES})",
            br.versus(rows, JQ, "pc", PEER),
            1.5,
            False,
        ),
        Target("producer + 4 workers: duplicates + lost", br.dup_lost(rows.get(JQ)), 0, True),
        Target("enqueue_many, jobs/s", br.measured(rows, JQ, "enqueue_many"), 20_000, False),
        Target(
            f"warm claim at {top} ÷ at {low}",
            br.versus(rows, JQ, "warm_top", JQ, "warm_low"),
            2.0,
            True,
        ),
        Target(
            "idle enqueue→start p50, real worker, longest idle, ms",
            br.measured(rows, JQ, "p50_long"),
            5.0,
            True,
        ),
    ]


def _low_level(rows: dict[str, Row]) -> str:
    row = rows.get(JQ)
    return f"{min(row.claims):,}" if row is not None and row.claims else "lowest level"
