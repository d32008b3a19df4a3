"""Benchmark jobqueue against file- and SQLite-backed peers, side by side (issue 5), and
its PostgreSQL backend against procrastinate on one throwaway server (issue 11).

    make bench                      # or: .venv/bin/python scripts/bench.py
    make bench ARGS=--quick         # a smoke run, about a minute for each part
    scripts/bench.py --only jobqueue,huey-sqlite --n 1000
    scripts/bench.py --only jobqueue-pg,procrastinate   # the PostgreSQL part alone
    scripts/bench.py --list          # the peers, and which are installed
    scripts/bench.py --profile       # cProfile of jobqueue's enqueue and drain paths
    scripts/bench.py --profile --only jobqueue-pg       # the same on PostgreSQL

Workloads (each peer through the same adapter methods, see bench_peers.py):

* enqueue N jobs one by one; enqueue_many in batches of 100 (peers without a batch
  call show a dash);
* drain N with one consumer: claim -> no-op -> complete until empty;
* one producer + 2 consumer processes, checking exactly-once (duplicates, lost);
* claim cost with 1k, 10k, 100k pending: the first claim of a fresh process (open the
  store + claim), then the median claim in that warm store;
* idle enqueue -> start latency (p50, p99) against the peer's real worker process
  (its own consumer where it ships one, else a loop polling every 5 ms), from the
  moment enqueue() is called, after 0.1 s and 1 s of idleness;
* the worker's peak RSS after it ran 50 jobs with the top level pending;
* start-up: the wall time of a one-shot ``jobqueue enqueue`` and ``jobqueue stats``, each
  a fresh process (bench_startup.py; issue 13), when a jobqueue row is selected.

The PostgreSQL part (bench_pg.py) runs the same workloads on its own server, with the
drain and the consumers being the peers' real worker processes (four behind the
producer) and claims timed at 1k and 1M pending.

Throughput workloads run interleaved (repetition, then workload, then peer), so the
drift of a shared machine hits every peer alike; cells are medians of the repetitions.
Latency and the claim sweep follow; a run stops starting measurements after its time
budget (500 s by default, 600 s for the PostgreSQL part), so the defaults finish
within 10 minutes for each part.
A peer that is not installed is reported as such (``pip install -e '.[bench]'``).
Nothing here changes the package: it only measures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import bench_pg
import bench_report
import bench_startup
from bench_base import Kind
from bench_peers import PEERS, missing
from bench_report import TIMES, Row
from bench_runner import DEFAULT, QUICK, Config, Runner

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N, one repetition")
    parser.add_argument("--only", help="comma-separated peers (or key prefixes) to run")
    parser.add_argument("--skip", help="comma-separated peers (or key prefixes) to leave out")
    parser.add_argument("--n", type=int, help="jobs per throughput run")
    parser.add_argument("--reps", type=int, help="repetitions of the throughput runs")
    parser.add_argument(
        "--startup-runs", type=int, help="timed runs of each one-shot command (0: none)"
    )
    parser.add_argument("--levels", help="pending backlogs for the claim sweep, e.g. 1000,10000")
    parser.add_argument("--pg-levels", help="the same for the PostgreSQL part")
    parser.add_argument(
        "--dir", type=Path, help="where to put the stores (default: beside the repo)"
    )
    parser.add_argument("--list", action="store_true", help="list the peers and exit")
    parser.add_argument(
        "--profile", action="store_true", help="profile jobqueue's enqueue and drain instead"
    )
    return parser.parse_args(argv)


def configure(args: argparse.Namespace, kind: Kind = "file") -> Config:
    """The part's configuration (quick or not), with the options given."""
    config = {"file": (DEFAULT, QUICK), "postgres": (bench_pg.DEFAULT, bench_pg.QUICK)}[kind][
        args.quick
    ]
    levels = args.levels if kind == "file" else args.pg_levels
    if args.n:
        config = replace(config, n=args.n)
    if args.reps:
        config = replace(config, reps=args.reps)
    if args.startup_runs is not None and kind == "file":
        config = replace(config, startup_runs=args.startup_runs)
    if levels:
        config = replace(config, levels=tuple(int(x) for x in levels.split(",")))
    return config


def select(only: str | None, skip: str | None) -> list[str]:
    def matches(key: str, spec: str | None) -> bool:
        return spec is not None and any(key.startswith(p.strip()) for p in spec.split(","))

    return [k for k in PEERS if (only is None or matches(k, only)) and not matches(k, skip)]


def report(
    config: Config, rows: dict[str, Row], startup: list[bench_startup.StartUp] | None = None
) -> str:
    lines = [
        bench_report.table(rows),
        "",
        f"N = {config.n:,} jobs of ~100 bytes per throughput run; medians of {config.reps} "
        f"repetition(s), interleaved; claim levels {', '.join(f'{x:,}' for x in config.levels)}.",
        f"(jq {TIMES}r) = how many times better jobqueue is than that peer (> 1: jobqueue wins), "
        "against jobqueue durable=True for peers that fsync and durable=False for the others.",
        f"* = cut short by the per-run deadline. Claim cells: ms at each level ({TIMES} growth "
        "top / lowest). Latency: from the enqueue() call to the job starting in the peer's "
        "worker process, after it sat idle at least the given seconds.",
        "",
        "targets (issue 5):",
        *(t.line() for t in bench_report.targets(rows)),
        *_startup_lines(startup),
        *bench_report.error_lines(rows),
    ]
    return "\n".join(lines)


def _startup_lines(startup: list[bench_startup.StartUp] | None) -> list[str]:
    if startup is None:
        return []
    return [
        "",
        *bench_startup.report_lines(startup),
        "targets (issue 13):",
        *(t.line() for t in bench_startup.targets(startup)),
    ]


def measure_startup(
    config: Config, rows: dict[str, Row], base: Path
) -> list[bench_startup.StartUp] | None:
    """Start-up times when a jobqueue row is selected; a failure is an error line."""
    jq = next((k for k in rows if k in bench_report.BASELINE.values() and not rows[k].note), None)
    if jq is None or config.startup_runs < 1:
        return None
    try:
        return bench_startup.measure(base, config.startup_runs)
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        rows[jq].errors["start-up"] = f"{type(e).__name__}: {e}"
        return None


def profile(where: Path, n: int, keys: list[str]) -> int:
    import bench_profile

    base = Path(tempfile.mkdtemp(prefix=".bench-", dir=where))
    try:
        if any(PEERS[k].kind == "postgres" for k in keys):
            with bench_pg.server():
                print(bench_profile.profile(base, n, keys))
        else:
            print(bench_profile.profile(base, n, keys))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for key, cls in PEERS.items():
            print(f"{key:16} {cls.label}{'' if missing(cls) is None else '  (not installed)'}")
        return 0
    keys = select(args.only, args.skip)
    if args.profile:
        jq = [k for k in keys if k in bench_report.BASELINE.values()]
        return profile(args.dir or REPO, args.n or 2_000, jq or ["jobqueue", "jobqueue-nosync"])
    rows = {k: Row(k, note=None if missing(PEERS[k]) is None else "not installed") for k in keys}
    where = args.dir or REPO
    where.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix=".bench-", dir=where))
    load = os.getloadavg()[0]
    try:
        print(run_parts(args, rows, base, where, load))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def run_parts(
    args: argparse.Namespace, rows: dict[str, Row], base: Path, where: Path, load: float
) -> str:
    """Run the file part, then the PostgreSQL part, for the rows selected in each; both
    reports, then the machine and the versions."""
    files = {k: r for k, r in rows.items() if PEERS[k].kind == "file"}
    postgres = {k: r for k, r in rows.items() if PEERS[k].kind == "postgres"}
    out = []
    if files:
        config = configure(args, "file")
        Runner(config, files, base).run()
        out += [report(config, files, measure_startup(config, files, base)), ""]
    if postgres:
        config = configure(args, "postgres")
        settings = bench_pg.run(config, postgres, base)
        out += [bench_pg.report(config, postgres, settings), ""]
    out += [bench_report.machine_line(where, load), bench_report.versions_line(rows)]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
