"""scripts/bench.py still runs: its quick mode on jobqueue alone (no peer needed) prints
the table, the targets and the machine line; its PostgreSQL part starts a server of its
own, compares jobqueue with procrastinate on it, and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import postgres_cluster
import pytest

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"


def bench(*args: str, timeout: float) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.timeout(90)
def test_quick_bench_prints_the_table(tmp_path: Path) -> None:
    out = bench("--only", "jobqueue", "--skip", "jobqueue-pg", "--dir", str(tmp_path), timeout=75)

    assert "| jobqueue durable=True " in out
    assert "| jobqueue durable=False " in out
    assert "producer + 2 consumers/s" in out
    assert "dup 0 lost 0" in out
    assert "targets (issue 5):" in out
    assert "PostgreSQL" not in out
    assert "machine:" in out
    assert "error:" not in out, out
    assert list(tmp_path.iterdir()) == [], "the benchmark left its stores behind"


@pytest.mark.timeout(120)
def test_quick_postgres_bench_compares_jobqueue_with_procrastinate(tmp_path: Path) -> None:
    if postgres_cluster.find_binaries() is None:
        if os.environ.get(postgres_cluster.DSN_ENV):
            pytest.skip("the PostgreSQL bench starts a server of its own: it needs initdb")
        postgres_cluster.give_up(postgres_cluster.SKIP)

    out = bench("--only", "jobqueue-pg,procrastinate", "--dir", str(tmp_path), timeout=105)

    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert "producer + 4 workers/s" in rows["queue"]
    assert "dup 0 lost 0" in rows["jobqueue PostgreSQL"]
    measured = "(jq ×" in rows["procrastinate"] and "dup 0 lost 0" in rows["procrastinate"]  # noqa: RUF001
    assert measured or "not installed" in rows["procrastinate"]
    assert "targets (issue 11):" in out
    assert "fsync=off" in out and "the same for both peers" in out
    assert "machine:" in out
    assert "error:" not in out, out
    assert list(tmp_path.iterdir()) == [], "the benchmark left its stores behind"


def test_a_peer_that_is_not_installed_is_reported(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench_peers
        import bench_report
    finally:
        sys.path.remove(str(BENCH.parent))

    class Absent(bench_peers.Peer):
        key = "absent"
        label = "absent peer"
        durable = False
        requires = ("no_such_module_for_the_bench",)

    assert bench_peers.missing(Absent) == "no_such_module_for_the_bench"
    assert bench_peers.missing(bench_peers.JobqueuePeer) is None
    bench_peers.PEERS["absent"] = Absent
    try:
        rows = {"absent": bench_report.Row("absent", note="not installed")}
        assert "| absent peer | no    | not installed |" in bench_report.table(rows)
    finally:
        del bench_peers.PEERS["absent"]
