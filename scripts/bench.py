"""Benchmark jobqueue against file- and SQLite-backed peers, side by side (issue 5).

    make bench                      # or: .venv/bin/python scripts/bench.py
    make bench ARGS=--quick         # a smoke run, under a minute
    scripts/bench.py --only jobqueue,huey-sqlite --n 1000
    scripts/bench.py --list          # the peers, and which are installed
    scripts/bench.py --profile       # cProfile of jobqueue's enqueue and drain paths

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

Throughput workloads run interleaved (repetition, then workload, then peer), so the
drift of a shared machine hits every peer alike; cells are medians of the repetitions.
Latency and the claim sweep follow; a run stops starting measurements after its time
budget (500 s by default), so the defaults finish within 10 minutes.
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
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import bench_report
import bench_startup
import bench_workloads as work
from bench_peers import PEERS, missing
from bench_report import TIMES, Row

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Config:
    n: int = 2_000
    reps: int = 3
    levels: tuple[int, ...] = (1_000, 10_000, 100_000)
    claim_reps: int = 3  # fresh processes per level
    warm_claims: int = 20  # claims timed in each warm store
    latency_samples: int = 20  # at most, per idle gap
    latency_budget: float = 5.0  # seconds per peer and gap to start new samples
    latency_timeout: float = 12.0  # one sample (persist-queue's worker polls every 10 s)
    latency_gaps: tuple[float, ...] = (0.1, 1.0)  # idle time (s) before each latency sample
    deadline: float = 30.0  # seconds per run before it is cut short (marked *)
    rss_jobs: int = 50
    startup_runs: int = 15  # timed runs of each one-shot command
    budget: float = 500.0  # seconds for the whole run: later measurements are skipped


DEFAULT = Config()
QUICK = Config(
    n=200,
    reps=1,
    levels=(200, 2_000),
    claim_reps=1,
    warm_claims=5,
    latency_samples=4,
    latency_budget=1.0,
    latency_timeout=1.5,
    latency_gaps=(0.1,),
    deadline=8.0,
    rss_jobs=10,
    startup_runs=5,
    budget=50.0,
)


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
    parser.add_argument(
        "--dir", type=Path, help="where to put the stores (default: beside the repo)"
    )
    parser.add_argument("--list", action="store_true", help="list the peers and exit")
    parser.add_argument(
        "--profile", action="store_true", help="profile jobqueue's enqueue and drain instead"
    )
    return parser.parse_args(argv)


def configure(args: argparse.Namespace) -> Config:
    config = QUICK if args.quick else DEFAULT
    if args.n:
        config = replace(config, n=args.n)
    if args.reps:
        config = replace(config, reps=args.reps)
    if args.startup_runs is not None:
        config = replace(config, startup_runs=args.startup_runs)
    if args.levels:
        config = replace(config, levels=tuple(int(x) for x in args.levels.split(",")))
    return config


def select(only: str | None, skip: str | None) -> list[str]:
    def matches(key: str, spec: str | None) -> bool:
        return spec is not None and any(key.startswith(p.strip()) for p in spec.split(","))

    return [k for k in PEERS if (only is None or matches(k, only)) and not matches(k, skip)]


class Runner:
    """Runs every workload on every selected peer, each in a fresh directory."""

    def __init__(self, config: Config, rows: dict[str, Row], base: Path) -> None:
        self.config = config
        self.rows = rows
        self.base = base
        self.began = time.monotonic()
        self.live = [k for k, row in rows.items() if row.note is None]
        self.consumers = [k for k in self.live if PEERS[k].consumes]

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.began:6.1f}s] {message}", file=sys.stderr, flush=True)

    def run(self) -> None:
        for rep in range(self.config.reps):
            tag = f"rep {rep + 1}/{self.config.reps}"
            for key in self.live:
                self._in_process(key, "enqueue", tag, work.enqueue)
            for key in self.live:
                self._in_process(key, "enqueue_many", tag, work.enqueue_many)
            for key in self.consumers:
                self._in_process(key, "drain", tag, work.drain)
            for key in self.consumers:
                self._producer_consumers(key, tag)
        for key in self.consumers:
            self._latency(key)
        for key in self.consumers:
            self._claims(key)  # last: it leaves out its top levels when time runs short

    def _fresh_dir(self, key: str, workload: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{key}-{workload}-", dir=self.base))

    def _guard(self, key: str, workload: str, fn: Callable[[Path], Any]) -> Any:
        """Run one measurement in its own directory; an error is recorded, not raised."""
        if time.monotonic() - self.began > self.config.budget:
            self.rows[key].errors[workload] = f"skipped: past the {self.config.budget:.0f}s budget"
            return None
        root = self._fresh_dir(key, workload)
        try:
            return fn(root)
        except Exception as e:
            self.rows[key].errors[workload] = f"{type(e).__name__}: {e}"
            self.log(f"{workload} {key}: ERROR {type(e).__name__}: {e}")
            return None
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _in_process(self, key: str, workload: str, tag: str, fn: Callable[..., Any]) -> None:
        def measure(root: Path) -> Any:
            peer = PEERS[key](root)
            try:
                return fn(peer, self.config.n, self.config.deadline)
            finally:
                peer.close()

        rate = self._guard(key, workload, measure)
        if rate is not None:
            getattr(self.rows[key], workload).append(rate)
            self.log(f"{workload} {key} {tag}: {rate.per_second:,.0f}/s")

    def _producer_consumers(self, key: str, tag: str) -> None:
        def measure(root: Path) -> work.ExactlyOnce:
            return work.producer_consumers(key, root, self.config.n, self.config.deadline)

        result = self._guard(key, "producer+2 consumers", measure)
        if result is not None:
            self.rows[key].pc.append(result)
            self.log(
                f"producer+2 consumers {key} {tag}: {result.per_second:,.0f}/s, "
                f"dup {result.duplicates} lost {result.lost} errors {result.errors}"
            )

    def _claims(self, key: str) -> None:
        c = self.config

        def measure(root: Path) -> None:
            until = self.began + c.budget
            self.rows[key].claims = work.claim_sweep(
                key, root, list(c.levels), c.claim_reps, c.warm_claims, until
            )
            self.log(f"claims {key}: {self.rows[key].claims}")
            self.rows[key].rss_mb = work.worker_rss(key, root, c.rss_jobs)
            self.log(f"rss {key}: {self.rows[key].rss_mb:.0f} MB")

        self._guard(key, "claims", measure)

    def _latency(self, key: str) -> None:
        c = self.config

        def measure(root: Path) -> dict[float, work.Latency]:
            return work.latency(
                key, root, c.latency_samples, c.latency_budget, c.latency_gaps, c.latency_timeout
            )

        self.rows[key].latency = self._guard(key, "latency", measure) or {}
        self.log(f"latency {key}: {self.rows[key].latency}")


def report(
    config: Config,
    rows: dict[str, Row],
    where: Path,
    load: float,
    startup: list[bench_startup.StartUp] | None = None,
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
        "",
        bench_report.machine_line(where, load),
        bench_report.versions_line(rows),
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
    jq = next((k for k in rows if k.startswith("jobqueue") and rows[k].note is None), None)
    if jq is None or config.startup_runs < 1:
        return None
    try:
        return bench_startup.measure(base, config.startup_runs)
    except (OSError, RuntimeError, subprocess.SubprocessError) as e:
        rows[jq].errors["start-up"] = f"{type(e).__name__}: {e}"
        return None


def profile(where: Path, n: int) -> int:
    import bench_profile

    base = Path(tempfile.mkdtemp(prefix=".bench-", dir=where))
    try:
        print(bench_profile.profile(base, n))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for key, cls in PEERS.items():
            print(f"{key:16} {cls.label}{'' if missing(cls) is None else '  (not installed)'}")
        return 0
    config = configure(args)
    if args.profile:
        return profile(args.dir or REPO, args.n or 2_000)
    keys = select(args.only, args.skip)
    rows = {k: Row(k, note=None if missing(PEERS[k]) is None else "not installed") for k in keys}
    where = args.dir or REPO
    where.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix=".bench-", dir=where))
    load = os.getloadavg()[0]
    try:
        Runner(config, rows, base).run()
        startup = measure_startup(config, rows, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(report(config, rows, where, load, startup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
