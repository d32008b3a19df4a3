"""data-example/ is what scripts/make_example.py writes, and every file in it is a valid job."""

from __future__ import annotations

import filecmp
import runpy
from pathlib import Path

from jobqueue import JobQueue
from jobqueue.job import STATUSES

ROOT = Path(__file__).resolve().parent.parent


def test_data_example_is_up_to_date(tmp_path: Path) -> None:
    build = runpy.run_path(str(ROOT / "scripts" / "make_example.py"))["build"]
    build(tmp_path / "example")
    for status in STATUSES:
        fresh, kept = (
            tmp_path / "example" / "jobs" / status,
            ROOT / "data-example" / "jobs" / status,
        )
        compared = filecmp.dircmp(fresh, kept)
        assert not (compared.left_only or compared.right_only or compared.diff_files), (
            f"data-example/jobs/{status} is stale: run `make example`"
        )


def test_data_example_has_every_status_and_reads_cleanly(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(ROOT / "data-example", tmp_path / "copy")
    queue = JobQueue(tmp_path / "copy", durable=False)
    stats = queue.stats()
    assert all(stats[s] >= 1 for s in STATUSES)
    assert stats["quarantined"] == 0
    assert len(queue.query_jobs()) == stats["total"]
