"""How a benchmark run is shaped (``Config``) and carried out (``Runner``): every workload
of ``bench_workloads`` on every selected peer, each measurement in a fresh directory.

The file part and the PostgreSQL part are two runs of the same ``Runner``, with their
own configurations (``DEFAULT`` here, ``bench_pg.DEFAULT``): the PostgreSQL one drains
through the peers' real workers (``served``) and has four of them behind the producer.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_workloads as work
from bench_peers import PEERS
from bench_report import Row


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
    consumers: int = 2  # consumer processes behind the one producer
    #: Drain and consume through the peer's real worker (``Peer.serve``) in a process of
    #: its own, instead of a claim -> complete loop.
    served: bool = False

    @property
    def consumer_label(self) -> str:
        """``2 consumers`` or ``4 workers``: what the producer workload is called."""
        return f"{self.consumers} {'workers' if self.served else 'consumers'}"


#: The file part's configurations (bench_pg has the PostgreSQL part's).
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
                self._drain(key, tag)
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
            self._discard(key, root)

    def _discard(self, key: str, root: Path) -> None:
        try:
            PEERS[key].discard(root)
        except Exception as e:  # a leftover database on a throwaway server: say so, go on
            self.log(f"{key}: could not discard {root.name}: {type(e).__name__}: {e}")
        shutil.rmtree(root, ignore_errors=True)

    def _in_process(self, key: str, workload: str, tag: str, fn: Callable[..., Any]) -> None:
        def measure(root: Path) -> Any:
            peer = PEERS[key](root)
            try:
                return fn(peer, self.config.n, self.config.deadline)
            finally:
                peer.close()

        self._record(key, workload, tag, self._guard(key, workload, measure))

    def _drain(self, key: str, tag: str) -> None:
        if not self.config.served:
            self._in_process(key, "drain", tag, work.drain)
            return

        def measure(root: Path) -> work.Rate:
            return work.drain_served(key, root, self.config.n, self.config.deadline)

        self._record(key, "drain", tag, self._guard(key, "drain", measure))

    def _record(self, key: str, workload: str, tag: str, rate: work.Rate | None) -> None:
        if rate is not None:
            getattr(self.rows[key], workload).append(rate)
            self.log(f"{workload} {key} {tag}: {rate.per_second:,.0f}/s")

    def _producer_consumers(self, key: str, tag: str) -> None:
        c = self.config
        name = f"producer+{c.consumer_label}"

        def measure(root: Path) -> work.ExactlyOnce:
            return work.producer_consumers(
                key, root, c.n, c.deadline, consumers=c.consumers, served=c.served
            )

        result = self._guard(key, name, measure)
        if result is not None:
            self.rows[key].pc.append(result)
            self.log(
                f"{name} {key} {tag}: {result.per_second:,.0f}/s, "
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
