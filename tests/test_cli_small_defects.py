"""The small CLI defects of issue 13 (section 1, item 7), each pinned by a test that
failed before its fix: help texts, `list --status delayed`, `watch` of a delayed job,
how durations read, the doctor's labels, `stats` on delayed jobs, the demo's printed
commands and the README's second example."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
import typer
from cli_runs import Cli
from typer.testing import CliRunner, Result

from jobqueue import JobQueue, PendingJob, WorkerInfo, transitions
from jobqueue.cli import app
from jobqueue.cli._render import ProgressView, bar_state
from jobqueue.durations import format_duration

ROOT = Path(__file__).resolve().parent.parent
WORKER = WorkerInfo(name="remote-worker", host="elsewhere.example", pid=4242)


def ids(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [doc["metadata"]["id"] for doc in orjson.loads(result.stdout)]


# --- help texts ----------------------------------------------------------------------------


def _command_paths() -> Iterator[tuple[str, ...]]:
    """The root, every command and every command of a group (``schedule add``...)."""

    def walk(group: Any, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        for name in group.commands:
            yield (*prefix, name)
            if hasattr(group.commands[name], "commands"):
                yield from walk(group.commands[name], (*prefix, name))

    yield ()
    yield from walk(typer.main.get_command(app), ())


COMMANDS = sorted(_command_paths())


def help_of(path: tuple[str, ...], width: int = 100) -> str:
    result = CliRunner(env={"COLUMNS": str(width)}).invoke(
        app, [*path, "--help"], terminal_width=width, max_content_width=width
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_command_is_checked() -> None:
    assert {("list",), ("quarantine", "restore"), ("schedule", "add"), ("worker",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_a_flag_is_shown_without_a_type(path: tuple[str, ...]) -> None:
    text = help_of(path)
    assert "<bool>" not in text
    if path == ("list",):
        assert re.search(r"^\s+--json\s+Print JSON", text, re.MULTILINE), text


def _description(text: str) -> list[str]:
    """The help text's prose: after the usage line, up to the first section (click's
    ``Options:``, or a rich panel)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    prose = []
    for line in lines[start:]:
        if line.lstrip().startswith("╭") or re.fullmatch(r"[A-Z][a-z]+( [a-z]+)*:", line.strip()):
            break
        prose.append(line.strip())
    return prose


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_paragraphs_are_not_broken_mid_sentence(path: tuple[str, ...]) -> None:
    """On a terminal wide enough for any paragraph, each one is a single line: a line
    break from the docstring's source must not survive into the output."""
    prose = _description(help_of(path, width=1000))
    paragraphs = "\n".join(prose).strip().split("\n\n")
    assert paragraphs and paragraphs[0], prose
    broken = [p for p in paragraphs if "\n" in p]
    assert broken == []


def test_a_long_help_paragraph_is_rewrapped_to_the_terminal() -> None:
    prose = _description(help_of(("list",), width=60))
    assert max(map(len, prose)) <= 60
    joined = " ".join(line for line in prose if line)
    assert "so that stdout stays one JSON array." in joined


# --- list --status delayed --------------------------------------------------------------------


def test_list_status_delayed_lists_pending_jobs_not_yet_due(cli: Cli, api: JobQueue) -> None:
    api.enqueue("ready")
    later = [api.enqueue("later", delay=timedelta(hours=h)).metadata.id for h in (1, 2)]
    running = api.backend.jobs.claim(WORKER, api.clock.now())
    assert running is not None
    failed = transitions.fail(running, _error(), api.clock.now(), None)
    api.backend.jobs.move(running, failed)
    assert ids(cli("list", "--status", "delayed", "--json")) == later
    both = ids(cli("list", "--status", "delayed", "--status", "failed", "--json"))
    assert both == sorted([*later, failed.metadata.id])
    assert len(ids(cli("list", "--status", "delayed", "--status", "pending", "--json"))) == 2


def test_list_status_delayed_with_a_limit_says_how_many_more(cli: Cli, api: JobQueue) -> None:
    api.enqueue("ready")
    for _ in range(3):
        api.enqueue("later", delay=timedelta(hours=1))
    result = cli("list", "--status", "delayed", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("later") == 1
    assert "2 more jobs not shown" in result.stdout
    assert "delayed" in help_of(("list",))


def test_list_of_an_unknown_status_is_still_bad_input(cli: Cli) -> None:
    result = cli("list", "--status", "later")
    assert result.exit_code == 2 and "unknown status 'later'" in result.stderr


def _error() -> Any:
    from jobqueue import ErrorInfo

    return ErrorInfo(type="ValueError", message="boom", traceback=None)


# --- watch of a delayed job -------------------------------------------------------------------


def test_watch_says_when_a_delayed_job_is_due() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    job = _pending(run_at=now + timedelta(minutes=4, seconds=10))
    state = bar_state(job, now)
    assert (state.stage, state.message) == ("pending", "due in 4m10s (at 2030-01-01 00:04:10Z)")
    assert state.waiting
    ready = bar_state(_pending(run_at=now), now)
    assert ready.message == "due now, waiting for a worker"


def test_the_watch_bar_of_a_delayed_job_shows_no_percentage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    with ProgressView() as view:
        view.update(_pending(run_at=now + timedelta(seconds=250)), now)
    out = capsys.readouterr().out
    assert "pending" in out and "due in 4m10s" in out
    assert "0%" not in out


def _pending(run_at: datetime) -> PendingJob:
    from jobqueue.job import Metadata

    meta = Metadata(id="job-000001", type="report", created=run_at, run_at=run_at)
    return PendingJob(metadata=meta, params={})


# --- durations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (0.00202, "2.02ms"),
        (0.0004, "0.4ms"),
        (0.34, "340ms"),
        (0.9996, "1s"),
        (1.25, "1.25s"),
        (30, "30s"),
        (185, "3m05s"),
        (7800, "2h10m"),
        (3 * 86400 + 4 * 3600 + 59, "3d04h"),
        (-1.5, "-1.5s"),
    ],
)
def test_a_duration_reads_like_a_person_would_say_it(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_no_command_prints_a_duration_as_a_long_decimal(cli: Cli, api: JobQueue) -> None:
    """An attempt of 2.02 ms: the event line and the stats summary say ``2.02ms``."""
    job = api.enqueue("resize", timeout=0.5)
    start = datetime.now(UTC)
    running = api.backend.jobs.claim(WORKER, start)
    assert running is not None
    ended = transitions.complete(running, None, start + timedelta(seconds=0.00202))
    api.backend.jobs.move(running, ended)
    events = cli("events", "--since", "1h", "--idle-timeout", "0.2")
    stats = cli("stats")
    show = cli("show", job.metadata.id)
    for result in (events, stats, show):
        assert result.exit_code == 0, result.output
        assert not re.search(r"\d\.\d{3,}s\b", result.stdout), result.stdout
    assert "after 2.02ms" in events.stdout
    assert "2.02ms / 2.02ms" in stats.stdout
    assert re.search(r"timeout\s+500ms", show.stdout)


# --- doctor -----------------------------------------------------------------------------------


def test_doctor_names_a_quarantined_file_once(cli: Cli, api: JobQueue, data_dir: Path) -> None:
    path = data_dir / "jobs" / ".quarantine" / "pending~job-1.json"
    path.write_bytes(b"{broken")
    path.chmod(0o600)
    result = cli("doctor")
    assert result.exit_code == 1
    [line] = [line for line in result.stdout.splitlines() if "pending~job-1" in line]
    assert line.startswith("quarantined: pending~job-1.json")
    assert line.count("quarantined:") == 1
    assert "jobqueue quarantine show pending~job-1.json" in line


# --- stats ------------------------------------------------------------------------------------


def test_stats_says_that_delayed_jobs_are_part_of_pending(cli: Cli, api: JobQueue) -> None:
    for _ in range(2):
        api.enqueue("ready")
    api.enqueue("later", delay=timedelta(hours=1))
    result = cli("stats")
    assert result.exit_code == 0, result.output
    assert "pending 3 (1 delayed, not yet due)" in result.stdout
    assert re.search(r"^  delayed\s+1$", result.stdout, re.MULTILINE)  # indented under pending
    assert orjson.loads(cli("stats", "--json").stdout)["pending"] == 3


# --- the demo ---------------------------------------------------------------------------------


@pytest.fixture
def demo(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """scripts/demo.py, loaded without running it; its subprocesses are recorded only."""
    spec = importlib.util.spec_from_file_location("demo_under_test", ROOT / "scripts" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ran: list[list[str]] = []
    monkeypatch.setattr(module.subprocess, "run", lambda argv, **kw: ran.append(argv))
    return module


def test_the_demo_prints_commands_that_can_be_pasted(
    demo: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("enqueue", "send_email", '{"to": "team@example.com"}', "--priority", "5")
    demo.jobqueue(*args)
    [line] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("$ ")]
    assert shlex.split(line.removeprefix("$ ")) == ["jobqueue", *args]


# --- the README -------------------------------------------------------------------------------


def test_the_readme_worker_example_runs_on_its_own(tmp_path: Path) -> None:
    """Each example can be pasted alone: the worker's does not lean on the quickstart's
    ``job`` (tests/test_readme.py runs them all as one script)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    [worker_example] = [block for block in blocks if "class ResizeWorker" in block]
    done = subprocess.run([sys.executable, "-c", worker_example], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "complete {'width': 640}" in done.stdout
