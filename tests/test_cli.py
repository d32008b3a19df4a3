"""The `jobqueue` command line, through typer's CliRunner on real files in tmp_path.

The CLI runs on the real clock, so the jobs it reads are arranged through a JobQueue on
the same data directory (also on the real clock); a job is finished without a worker by
claiming it from the store and moving it with a pure transition.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import typer
from cli_runs import Cli
from typer.testing import CliRunner, Result

from jobqueue import (
    CancelledJob,
    ErrorInfo,
    Job,
    JobQueue,
    PendingJob,
    Progress,
    RunningJob,
    WorkerInfo,
    transitions,
)
from jobqueue.cli import app
from jobqueue.codec import to_document

# A worker on another host: its jobs are reaped by heartbeat age, never by pid.
WORKER = WorkerInfo(name="remote-worker", host="elsewhere.example", pid=4242)


def now() -> datetime:
    return datetime.now(UTC)


def claim(api: JobQueue) -> RunningJob:
    job = api.backend.jobs.claim(WORKER, now())
    assert job is not None
    return job


def finish(api: JobQueue, end: Callable[[RunningJob], Job]) -> Job:
    """Claim the next job and move it to the state ``end`` returns, as a worker would."""
    running = claim(api)
    ended = end(running)
    api.backend.jobs.move(running, ended)
    return ended


def succeed(job: RunningJob) -> Job:
    return transitions.complete(job, {"width": 640}, now())


def crash(job: RunningJob) -> Job:
    error = ErrorInfo(type="ValueError", message="boom [red]", traceback="Traceback: line 1")
    return transitions.fail(job, error, now(), None)


def stop(job: RunningJob) -> Job:
    return transitions.cancel_running(job, "operator said so", now())


def enqueued_id(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def assert_error(result: Result, code: int, fragment: str = "") -> None:
    """The documented failure: exit code, one `error:` line on stderr, no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)  # not an escaped exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.output


# --- enqueue -----------------------------------------------------------------------------


def test_enqueue_prints_only_the_id(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize", '{"path": "a.png"}'))
    job = api.get_job(job_id)
    assert isinstance(job, PendingJob)
    assert job.metadata.type == "resize" and job.params == {"path": "a.png"}


def test_enqueue_without_params_stores_an_empty_object(cli: Cli, api: JobQueue) -> None:
    job = api.get_job(enqueued_id(cli("enqueue", "ping")))
    assert job is not None and job.params == {}


def test_enqueue_passes_every_option(cli: Cli, api: JobQueue) -> None:
    before = now()
    args = ["--priority", "-2", "--max-retries", "1", "--timeout", "1.5m", "--unique-key", "k1"]
    job = api.get_job(enqueued_id(cli("enqueue", "resize", "[1, 2]", "--delay", "5m", *args)))
    assert job is not None and job.params == [1, 2]
    m = job.metadata
    assert (m.priority, m.max_retries, m.timeout, m.unique_key) == (-2, 1, 90.0, "k1")
    assert before + timedelta(minutes=5) <= m.run_at <= now() + timedelta(minutes=5)


def test_enqueue_with_a_taken_unique_key_prints_the_holder(cli: Cli) -> None:
    first = enqueued_id(cli("enqueue", "report", "--unique-key", "daily"))
    assert enqueued_id(cli("enqueue", "report", "--unique-key", "daily")) == first


def test_enqueue_json_prints_the_job_document(cli: Cli, api: JobQueue) -> None:
    result = cli("enqueue", "resize", '{"path": "a.png"}', "--json")
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.stdout)
    job = api.get_job(doc["metadata"]["id"])
    assert job is not None and doc == to_document(job)
    assert doc["status"] == "pending" and doc["params"] == {"path": "a.png"}


def test_enqueue_reads_params_from_a_file(cli: Cli, api: JobQueue, tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text('{"path": "from-file.png"}')
    job = api.get_job(enqueued_id(cli("enqueue", "resize", "--params-file", str(params))))
    assert job is not None and job.params == {"path": "from-file.png"}


def test_enqueue_reads_params_from_stdin(cli: Cli, api: JobQueue) -> None:
    result = cli("enqueue", "resize", "--params-file", "-", input='{"path": "stdin.png"}')
    job = api.get_job(enqueued_id(result))
    assert job is not None and job.params == {"path": "stdin.png"}


@pytest.fixture
def utc_plus_9(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This machine's local time is UTC+9 for the test (a POSIX TZ needs no tz database)."""
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("utc_plus_9")
def test_enqueue_at_without_offset_is_local_time(cli: Cli, api: JobQueue) -> None:
    job = api.get_job(enqueued_id(cli("enqueue", "report", "--at", "2031-01-01T09:00")))
    assert job is not None
    assert job.metadata.run_at == datetime(2031, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("at", ["2031-01-01T02:00+02:00", "2031-01-01T00:00:00Z"])
def test_enqueue_at_with_offset(cli: Cli, api: JobQueue, at: str) -> None:
    job = api.get_job(enqueued_id(cli("enqueue", "report", "--at", at)))
    assert job is not None and job.metadata.run_at == datetime(2031, 1, 1, tzinfo=UTC)


# --- bad input: exit 2, one line ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["enqueue", "resize", "{not json"], "not valid JSON"),
        (["enqueue", "resize", '"a string"'], "object or array"),
        (["enqueue", "resize", "42"], "object or array"),
        (["enqueue", "resize", "null"], "object or array"),
        (["enqueue", "a/b"], "job type"),
        (["enqueue", "../x"], "job type"),
        (["enqueue", "resize", "--delay", "5x"], "invalid duration"),
        (["enqueue", "resize", "--timeout", "soon"], "invalid duration"),
        (["enqueue", "resize", "--at", "tomorrow"], "--at"),
        (["enqueue", "resize", "--delay", "1m", "--at", "2031-01-01T00:00Z"], "not both"),
        (["enqueue", "resize", "--max-retries", "-1"], "max_retries"),
        (["enqueue", "resize", "--params-file", "/nonexistent/p.json"], "cannot read"),
        (["show", "../../x"], "job id"),
        (["watch", "../../x"], "job id"),
        (["cancel", "../../x"], "job id"),
        (["retry", "a/b"], "job id"),
        (["list", "--status", "bogus"], "unknown status"),
        (["list", "--type", "a/b"], "job type"),
        (["cleanup", "--older-than", "5x"], "invalid duration"),
        (["cleanup", "--status", "running"], "complete, failed or cancelled"),
        (["reap", "--stale-after", "5x"], "invalid duration"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli: Cli, args: list[str], fragment: str) -> None:
    assert_error(cli(*args), 2, fragment)


def test_params_json_and_params_file_together_are_bad_input(cli: Cli, tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text("{}")
    result = cli("enqueue", "resize", "{}", "--params-file", str(params))
    assert_error(result, 2, "not both")


def test_bad_input_stores_nothing(cli: Cli, api: JobQueue) -> None:
    cli("enqueue", "resize", "{not json")
    assert api.stats()["total"] == 0


# --- not found and refused: exit 1 -------------------------------------------------------


@pytest.mark.parametrize("command", ["show", "watch", "cancel", "retry"])
def test_unknown_job_exits_1(cli: Cli, command: str) -> None:
    assert_error(cli(command, "20300101T000000000000Z-00000000"), 1, "no job with id")


def test_cancel_of_a_completed_job_is_refused(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    finish(api, succeed)
    assert_error(cli("cancel", job_id), 1, "already ended (complete)")


def test_retry_of_a_pending_job_is_refused(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    assert_error(cli("retry", job_id), 1, "pending")
    assert isinstance(api.get_job(job_id), PendingJob)


def test_a_store_error_exits_1(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    result = CliRunner().invoke(app, ["--data-dir", str(blocker), "enqueue", "resize"])
    assert_error(result, 1, "Not a directory")


# --- list, show, stats -------------------------------------------------------------------


def test_list_shows_a_table(cli: Cli, api: JobQueue) -> None:
    done = enqueued_id(cli("enqueue", "resize"))
    waiting = enqueued_id(cli("enqueue", "report", "--delay", "1h"))
    finish(api, succeed)
    result = cli("list")
    assert result.exit_code == 0, result.output
    rows = {cells[0]: cells[1:3] for cells in map(str.split, result.stdout.splitlines()) if cells}
    assert rows[done] == ["complete", "resize"]
    assert rows[waiting] == ["pending", "report"]
    assert "due " in result.stdout


def test_list_filters_by_status_type_and_limit(cli: Cli, api: JobQueue) -> None:
    ids = [enqueued_id(cli("enqueue", t)) for t in ("resize", "report", "resize", "resize")]
    finish(api, succeed)

    def listed(*args: str) -> list[str]:
        result = cli("list", "--json", *args)
        assert result.exit_code == 0, result.output
        return [doc["metadata"]["id"] for doc in orjson.loads(result.stdout)]

    assert listed() == ids
    assert listed("--status", "complete") == ids[:1]
    assert listed("--status", "complete", "--status", "pending", "--type", "report") == [ids[1]]
    assert listed("--type", "resize", "--limit", "2") == [ids[0], ids[2]]


def test_list_json_is_an_array_of_job_documents(cli: Cli, api: JobQueue) -> None:
    enqueued_id(cli("enqueue", "resize", '{"n": 1}'))
    docs = orjson.loads(cli("list", "--json").stdout)
    assert docs == [to_document(job) for job in api.query_jobs()]


def test_list_of_an_empty_queue(cli: Cli) -> None:
    assert cli("list").stdout.strip() == "no jobs"
    assert orjson.loads(cli("list", "--json").stdout) == []


def test_show_a_pending_job(cli: Cli) -> None:
    job_id = enqueued_id(cli("enqueue", "resize", '{"path": "[b]a.png"}', "--priority", "7"))
    result = cli("show", job_id)
    assert result.exit_code == 0, result.output
    assert job_id in result.stdout and "pending" in result.stdout
    assert '"path": "[b]a.png"' in result.stdout  # user text is not rich markup
    assert "7" in result.stdout


def test_show_a_running_job_with_progress(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    running = claim(api)
    progress = Progress(percentage=40, stage="resizing", message="a.png")
    api.backend.jobs.move(running, transitions.heartbeat(running, now(), progress))
    out = cli("show", job_id).stdout
    assert "running" in out and "remote-worker" in out and "40% resizing a.png" in out


def test_show_a_failed_job_with_its_error_and_attempts(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    finish(api, crash)
    out = cli("show", job_id).stdout
    assert "ValueError: boom [red]" in out and "Traceback: line 1" in out
    assert "attempts" in out and "remote-worker" in out


def test_show_json_is_the_job_document(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    ended = finish(api, succeed)
    result = cli("show", job_id, "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout) == to_document(ended)
    assert result.stdout.startswith("{\n  ")  # pretty-printed, like the job file


def test_stats(cli: Cli, api: JobQueue) -> None:
    for _ in range(3):
        enqueued_id(cli("enqueue", "resize"))
    enqueued_id(cli("enqueue", "resize", "--delay", "1h"))
    finish(api, succeed)
    result = cli("stats")
    assert result.exit_code == 0, result.output
    table = dict(cells for cells in map(str.split, result.stdout.splitlines()) if len(cells) == 2)
    assert (table["pending"], table["delayed"], table["complete"], table["total"]) == (
        "3", "1", "1", "4",
    )  # fmt: skip
    counts = orjson.loads(cli("stats", "--json").stdout)
    assert counts == api.stats()
    assert set(counts) == {
        "pending", "delayed", "running", "complete", "failed", "cancelled", "quarantined", "total",
    }  # fmt: skip


# --- cancel, retry, cleanup, reap --------------------------------------------------------


def test_cancel_a_pending_job(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    result = cli("cancel", job_id, "--reason", "not needed")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"cancelled {job_id}"
    job = api.get_job(job_id)
    assert isinstance(job, CancelledJob) and job.reason == "not needed"


def test_cancel_a_running_job_asks_its_worker(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    claim(api)
    result = cli("cancel", job_id)
    assert result.exit_code == 0, result.output
    assert "to stop" in result.stdout
    assert isinstance(api.get_job(job_id), RunningJob)
    assert api.backend.cancels.get(job_id) is not None


@pytest.mark.parametrize("end", [crash, stop])
def test_retry_a_failed_or_cancelled_job(
    cli: Cli, api: JobQueue, end: Callable[[RunningJob], Job]
) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    finish(api, end)
    result = cli("retry", job_id)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"requeued {job_id}"
    job = api.get_job(job_id)
    assert isinstance(job, PendingJob) and len(job.attempts) == 1


def test_cleanup_dry_run_then_for_real(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    enqueued_id(cli("enqueue", "resize"))
    finish(api, succeed)
    assert cli("cleanup").stdout.strip() == "removed 0 jobs"  # default: older than 1d
    assert cli("cleanup", "--older-than", "0", "--dry-run").stdout.strip() == "would remove 1 job"
    assert api.get_job(job_id) is not None
    assert cli("cleanup", "--older-than", "0", "--status", "failed").stdout.strip() == (
        "removed 0 jobs"
    )
    assert cli("cleanup", "--older-than", "0").stdout.strip() == "removed 1 job"
    assert api.get_job(job_id) is None
    assert api.stats()["pending"] == 1


def test_reap_returns_a_stale_job_to_pending(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    claim(api)
    assert cli("reap").stdout.strip() == "reaped 0 jobs"  # heartbeat younger than 30s
    result = cli("reap", "--stale-after", "0")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"{job_id} (resize) -> pending", "reaped 1 job"]
    assert isinstance(api.get_job(job_id), PendingJob)


# --- watch -------------------------------------------------------------------------------


def in_background(api: JobQueue, end: Callable[[RunningJob], Job]) -> threading.Thread:
    """Claim the job, report progress, then end it, while `watch` polls."""

    def work() -> None:
        time.sleep(0.05)
        running = claim(api)
        progress = Progress(percentage=50, stage="resizing", message="half way")
        api.backend.jobs.move(running, transitions.heartbeat(running, now(), progress))
        time.sleep(0.05)
        latest = api.get_job(running.metadata.id)
        assert isinstance(latest, RunningJob)
        api.backend.jobs.move(latest, end(latest))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def watch(cli: Cli, api: JobQueue, end: Callable[[RunningJob], Job]) -> Result:
    job_id = enqueued_id(cli("enqueue", "resize"))
    thread = in_background(api, end)
    result = cli("watch", job_id, "--interval", "0.01")
    thread.join(timeout=5)
    assert not thread.is_alive()
    return result


def test_watch_exits_0_when_the_job_completes(cli: Cli, api: JobQueue) -> None:
    result = watch(cli, api, succeed)
    assert result.exit_code == 0, result.output
    assert "complete" in result.stdout and "100%" in result.stdout


def test_watch_exits_1_when_the_job_fails(cli: Cli, api: JobQueue) -> None:
    result = watch(cli, api, crash)
    assert_error(result, 1, "failed: ValueError: boom")


def test_watch_exits_1_when_the_job_is_cancelled(cli: Cli, api: JobQueue) -> None:
    result = watch(cli, api, stop)
    assert_error(result, 1, "was cancelled: operator said so")


def test_watch_of_an_ended_job_returns_at_once(cli: Cli, api: JobQueue) -> None:
    job_id = enqueued_id(cli("enqueue", "resize"))
    finish(api, succeed)
    result = cli("watch", job_id)
    assert result.exit_code == 0 and f"job {job_id} complete" in result.stdout


# --- the data directory and the entry points ---------------------------------------------


def test_data_dir_from_the_environment(tmp_path: Path) -> None:
    data = tmp_path / "from-env"
    runner = CliRunner(env={"JOBQUEUE_DATA_DIR": str(data)})
    job_id = enqueued_id(runner.invoke(app, ["enqueue", "resize"]))
    assert (data / "jobs" / "pending" / f"{job_id}.json").is_file()


def test_data_dir_defaults_to_data_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOBQUEUE_DATA_DIR", raising=False)
    job_id = enqueued_id(CliRunner().invoke(app, ["enqueue", "resize"]))
    assert (tmp_path / "data" / "jobs" / "pending" / f"{job_id}.json").is_file()


def test_data_dir_option_wins_over_the_environment(tmp_path: Path) -> None:
    runner = CliRunner(env={"JOBQUEUE_DATA_DIR": str(tmp_path / "env")})
    result = runner.invoke(app, ["--data-dir", str(tmp_path / "opt"), "enqueue", "resize"])
    assert (tmp_path / "opt" / "jobs" / "pending" / f"{enqueued_id(result)}.json").is_file()
    assert not (tmp_path / "env").exists()


def test_help_lists_every_command_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert CliRunner().invoke(app, ["enqueue", "--help"]).exit_code == 0
    assert not (tmp_path / "data").exists()


def test_the_command_set_is_pinned() -> None:
    group = typer.main.get_command(app)
    assert set(group.commands) == {  # type: ignore[attr-defined]
        "enqueue", "list", "show", "watch", "cancel", "retry", "cleanup", "stats", "reap",
        "worker", "doctor", "schedule", "scheduler", "events", "workers", "quarantine", "db",
        "transfer", "metrics", "dashboard",
    }  # fmt: skip


def run_module(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(data_dir), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def test_python_dash_m_runs_the_cli(data_dir: Path) -> None:
    done = run_module("enqueue", "resize", '{"a": 1}', data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    assert (data_dir / "jobs" / "pending" / f"{done.stdout.strip()}.json").is_file()
    bad = run_module("show", "../../x", data_dir=data_dir)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and len(bad.stderr.splitlines()) == 1
    assert "Traceback" not in bad.stderr


def test_the_console_script_runs(data_dir: Path, api: JobQueue) -> None:
    script = Path(sys.executable).with_name("jobqueue")
    if not script.exists():
        pytest.skip("the jobqueue console script is not installed next to this Python")
    command = [str(script), "--data-dir", str(data_dir), "show", "nope"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert done.stderr == "error: no job with id 'nope'\n"
