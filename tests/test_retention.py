"""Retention: a worker deletes ended jobs past their status's age, on start and every
minute after; the ``retention=`` keyword and ``jobqueue worker --retention`` check it.

Jobs end on the FakeClock; the worker's lease keeper ticks every 0.25 s of real time and
applies retention when a minute of the fake clock has passed since it last did.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeClock, SeqIds
from monitoring import wait_for
from typer.testing import CliRunner
from worker_runs import burst, end_now, ending_worker, present, running

from jobqueue import InvalidJob, JobQueue
from jobqueue.cli import app
from jobqueue.cli.workers import parse_retention
from jobqueue.worker.upkeep import KEEP_ALL

RETENTION: dict[str, Any] = {"complete": timedelta(days=1), "failed": "30d"}


def old_and_young(queue: JobQueue, clock: FakeClock) -> tuple[str, str, str]:
    """Jobs that ended a day and 10 s ago (complete, failed) and 20 s short of a day."""
    old_ok, old_bad = end_now(queue, "ok"), end_now(queue, "bad")
    clock.advance(30)
    young_ok = end_now(queue, "ok")
    clock.advance(timedelta(days=1).total_seconds() - 20)
    return old_ok, old_bad, young_ok


def test_retention_applies_when_a_worker_starts(queue: JobQueue, clock: FakeClock) -> None:
    _, old_bad, young_ok = old_and_young(queue, clock)
    burst(ending_worker(queue, retention=RETENTION))  # nothing to run: the run is just its start
    assert present(queue) == {old_bad, young_ok}


def test_retention_applies_again_every_minute(queue: JobQueue, clock: FakeClock) -> None:
    old_ok, old_bad, young_ok = old_and_young(queue, clock)
    with running(ending_worker(queue, retention=RETENTION)):
        wait_for(lambda: old_ok not in present(queue), 5.0, "the pass at start")
        clock.advance(30)  # young is now past a day, but the last pass was 30 s ago
        time.sleep(0.6)  # two ticks of the lease keeper
        assert present(queue) == {old_bad, young_ok}
        clock.advance(31)  # a minute since the last pass
        wait_for(lambda: present(queue) == {old_bad}, 5.0, "the next pass")
        clock.advance(timedelta(days=30).total_seconds())
        wait_for(lambda: present(queue) == set(), 5.0, "failed jobs past 30 days to go")


def test_keep_all_deletes_nothing(queue: JobQueue, clock: FakeClock) -> None:
    kept = {end_now(queue, "ok"), end_now(queue, "bad")}
    clock.advance(timedelta(days=365).total_seconds())
    burst(ending_worker(queue, retention=KEEP_ALL))
    assert present(queue) == kept


@pytest.mark.parametrize(
    ("retention", "message"),
    [
        ({"pending": timedelta(days=1)}, "not 'pending'"),
        ({"running": "1d"}, "not 'running'"),
        ({"complete": "soon"}, "invalid duration 'soon'"),
        ({"complete": -5}, "must not be negative"),
        ({"failed": [1]}, "must be seconds or a timedelta"),
    ],
)
def test_invalid_retention_is_refused(queue: JobQueue, retention: Any, message: str) -> None:
    with pytest.raises(InvalidJob, match=message):
        ending_worker(queue, retention=retention)


def test_retention_takes_timedeltas_seconds_and_duration_strings(queue: JobQueue) -> None:
    worker = ending_worker(
        queue, retention={"complete": 3600, "failed": "30d", "cancelled": "1.5h"}
    )
    assert worker.retention == {
        "complete": timedelta(hours=1),
        "failed": timedelta(days=30),
        "cancelled": timedelta(hours=1.5),
    }


# --- the CLI -------------------------------------------------------------------------------


def test_parse_retention() -> None:
    assert parse_retention("complete=1d,failed=30d") == {
        "complete": timedelta(days=1),
        "failed": timedelta(days=30),
    }
    assert parse_retention(" cancelled = 2h ") == {"cancelled": timedelta(hours=2)}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("complete", "STATUS=AGE"),
        ("complete=1d,", "STATUS=AGE"),
        ("=1d", "STATUS=AGE"),
        ("complete=soon", "invalid duration"),
        ("pending=1d", "not 'pending'"),
    ],
)
@pytest.mark.parametrize("processes", ["1", "2"])  # 2: refused before any child starts
def test_a_malformed_retention_exits_2_with_one_line(
    data_dir: Path, value: str, fragment: str, processes: str
) -> None:
    args = ["--data-dir", str(data_dir), "worker", "nowhere:Worker", "--processes", processes]
    result = CliRunner().invoke(app, [*args, "--retention", value])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines


WORKER_MODULE = """
from jobqueue import JobWorker


class Done(JobWorker):
    def execute_job(self, job, ctx):
        return None
"""


def test_jobqueue_worker_retention_deletes_old_jobs(tmp_path: Path, data_dir: Path) -> None:
    two_days_ago = FakeClock(datetime.now(UTC) - timedelta(days=2))
    past = JobQueue(data_dir, durable=False, clock=two_days_ago, new_id=SeqIds())
    old_ok, old_bad = end_now(past, "ok"), end_now(past, "bad")
    (tmp_path / "retention_app.py").write_text(WORKER_MODULE)
    args = ["worker", "retention_app:Done", "--burst", "--retention", "complete=1d,failed=30d"]
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(data_dir), *args]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "retention: removed 1 complete jobs" in done.stderr
    assert old_ok not in present(past)
    assert present(past) == {old_bad}  # failed jobs are kept 30 days
