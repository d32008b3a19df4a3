"""The CLI as operators use it (issue 13): bulk ``retry`` and ``cancel``, a worker
instance that keeps its own settings and store, and a worker that crashes at import,
alone and under ``--processes`` (real subprocesses, each bounded in time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from itertools import count, pairwise
from pathlib import Path

import pytest
from cli_runs import Cli
from typer.testing import CliRunner, Result

from jobqueue import (
    CancelledJob,
    ErrorInfo,
    JobNotFound,
    JobQueue,
    RunningJob,
    StaleJob,
    WorkerInfo,
    transitions,
)
from jobqueue.bulk import Refused, Selection, apply_all
from jobqueue.cli import app
from jobqueue.worker.supervisor import RestartPolicy, Supervisor

WORKER = WorkerInfo(name="remote-worker", host="elsewhere.example", pid=4242)


def lines(result: Result) -> list[str]:
    return result.stdout.splitlines()


def one_error_line(stderr: str) -> str:
    found = stderr.splitlines()
    assert len(found) == 1 and found[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return found[0]


# --- arranging jobs ----------------------------------------------------------------------


def started(api: JobQueue, job_type: str) -> RunningJob:
    """A new job, claimed at once (the lowest priority puts it ahead of any other)."""
    job_id = api.enqueue(job_type, {}, priority=-1000).metadata.id
    running = api.backend.jobs.claim(WORKER, datetime.now(UTC))
    assert running is not None and running.metadata.id == job_id
    return running


def ended(api: JobQueue, job_type: str, end: str) -> str:
    """A job of ``job_type`` taken to ``end``: failed, cancelled or complete."""
    running, now = started(api, job_type), datetime.now(UTC)
    match end:
        case "failed":
            error = ErrorInfo(type="ValueError", message="boom", traceback="")
            new = transitions.fail(running, error, now, None)
        case "cancelled":
            new = transitions.cancel_running(running, "stop", now)
        case _:
            new = transitions.complete(running, None, now)
    api.backend.jobs.move(running, new)
    return running.metadata.id


def statuses(api: JobQueue, ids: list[str]) -> list[str]:
    return [getattr(api.get_job(i), "status", "gone") for i in ids]


# --- bulk retry --------------------------------------------------------------------------


def test_retry_by_status_requeues_every_failed_job(cli: Cli, api: JobQueue) -> None:
    failed = [ended(api, "resize", "failed") for _ in range(3)]
    others = [ended(api, "resize", "cancelled"), api.enqueue("resize").metadata.id]
    result = cli("retry", "--status", "failed")
    assert result.exit_code == 0, result.output
    assert lines(result) == ["retried 3 jobs"]
    assert statuses(api, failed) == ["pending"] * 3
    assert statuses(api, others) == ["cancelled", "pending"]
    assert all(api.get_job(i).metadata.retry_count == 0 for i in failed)  # type: ignore[union-attr]


def test_retry_by_status_and_type(cli: Cli, api: JobQueue) -> None:
    mine = ended(api, "resize", "failed")
    theirs = ended(api, "email", "failed")
    cancelled = ended(api, "resize", "cancelled")
    result = cli("retry", "--status", "failed", "--status", "cancelled", "--type", "resize")
    assert lines(result) == ["retried 2 jobs"] and result.exit_code == 0
    assert statuses(api, [mine, theirs, cancelled]) == ["pending", "failed", "pending"]


def test_a_dry_run_counts_shows_a_few_ids_and_changes_nothing(cli: Cli, api: JobQueue) -> None:
    failed = [ended(api, "resize", "failed") for _ in range(7)]
    result = cli("retry", "--status", "failed", "--dry-run")
    assert result.exit_code == 0, result.output
    assert lines(result) == [f"would retry 7 jobs: {', '.join(failed[:5])} and 2 more"]
    assert statuses(api, failed) == ["failed"] * 7


def test_a_dry_run_of_ids_says_which_would_be_refused(cli: Cli, api: JobQueue) -> None:
    failed, pending = ended(api, "resize", "failed"), api.enqueue("resize").metadata.id
    result = cli("retry", failed, pending, "--dry-run")
    assert lines(result) == [f"would retry 1 job: {failed}", f"would refuse 1: {pending} (pending)"]
    assert statuses(api, [failed, pending]) == ["failed", "pending"]


def test_retry_of_several_ids_reports_each_refusal_and_exits_1(cli: Cli, api: JobQueue) -> None:
    failed, pending = ended(api, "resize", "failed"), api.enqueue("resize").metadata.id
    missing = "20300101T000000000000Z-00000000"
    result = cli("retry", failed, pending, missing)
    assert result.exit_code == 1, result.output
    assert lines(result) == [
        f"skipped {pending}: is pending",
        f"error {missing}: no such job",
        "retried 1 job; skipped 1; 1 error",
    ]
    assert statuses(api, [failed, pending]) == ["pending", "pending"]


def test_a_filter_walks_every_page(
    cli: Cli, api: JobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobqueue.bulk.PAGE", 2)
    failed = [ended(api, "resize", "failed") for _ in range(5)]
    assert lines(cli("retry", "--status", "failed")) == ["retried 5 jobs"]
    assert statuses(api, failed) == ["pending"] * 5


# --- bulk cancel -------------------------------------------------------------------------


def test_cancel_by_status_cancels_pending_and_asks_running(cli: Cli, api: JobQueue) -> None:
    pending = [api.enqueue("resize").metadata.id for _ in range(2)]
    running = started(api, "resize").metadata.id
    done = ended(api, "resize", "complete")
    result = cli("cancel", "--status", "pending", "--status", "running", "--reason", "maint")
    assert result.exit_code == 0, result.output
    assert lines(result) == ["cancelled 2 jobs; asked the workers of 1 job to stop"]
    assert statuses(api, [*pending, running, done]) == [
        "cancelled", "cancelled", "running", "complete",
    ]  # fmt: skip
    job = api.get_job(pending[0])
    assert isinstance(job, CancelledJob) and job.reason == "maint"
    assert api.backend.cancels.get(running) is not None


def test_cancel_of_ids_skips_an_ended_job_and_exits_1(cli: Cli, api: JobQueue) -> None:
    pending, done = api.enqueue("resize").metadata.id, ended(api, "resize", "complete")
    result = cli("cancel", pending, done)
    assert result.exit_code == 1, result.output
    assert lines(result) == [
        f"skipped {done}: already ended (complete)",
        "cancelled 1 job; skipped 1",
    ]


def test_cancel_by_status_and_type_with_nothing_to_do(cli: Cli, api: JobQueue) -> None:
    api.enqueue("email")
    result = cli("cancel", "--status", "pending", "--type", "resize")
    assert result.exit_code == 0 and lines(result) == ["no job to cancel"]


def test_one_id_keeps_the_plain_answer(cli: Cli, api: JobQueue) -> None:
    job_id = api.enqueue("resize").metadata.id
    assert lines(cli("cancel", job_id)) == [f"cancelled {job_id}"]
    assert lines(cli("retry", job_id)) == [f"requeued {job_id}"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["retry"], "give job ids, or --status failed|cancelled"),
        (["cancel"], "give job ids, or --status pending|running"),
        (["retry", "20300101T000000000000Z-00000000", "--status", "failed"], "not both"),
        (["retry", "--status", "pending"], "--status must be failed|cancelled here"),
        (["cancel", "--status", "failed"], "--status must be pending|running here"),
        (["cancel", "20300101T000000000000Z-00000000", "--type", "t"], "--type narrows --status"),
        (["retry", "a/b", "c"], "job id"),
        (["cancel", "--status", "pending", "--type", "../x"], "type"),
    ],
)
def test_bad_selections_are_bad_input(cli: Cli, args: list[str], fragment: str) -> None:
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert fragment in one_error_line(result.stderr)


def test_a_job_that_changed_meanwhile_is_skipped(api: JobQueue) -> None:
    """What each job's change raised decides its line: a lost race (StaleJob) or a state
    the change does not apply to is skipped; a job a filter found and that is gone by
    its turn was cleaned up meanwhile, skipped too; an id given that does not exist is
    an error."""
    ids = [ended(api, "resize", "failed") for _ in range(3)]
    raised = iter([StaleJob(ids[0], "failed"), Refused("is pending"), JobNotFound(ids[2])])

    def change(job_id: str) -> str:
        raise next(raised)

    report = apply_all(api, Selection(statuses=("failed",)), change)
    assert report.skipped == [
        f"{ids[0]}: job {ids[0]!r} is no longer failed: another process changed it",
        f"{ids[1]}: is pending",
        f"{ids[2]}: no such job",
    ]
    assert report.errors == [] and not report.all_done
    raised = iter([JobNotFound(ids[2])])
    report = apply_all(api, Selection(ids=(ids[2],)), change)
    assert report.errors == [f"{ids[2]}: no such job"]


# --- a worker instance keeps its settings and its store ----------------------------------

_names = count()

RECORDER = """
import json
from jobqueue import JobQueue, JobWorker

class Recorder(JobWorker):
    def run(self, burst=False, *, handle_signals=True):
        settings = {{"concurrency": self.concurrency, "isolation": self.isolation,
                     "poll_interval": self.poll_interval, "store": self.queue.location,
                     "with_scheduler": self.with_scheduler, "burst": burst}}
        with open({out!r}, "w") as f:
            json.dump(settings, f)

queue = JobQueue({store!r}, durable=False)
worker = Recorder(queue, concurrency=4, isolation="process", poll_interval=0.2)
"""


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path, Path]:
    """A real module file: (its name, where its instance's store is, its record file).
    The test runs in tmp_path, which the loader puts on sys.path, as for `python -m`."""
    name = f"recorder_{next(_names)}_{os.getpid()}"
    store, out = tmp_path / "store", tmp_path / "settings.json"
    (tmp_path / f"{name}.py").write_text(RECORDER.format(out=str(out), store=str(store)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOBQUEUE_DATA_DIR", raising=False)
    monkeypatch.delenv("JOBQUEUE_STORE", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader adds "" to it
    return name, store, out


def run_recorder(
    recorder: tuple[str, Path, Path],
    *options: str,
    root: tuple[str, ...] = (),
    spec: str = "worker",
) -> Result:
    """`jobqueue ROOT... worker MODULE:SPEC --burst OPTIONS...`"""
    name = recorder[0]
    return CliRunner().invoke(app, [*root, "worker", f"{name}:{spec}", "--burst", *options])


def recorded(recorder: tuple[str, Path, Path]) -> dict[str, object]:
    data: dict[str, object] = json.loads(recorder[2].read_text())
    return data


def test_an_instance_keeps_the_settings_it_was_built_with(recorder: tuple[str, Path, Path]) -> None:
    result = run_recorder(recorder)
    assert result.exit_code == 0, result.output
    assert recorded(recorder) == {
        "concurrency": 4, "isolation": "process", "poll_interval": 0.2,
        "store": str(recorder[1]), "with_scheduler": False, "burst": True,
    }  # fmt: skip


def test_only_the_options_given_override_an_instance(recorder: tuple[str, Path, Path]) -> None:
    result = run_recorder(recorder, "--concurrency", "2", "--with-scheduler")
    assert result.exit_code == 0, result.output
    settings = recorded(recorder)
    assert (settings["concurrency"], settings["isolation"], settings["poll_interval"]) == (
        2, "process", 0.2,
    )  # fmt: skip
    assert settings["with_scheduler"] is True


def test_the_instance_s_own_store_may_be_named(recorder: tuple[str, Path, Path]) -> None:
    _, store, _ = recorder
    assert run_recorder(recorder, root=("--data-dir", "store")).exit_code == 0
    url = f"{store.as_uri()}?durable=false"
    assert run_recorder(recorder, root=("--store", url)).exit_code == 0
    assert recorded(recorder)["store"] == str(store)


def test_another_store_for_an_instance_is_bad_input(
    recorder: tuple[str, Path, Path], tmp_path: Path
) -> None:
    name, store, out = recorder
    result = run_recorder(recorder, root=("--data-dir", "elsewhere"))
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert str(store) in line and str(tmp_path / "elsewhere") in line
    assert not out.exists()  # it never ran
    env_given = CliRunner(env={"JOBQUEUE_DATA_DIR": "elsewhere"}).invoke(
        app, ["worker", f"{name}:worker", "--burst"]
    )
    assert env_given.exit_code == 2 and "elsewhere" in env_given.stderr


def test_a_class_is_built_on_the_cli_store_with_the_defaults(
    recorder: tuple[str, Path, Path], tmp_path: Path
) -> None:
    result = run_recorder(
        recorder, "--poll-interval", "250ms", root=("--data-dir", "cli-store"), spec="Recorder"
    )
    assert result.exit_code == 0, result.output
    settings = recorded(recorder)
    assert settings["store"] == str(tmp_path / "cli-store")
    assert (settings["concurrency"], settings["isolation"], settings["poll_interval"]) == (
        1, "thread", 0.25,
    )  # fmt: skip


# --- a module that crashes at import -----------------------------------------------------


def jobqueue(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`python -m jobqueue --data-dir CWD/data ARGS...` in ``cwd``, bounded in time."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JOBQUEUE_")}
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(cwd / "data"), *args]
    return subprocess.run(
        command, cwd=cwd, env={**environ, **(env or {})}, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def test_a_module_that_raises_at_import_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "divides.py").write_text("x = 1\ny = x / 0\n")
    done = jobqueue("worker", "divides:W", "--burst", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert one_error_line(done.stderr) == (
        "error: cannot import 'divides': ZeroDivisionError: division by zero (divides.py:2)"
    )


def test_the_line_names_the_user_s_code_not_the_library_s(tmp_path: Path) -> None:
    (tmp_path / "settings.py").write_text("import os\n\nDSN = os.environ['NO_SUCH_VARIABLE']\n")
    done = jobqueue("worker", "settings:W", cwd=tmp_path)
    line = one_error_line(done.stderr)
    assert line.endswith("KeyError: 'NO_SUCH_VARIABLE' (settings.py:3)"), line


def test_the_traceback_is_there_at_debug_level(tmp_path: Path) -> None:
    (tmp_path / "divides.py").write_text("x = 1\ny = x / 0\n")
    done = jobqueue("worker", "divides:W", "--log-level", "debug", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert 'divides.py", line 2' in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("error: cannot import 'divides'")


def test_a_worker_whose_constructor_raises_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "picky.py").write_text(
        "from jobqueue import JobWorker\n\n"
        "class Picky(JobWorker):\n"
        "    def __init__(self, queue, **options):\n"
        "        raise RuntimeError('no GPU here')\n"
    )
    done = jobqueue("worker", "picky:Picky", "--burst", cwd=tmp_path)
    assert done.returncode == 1
    assert one_error_line(done.stderr) == (
        "error: cannot start Picky: RuntimeError: no GPU here (picky.py:5)"
    )


def test_the_supervisor_backs_off_and_gives_up(tmp_path: Path) -> None:
    """Two children that die at import: restarted with growing delays, then the
    supervisor gives up with exit 1 instead of restarting them forever."""
    (tmp_path / "divides.py").write_text("y = 1 / 0\n")
    began = time.monotonic()
    done = jobqueue(
        "worker", "divides:W", "--processes", "2",
        cwd=tmp_path, env={"JOBQUEUE_RESTART_BACKOFF": "0.01"}, timeout=90,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    assert time.monotonic() - began < 60
    log = done.stderr.splitlines()
    imports = [line for line in log if line.startswith("error: cannot import 'divides'")]
    assert 5 <= len(imports) <= 2 * RestartPolicy().give_up_after  # once per start, no more
    assert "Traceback" not in done.stderr
    assert any("restarting it in 0.02s" in line for line in log)  # the delay doubles
    assert "keep dying at start (5 in a row" in log[-1] and "giving up" in log[-1]


def test_a_supervisor_restarts_with_backoff_then_gives_up() -> None:
    deaths: list[float] = []
    command = [sys.executable, "-c", "import sys; sys.exit(3)"]
    policy = RestartPolicy(base=0.05, cap=0.1, give_up_after=4)
    supervisor = Supervisor(command, 1, on_child_died=lambda: deaths.append(time.monotonic()),
                            restart=policy)  # fmt: skip
    assert supervisor.run() == 1
    assert len(deaths) == 4
    gaps = [b - a for a, b in pairwise(deaths)]
    assert all(gap >= delay for gap, delay in zip(gaps, (0.05, 0.1, 0.1), strict=True)), gaps


@pytest.mark.parametrize(
    ("deaths", "delay"), [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (20, 30.0)]
)
def test_the_restart_delay_doubles_up_to_its_cap(deaths: int, delay: float) -> None:
    assert RestartPolicy().delay(deaths) == delay


@pytest.mark.parametrize(
    ("value", "base"), [(None, 1.0), ("0.01", 0.01), ("soon", 1.0), ("-1", 0.0)]
)
def test_the_restart_backoff_from_the_environment(value: str | None, base: float) -> None:
    environ = {} if value is None else {"JOBQUEUE_RESTART_BACKOFF": value}
    assert RestartPolicy.from_environment(environ).base == base


def test_children_of_an_instance_get_only_the_options_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without --store/--data-dir, the children are told no store (an instance keeps
    its own; a class gets the default, as here); only options typed are passed on."""
    started: list[list[str]] = []

    class Fake:
        def __init__(self, command: list[str], processes: int, **kwargs: object) -> None:
            started.append(list(command))

        def run(self) -> int:
            return 0

    monkeypatch.setattr("jobqueue.cli.workers.Supervisor", Fake)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JOBQUEUE_DATA_DIR", raising=False)
    monkeypatch.delenv("JOBQUEUE_STORE", raising=False)
    result = CliRunner().invoke(app, ["worker", "app:w", "--processes", "2", "-c", "3"])
    assert result.exit_code == 0, result.output
    [command] = started
    assert command[1:] == [
        "-m", "jobqueue", "worker", "app:w", "--concurrency", "3", "--log-level", "info",
    ]  # fmt: skip
    assert not (tmp_path / "data").exists()
