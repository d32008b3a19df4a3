"""scripts/bench.py still runs: its quick mode on jobqueue alone (no peer needed) prints
the table, the targets and the machine line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"


@pytest.mark.timeout(90)
def test_quick_bench_prints_the_table(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--only", "jobqueue", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=75,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "| jobqueue durable=True " in out
    assert "| jobqueue durable=False " in out
    assert "producer + 2 consumers/s" in out
    assert "dup 0 lost 0" in out
    assert "targets (issue 5):" in out
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
