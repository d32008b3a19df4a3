"""`jobqueue metrics`: the table, --json, --prometheus, and its errors. The CLI runs on the
real clock; the jobs are arranged through the API on a clock set a few minutes back, so
their durations are exact and they are inside the CLI's window."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from cli_runs import Cli
from conftest import WORKER_A, FakeClock
from typer.testing import CliRunner

from jobqueue import ErrorInfo, Job, JobQueue, RunningJob, transitions
from jobqueue.cli import app


@pytest.fixture
def finished(api: JobQueue) -> JobQueue:
    """Three jobs ended five minutes ago: resize 2 s and 4 s complete, email 6 s failed
    after one retried attempt."""
    clock = FakeClock(datetime.now(UTC) - timedelta(minutes=5))
    queue = JobQueue(api.backend, clock=clock)
    for job_type, seconds, retries in (("resize", 2, 0), ("resize", 4, 0), ("email", 6, 1)):
        queue.enqueue(job_type, max_retries=retries)
        for attempt in range(retries + 1):
            running = queue.backend.jobs.claim(WORKER_A, clock.now(), {job_type})
            assert running is not None
            clock.advance(seconds)
            queue.backend.jobs.move(running, end(running, clock.now(), attempt < retries))
    return api


def end(running: RunningJob, now: datetime, retry: bool) -> Job:
    """An email attempt fails (retried while ``retry``); any other job completes."""
    if running.metadata.type != "email":
        return transitions.complete(running, None, now)
    return transitions.fail(running, ErrorInfo(type="E", message="x"), now,
                            timedelta(0) if retry else None)  # fmt: skip


def test_the_table_shows_all_types_then_each(cli: Cli, finished: JobQueue) -> None:
    result = cli("metrics")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "in the last 1h:"
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:] if line.strip()}
    assert rows["TYPE"][:4] == ["FINISHED", "SUCCEEDED", "FAILED", "RETRIED"]
    #           finished succeeded failed retried per-min error avg p95
    assert rows["(all"] == ["types)", "3", "2", "1", "1", "0.05", "33.3%", "4s", "6s"]
    assert rows["resize"] == ["2", "2", "0", "0", "0.03", "0.0%", "3s", "4s"]
    assert rows["email"] == ["1", "0", "1", "1", "0.02", "100.0%", "6s", "6s"]


def test_json_is_the_metrics_dict(cli: Cli, finished: JobQueue) -> None:
    result = cli("metrics", "--json", "--window", "30m")
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.stdout)
    assert doc["finished"] == 3 and doc["retried"] == 1
    assert doc["throughput_per_minute"] == pytest.approx(3 / 30)
    assert doc["by_type"]["email"]["error_rate"] == 1.0
    assert doc["by_type"]["resize"]["avg_duration_s"] == 3.0
    assert cli("metrics", "--json", "--window", "1m").stdout.count('"finished": 0') == 1


def test_prometheus_is_the_exposition(cli: Cli, finished: JobQueue) -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client.parser import text_string_to_metric_families

    result = cli("metrics", "--prometheus", "--window", "30m")
    assert result.exit_code == 0, result.output
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(result.stdout)
        for s in family.samples
    }
    assert values[("jobqueue_metrics_window_seconds", ())] == 1800
    assert values[("jobqueue_window_finished_jobs", ())] == 3
    assert values[("jobqueue_type_p95_duration_seconds", (("type", "resize"),))] == 4
    assert values[("jobqueue_jobs", (("status", "failed"),))] == 1


def test_json_and_prometheus_together_are_bad_input(cli: Cli) -> None:
    result = cli("metrics", "--json", "--prometheus")
    assert result.exit_code == 2
    assert result.stderr == "error: give --json or --prometheus, not both\n"


def test_a_bad_window_is_bad_input(cli: Cli) -> None:
    result = cli("metrics", "--window", "soon")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid duration 'soon'")


@pytest.mark.parametrize("flag", [[], ["--json"], ["--prometheus"]])
def test_a_missing_store_is_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str]
) -> None:
    monkeypatch.delenv("JOBQUEUE_STORE", raising=False)
    missing = tmp_path / "missing"
    result = CliRunner().invoke(app, ["--data-dir", str(missing), "metrics", *flag])
    assert result.exit_code == 1
    assert result.stderr == f"error: no queue at {missing}\n"
    assert not missing.exists()


def test_prometheus_without_the_extra_says_what_to_install(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    monkeypatch.delitem(sys.modules, "jobqueue.prometheus", raising=False)
    result = cli("metrics", "--prometheus")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --prometheus needs prometheus-client: pip install 'jobqueue[dashboard]'\n"
    )
