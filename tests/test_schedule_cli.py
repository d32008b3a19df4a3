"""`jobqueue schedule ...` through typer's CliRunner on real files (the real clock).

The scheduler command itself runs as a real process, in test_scheduler_processes.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from jobqueue import JobQueue
from jobqueue.cli import app


def run(data_dir: Path, *args: str) -> Result:
    runner = CliRunner(env={"COLUMNS": "200"})
    return runner.invoke(app, ["--data-dir", str(data_dir), *args])


def assert_error(result: Result, code: int, fragment: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]


@pytest.fixture
def api(data_dir: Path) -> JobQueue:
    return JobQueue(data_dir, durable=False)


def test_add_creates_the_schedule_and_prints_its_next_run(data_dir: Path, api: JobQueue) -> None:
    done = run(data_dir, "schedule", "add", "nightly", "0 3 * * *", "report", '{"kind": "daily"}',
               "--timezone", "Europe/Paris", "--priority", "-1", "--timeout", "5m")  # fmt: skip
    assert done.exit_code == 0, done.output
    [schedule] = api.get_schedules()
    assert (schedule.name, schedule.cron, schedule.timezone) == (
        "nightly",
        "0 3 * * *",
        "Europe/Paris",
    )
    assert schedule.params == {"kind": "daily"}
    assert (schedule.priority, schedule.timeout) == (-1, 300.0)
    assert done.stdout.startswith("nightly: next run ")
    assert schedule.next_run_at is not None
    assert schedule.next_run_at.strftime("%Y-%m-%d %H:%M:%SZ") in done.stdout


def test_add_with_every_option(data_dir: Path, api: JobQueue) -> None:
    done = run(data_dir, "schedule", "add", "s", "*/5 * * * *", "ping", "[1]", "--max-runs", "3",
               "--end-date", "2999-01-01", "--timezone", "Asia/Tokyo", "--no-overlap",
               "--run-on-start", "--catch-up", "skip", "--json")  # fmt: skip
    assert done.exit_code == 0, done.output
    doc = orjson.loads(done.stdout)
    assert doc["max_runs"] == 3 and doc["allow_concurrent"] is False
    assert doc["catch_up"] == "skip" and doc["run_count"] == 1  # the job run on start
    assert doc["end_date"] == "2998-12-31T15:00:00.000000Z"  # midnight in Tokyo
    assert len(api.query_jobs()) == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["s", "not a cron", "ping"], "invalid cron expression"),
        (["../s", "* * * * *", "ping"], "invalid schedule name"),
        (["s", "* * * * *", "ping", "--timezone", "Nowhere/Land"], "unknown timezone"),
        (["s", "* * * * *", "ping", "--catch-up", "all"], "--catch-up"),
        (["s", "* * * * *", "ping", "--end-date", "soon"], "--end-date"),
        (["s", "* * * * *", "ping", "{bad"], "not valid JSON"),
        (["s", "* * * * *", "ping", "42"], "object or array"),
    ],
)
def test_add_refuses_bad_input_with_exit_2(data_dir: Path, args: list[str], fragment: str) -> None:
    assert_error(run(data_dir, "schedule", "add", *args), 2, fragment)


def test_list_shows_state_and_next_runs(data_dir: Path, api: JobQueue) -> None:
    api.schedule("hourly", "0 * * * *", "ping")
    api.schedule("held", "0 * * * *", "ping")
    api.pause("held")
    api.schedule("done", "0 * * * *", "ping", end_date=datetime(2000, 1, 1, tzinfo=UTC))
    done = run(data_dir, "schedule", "list")
    assert done.exit_code == 0, done.output
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[2:]}
    assert rows.keys() == {"done", "held", "hourly"}
    assert rows["held"].rstrip().endswith("paused")
    assert rows["done"].rstrip().endswith("retired")
    next_run = api.next_run_time("hourly")
    assert next_run is not None and next_run.strftime("%Y-%m-%d %H:%M:%SZ") in rows["hourly"]


def test_list_json_prints_the_schedule_files(data_dir: Path, api: JobQueue) -> None:
    api.schedule("a", "0 * * * *", "ping")
    done = run(data_dir, "schedule", "list", "--json")
    assert done.exit_code == 0
    [doc] = orjson.loads(done.stdout)
    assert doc == orjson.loads((data_dir / "schedules" / "a.json").read_bytes())


def test_list_with_no_schedules(data_dir: Path, api: JobQueue) -> None:
    assert run(data_dir, "schedule", "list").stdout == "no schedules\n"
    assert orjson.loads(run(data_dir, "schedule", "list", "--json").stdout) == []


def test_pause_resume_and_remove(data_dir: Path, api: JobQueue) -> None:
    api.schedule("s", "0 * * * *", "ping")
    paused = run(data_dir, "schedule", "pause", "s")
    assert paused.exit_code == 0 and paused.stdout == "s: paused\n"
    assert api.next_run_time("s") is None
    resumed = run(data_dir, "schedule", "resume", "s")
    assert resumed.exit_code == 0 and resumed.stdout.startswith("s: next run ")
    assert api.next_run_time("s") is not None
    removed = run(data_dir, "schedule", "remove", "s")
    assert removed.exit_code == 0 and removed.stdout == "s: removed\n"
    assert api.get_schedules() == []


@pytest.mark.parametrize("command", ["pause", "resume", "remove"])
def test_unknown_names_exit_1_and_bad_names_exit_2(data_dir: Path, command: str) -> None:
    assert_error(run(data_dir, "schedule", command, "ghost"), 1, "no schedule named 'ghost'")
    assert_error(run(data_dir, "schedule", command, "a/b"), 2, "invalid schedule name")


def test_scheduler_refuses_a_bad_log_level(data_dir: Path) -> None:
    assert_error(run(data_dir, "scheduler", "--log-level", "loud"), 2, "--log-level")
