"""Chaos, bounded: scripts/chaos.py with 4 workers and 800 jobs, a random worker SIGKILLed
every 100-400 ms and replaced (see the script for what it checks). The full run, for
minutes and thousands of kills, is ``python scripts/chaos.py --duration 300``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHAOS = Path(__file__).resolve().parent.parent / "scripts" / "chaos.py"


@pytest.mark.timeout(60)
def test_killing_workers_at_random_loses_nothing_and_reruns_only_killed_jobs(
    tmp_path: Path,
) -> None:
    args = [
        sys.executable, str(CHAOS), "--workers", "4", "--jobs", "800", "--sleep", "0.02",
        "--duration", "30", "--kill-min", "0.1", "--kill-max", "0.4", "--drain-timeout", "15",
        "--seed", "4", "--data-dir", str(tmp_path), "--json",
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=55)
    figures = json.loads(done.stdout.splitlines()[-1]) if done.stdout else {}
    assert done.returncode == 0, f"{figures or done.stderr[-3000:]}"
    assert figures["problems"] == []
    assert (figures["complete"], figures["lost"]) == (800, 0)
    assert figures["kills"] >= 10 and figures["kills_mid_run"] >= 1, figures
    # Each extra run follows a kill that caught the job running (checked per line by the
    # script); each such kill is one WorkerLost attempt in some job's history.
    assert figures["extra_runs"] <= figures["worker_lost_attempts"]
