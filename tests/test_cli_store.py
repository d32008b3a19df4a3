"""The CLI over the backend seam: choosing the store (``--store``, ``--data-dir``, their
environment variables), read-only opening, the `list` page, one-line errors for bad
numbers, store failures, and what the supervisor and a worker are told about the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import tomllib
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import orjson
import pytest
from test_cli import assert_error
from typer.testing import CliRunner, Result

from jobqueue import JobContext, JobQueue, JobWorker, RunningJob
from jobqueue.backends.memory import MemoryBackend
from jobqueue.cli import app
from jobqueue.cli._common import until_signalled
from jobqueue.cli._options import user_errors
from jobqueue.errors import StoreError

Cli = Callable[..., Result]
SOME_ID = "20300101T000000000000Z-00000000"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run `jobqueue ARGS...` with no store variable set unless ``env`` says so."""
    monkeypatch.delenv("JOBQUEUE_STORE", raising=False)
    monkeypatch.delenv("JOBQUEUE_DATA_DIR", raising=False)

    def invoke(*args: str, env: Mapping[str, str] | None = None) -> Result:
        return CliRunner(env={"COLUMNS": "200", **(env or {})}).invoke(app, list(args))

    return invoke


@pytest.fixture
def api(data_dir: Path) -> JobQueue:
    return JobQueue(data_dir, durable=False)


class Echo(JobWorker):
    def execute_job(self, job: RunningJob, ctx: JobContext) -> object:
        return job.params


# --- choosing the store ------------------------------------------------------------------


def test_store_url_opens_the_file_store_with_its_options(cli: Cli, data_dir: Path) -> None:
    url = f"{data_dir.as_uri()}?durable=false"
    done = cli("--store", url, "enqueue", "resize")
    assert done.exit_code == 0, done.output
    assert (data_dir / "jobs" / "pending" / f"{done.stdout.strip()}.json").is_file()


def test_store_from_the_environment(cli: Cli, data_dir: Path) -> None:
    done = cli("enqueue", "resize", env={"JOBQUEUE_STORE": str(data_dir)})
    assert done.exit_code == 0, done.output
    assert (data_dir / "jobs" / "pending" / f"{done.stdout.strip()}.json").is_file()


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--store", "a", "--data-dir", "b"], {}, "--store and --data-dir"),
        (["--store", "a"], {"JOBQUEUE_DATA_DIR": "b"}, "--store and JOBQUEUE_DATA_DIR"),
        (["--data-dir", "b"], {"JOBQUEUE_STORE": "a"}, "JOBQUEUE_STORE and --data-dir"),
        ([], {"JOBQUEUE_STORE": "a", "JOBQUEUE_DATA_DIR": "b"}, "JOBQUEUE_STORE and JOBQUEUE_"),
    ],
)
def test_store_and_data_dir_together_are_bad_input(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
    env: dict[str, str], named: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert_error(cli(*args, "enqueue", "resize", env=env), 2, f"not both (got {named}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("store", "code", "fragment"),
    [
        ("postgresql://app@db.invalid/app?connect_timeout=2", 1, "could not open"),
        ("postgresql://app@db.invalid/app?colour=blue", 2, "colour"),
        ("redis://localhost", 2, "unknown store"),
        ("memory://?durable=false", 2, "durable"),
    ],
)
def test_a_store_that_cannot_be_opened_is_one_line(
    cli: Cli, store: str, code: int, fragment: str
) -> None:
    """Bad input is exit 2; a database that cannot be reached is a store failure, exit 1."""
    assert_error(cli("--store", store, "enqueue", "resize"), code, fragment)


def test_a_memory_store_lives_for_one_command(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli("--store", "memory://", "enqueue", "resize").exit_code == 0
    listed = cli("--store", "memory://", "list", "--json")
    assert (listed.exit_code, orjson.loads(listed.stdout)) == (0, [])
    assert list(tmp_path.iterdir()) == []


def test_doctor_is_for_file_stores_only(cli: Cli) -> None:
    assert_error(cli("--store", "memory://", "doctor"), 2, "file store")


# --- read-only opening -------------------------------------------------------------------


READERS = [
    ["list"], ["list", "--json"], ["show", SOME_ID], ["show", SOME_ID, "--json"], ["stats"],
    ["stats", "--json"], ["watch", SOME_ID], ["workers"], ["schedule", "list"], ["doctor"],
]  # fmt: skip


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_reader_on_a_missing_data_dir_exits_1_and_creates_nothing(
    cli: Cli, tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "deep" / "dir"
    assert_error(cli("--data-dir", str(missing), *command), 1, f"no queue at {missing}")
    assert not (tmp_path / "deep").exists()


def test_stats_on_a_mistyped_absolute_path_creates_nothing(cli: Cli) -> None:
    missing = Path("/nonexistent/deep/dir")
    if missing.parent.parent.exists():
        pytest.skip("/nonexistent exists on this machine")
    assert_error(cli("--data-dir", str(missing), "stats"), 1, f"no queue at {missing}")
    assert not missing.parent.parent.exists()


def test_bad_input_to_a_reader_is_still_exit_2(cli: Cli, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    assert_error(cli("--data-dir", missing, "show", "../x"), 2, "job id")
    assert_error(cli("--data-dir", missing, "list", "--type", "a/b"), 2, "job type")


@pytest.mark.parametrize(
    "command",
    [["enqueue", "resize"], ["events", "--idle-timeout", "0.05"],
     ["schedule", "add", "s", "0 * * * *", "ping"]],
    ids=" ".join,
)  # fmt: skip
def test_writers_and_events_create_the_data_dir(
    cli: Cli, data_dir: Path, command: list[str]
) -> None:
    done = cli("--data-dir", str(data_dir), *command)
    assert done.exit_code == 0, done.output
    assert (data_dir / "jobs" / "pending").is_dir()


# --- list: one page, and how many more ---------------------------------------------------


def listed_ids(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [doc["metadata"]["id"] for doc in orjson.loads(result.stdout)]


def test_list_shows_the_limit_and_says_how_many_more(
    cli: Cli, api: JobQueue, data_dir: Path
) -> None:
    ids = [api.enqueue("resize").metadata.id for _ in range(5)]
    table = cli("--data-dir", str(data_dir), "list", "--limit", "2")
    assert table.exit_code == 0, table.output
    rows = [cells[0] for cells in map(str.split, table.stdout.splitlines()) if "pending" in cells]
    assert rows == ids[:2]
    assert table.stdout.splitlines()[-1] == "3 more jobs not shown; raise --limit to see them"
    newest = cli("--data-dir", str(data_dir), "list", "--limit", "2", "--newest", "--json")
    assert listed_ids(newest) == [ids[4], ids[3]]
    assert newest.stderr == "3 more jobs not shown; raise --limit to see them\n"


def test_list_counts_more_within_the_chosen_statuses(
    cli: Cli, api: JobQueue, data_dir: Path
) -> None:
    ids = [api.enqueue("resize").metadata.id for _ in range(4)]
    api.cancel(ids[0])
    done = cli("--data-dir", str(data_dir), "list", "-s", "pending", "--limit", "1", "--json")
    assert listed_ids(done) == [ids[1]]
    assert done.stderr.startswith("2 more jobs not shown")


def test_list_with_a_type_says_more_match_without_counting(
    cli: Cli, api: JobQueue, data_dir: Path
) -> None:
    for job_type in ("resize", "report", "resize", "resize"):
        api.enqueue(job_type)
    done = cli("--data-dir", str(data_dir), "list", "--type", "resize", "--limit", "2", "--json")
    assert len(listed_ids(done)) == 2
    assert done.stderr == "more jobs match; raise --limit to see them\n"


def test_list_defaults_to_100_jobs(cli: Cli, api: JobQueue, data_dir: Path) -> None:
    api.enqueue_many("resize", [{}] * 101)
    done = cli("--data-dir", str(data_dir), "list", "--json")
    assert len(listed_ids(done)) == 100
    assert done.stderr == "1 more job not shown; raise --limit to see them\n"


def test_list_says_nothing_more_when_everything_fits(
    cli: Cli, api: JobQueue, data_dir: Path
) -> None:
    api.enqueue("resize")
    done = cli("--data-dir", str(data_dir), "list", "--limit", "1")
    assert done.exit_code == 0 and "more" not in done.output


# --- bad numbers: one line, exit 2 -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["enqueue", "work", "{}", "--priority", "high"], "--priority"),
        (["enqueue", "work", "--max-retries", "1.5"], "--max-retries"),
        (["list", "--limit", "x"], "--limit"),
        (["list", "--limit", "-1"], "--limit"),
        (["worker", "m:W", "--concurrency", "0"], "--concurrency"),
        (["worker", "m:W", "--processes", "many"], "--processes"),
        (["schedule", "add", "s", "* * * * *", "t", "--max-runs", "0"], "--max-runs"),
        (["schedule", "add", "s", "* * * * *", "t", "--priority", "low"], "--priority"),
        (["watch", SOME_ID, "--interval", "soon"], "--interval"),
        (["events", "--idle-timeout", "never"], "--idle-timeout"),
    ],
)
def test_a_bad_number_is_one_line_and_exit_2(
    cli: Cli, data_dir: Path, args: list[str], option: str
) -> None:
    result = cli("--data-dir", str(data_dir), *args)
    assert_error(result, 2, f"invalid value for '{option}'")
    assert not data_dir.exists()


def test_a_missing_argument_is_one_line_and_exit_2(cli: Cli) -> None:
    assert_error(cli("enqueue"), 2, "missing argument 'TYPE'")


# --- errors ------------------------------------------------------------------------------


def test_user_errors_lets_an_os_error_through() -> None:
    """Every backend failure is a StoreError now: an OSError here is a bug to see."""
    with pytest.raises(OSError), user_errors():
        raise OSError(5, "Input/output error")


@pytest.fixture
def broken_worker(monkeypatch: pytest.MonkeyPatch) -> str:
    """`MODULE:ATTR` of a worker instance whose store fails every claim."""
    backend = MemoryBackend()

    def claim(*args: object, **kwargs: object) -> None:
        raise StoreError("could not claim: the disk went away")

    monkeypatch.setattr(backend.jobs, "claim", claim)
    module = types.ModuleType("broken_store_worker")
    module.worker = Echo(JobQueue(backend), error_backoff=0.01)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return f"{module.__name__}:worker"


def test_a_burst_worker_whose_store_keeps_failing_exits_1(cli: Cli, broken_worker: str) -> None:
    result = cli("worker", broken_worker, "--burst", "--poll-interval", "0.01")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == "error: could not claim: the disk went away"
    assert "Traceback" not in result.output


# --- the supervisor and the worker's store -----------------------------------------------


class FakeSupervisor:
    """Records what `worker --processes` would start."""

    started: ClassVar[list[tuple[list[str], int, dict[str, str]]]] = []

    def __init__(
        self, command: Sequence[str], processes: int, on_child_died: Callable[[], object],
        *, env: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.started.append((list(command), processes, dict(env or {})))

    def run(self) -> int:
        return 0


def test_processes_relaunch_children_with_the_store_url(
    cli: Cli, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobqueue.cli.workers.Supervisor", FakeSupervisor)
    monkeypatch.setattr(FakeSupervisor, "started", [])
    url = f"{data_dir.as_uri()}?durable=false"
    done = cli("worker", "app:W", "--processes", "3", "--burst", env={"JOBQUEUE_STORE": url})
    assert done.exit_code == 0, done.output
    [(command, processes, env)] = FakeSupervisor.started
    assert command[:6] == [sys.executable, "-m", "jobqueue", "--store", url, "worker"]
    assert command[6] == "app:W" and "--burst" in command and processes == 3
    assert "JOBQUEUE_STORE" not in env and "JOBQUEUE_DATA_DIR" not in env
    assert env["PATH"] == os.environ["PATH"]


def test_processes_on_a_process_local_store_are_bad_input(cli: Cli) -> None:
    result = cli("--store", "memory://", "worker", "app:W", "--processes", "2")
    assert_error(result, 2, "--processes 2 needs a store that other processes can open")


def test_a_worker_logs_the_absolute_location_of_its_store(tmp_path: Path) -> None:
    (tmp_path / "idle.py").write_text(
        "from jobqueue import JobWorker\n\nclass Idle(JobWorker):\n    pass\n"
    )
    command = [sys.executable, "-m", "jobqueue", "--data-dir", "rel", "worker", "idle:Idle",
               "--burst"]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "INFO    jobqueue.worker.base: worker Idle@" in done.stderr
    assert f"started on {tmp_path / 'rel'} (concurrency 1)" in done.stderr


# --- signals -----------------------------------------------------------------------------


def test_a_signal_sets_stop_and_lets_the_block_finish() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stop = threading.Event()
    with until_signalled(stop):
        signal.raise_signal(signal.SIGTERM)
        assert stop.wait(5)
        finished = True
    assert finished and signal.getsignal(signal.SIGTERM) is before


def test_a_signal_without_stop_interrupts_the_block() -> None:
    with until_signalled():
        signal.raise_signal(signal.SIGINT)
        pytest.fail("the block went on after SIGINT")


# --- packaging ---------------------------------------------------------------------------


def test_the_license_is_an_spdx_string() -> None:
    """The TOML-table form makes setuptools warn at every install (``pip install -e .``)."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]  # reads that form
