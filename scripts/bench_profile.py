"""Where jobqueue spends its time: cProfile over the enqueue and drain workloads.

    scripts/bench.py --profile [--n 2000]
    scripts/bench.py --profile --only jobqueue-pg    # on a throwaway PostgreSQL server

Prints, per workload and durability, the functions with the most time of their own
(tottime) and the jobqueue functions with the most cumulative time, as file:line.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import bench_workloads as work
from bench_base import Peer
from bench_peers import PEERS

WORKLOADS: dict[str, Callable[[Peer, int, float], object]] = {
    "enqueue": work.enqueue,
    "enqueue_many": work.enqueue_many,
    "drain": work.drain,
}


def profile(base: Path, n: int, keys: list[str], top: int = 12) -> str:
    """The profiles of each workload on each of ``keys`` (jobqueue's peers)."""
    sections = []
    for key in keys:
        for name, workload in WORKLOADS.items():
            stats = _run(base, key, workload, n)
            sections.append(f"== {key} {name}, n={n:,}: own time ==")
            sections.append(_format(stats, "tottime", top, None))
            sections.append(f"== {key} {name}: cumulative, jobqueue only ==")
            sections.append(_format(stats, "cumulative", top, "/jobqueue/"))
    return "\n".join(sections)


def _run(
    base: Path, key: str, workload: Callable[[Peer, int, float], object], n: int
) -> pstats.Stats:
    root = Path(tempfile.mkdtemp(prefix=f"profile-{key}-", dir=base))
    try:
        peer = PEERS[key](root)
        if workload is work.drain:
            peer.fill(0, n)  # fill outside the profile; drain then finds them queued
            workload = _drain_only
        profiler = cProfile.Profile()
        profiler.runcall(workload, peer, n, 600.0)
        peer.close()
        return pstats.Stats(profiler)
    finally:
        PEERS[key].discard(root)
        shutil.rmtree(root, ignore_errors=True)


def _drain_only(peer: Peer, n: int, deadline: float) -> None:
    while (claimed := peer.claim()) is not None:
        peer.complete(claimed)


def _format(stats: pstats.Stats, sort: str, top: int, only: str | None) -> str:
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats(sort)
    if only:
        stats.print_stats(only, top)
    else:
        stats.print_stats(top)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(lines[start:])
