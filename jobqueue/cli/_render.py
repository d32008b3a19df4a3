"""How the CLI shows things: JSON for scripts, rich tables and a progress bar for people.

Everything a user typed into a job (params, messages, reasons, errors) is passed to rich
as ``Text``, never as a markup string, so ``[brackets]`` in it print as they are.
A Console is made per call: it must write to the ``sys.stdout`` of the moment (which
``CliRunner`` swaps), and the CLI keeps no module-level state.
"""

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import orjson
import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from ..codec import to_document
from ..job import (
    CancelledJob,
    CompleteJob,
    FailedJob,
    Job,
    PendingJob,
    RunningJob,
    WorkerInfo,
)
from ..job import (
    Progress as JobProgress,
)

_PIPE_WIDTH = 1000

# --- JSON ------------------------------------------------------------------------------


def echo_json(value: Any) -> None:
    """Indented JSON on stdout, the same formatting as the job files."""
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def echo_job_json(job: Job) -> None:
    echo_json(to_document(job))


def echo_jobs_json(jobs: Iterable[Job]) -> None:
    echo_json([to_document(job) for job in jobs])


# --- small formatters --------------------------------------------------------------------


def _console() -> Console:
    """A console for stdout; when that is a pipe or file, lines are never cut at 80."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _PIPE_WIDTH
    return console


def show(renderable: RenderableType) -> None:
    _console().print(renderable)


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:g}s"


def _worker(worker: WorkerInfo) -> str:
    return f"{worker.name} on {worker.host} (pid {worker.pid})"


def _progress(p: JobProgress) -> str:
    parts = [f"{p.percentage:.0f}%", p.stage, p.message]
    return " ".join(part for part in parts if part)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- list and stats ----------------------------------------------------------------------


def _detail(job: Job, now: datetime) -> str:
    """One short line on where the job stands, for the DETAIL column of `list`."""
    match job:
        case PendingJob():
            return f"due {_when(job.metadata.run_at)}" if job.metadata.run_at > now else "ready"
        case RunningJob(progress=JobProgress() as p):
            return _progress(p)
        case RunningJob():
            return f"on {job.worker.name}"
        case FailedJob(error=e):
            return f"{e.type}: {_first_line(e.message)}"
        case CancelledJob(reason=reason):
            return reason or ""
    return ""


def jobs_table(jobs: Sequence[Job], now: datetime) -> Table:
    """One row per job. The id already tells when the job was created; on a narrow
    terminal DETAIL gives way first, and ids are never cut."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column(
        "ID", no_wrap=True, min_width=max((len(j.metadata.id) for j in jobs), default=2)
    )
    table.add_column("STATUS", no_wrap=True, min_width=9)
    table.add_column("TYPE", overflow="fold")
    table.add_column("PRI", justify="right", no_wrap=True)
    table.add_column("RETRIES", justify="right", no_wrap=True)
    table.add_column("DETAIL", overflow="fold")
    for job in jobs:
        m = job.metadata
        retries = f"{m.retry_count}/{m.max_retries}"
        table.add_row(m.id, job.status, m.type, str(m.priority), retries, Text(_detail(job, now)))
    return table


def stats_table(counts: Mapping[str, int]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("STATUS")
    table.add_column("JOBS", justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count), end_section=name == "quarantined")
    return table


# --- show --------------------------------------------------------------------------------


def _status_rows(job: Job) -> list[tuple[str, str]]:
    match job:
        case RunningJob():
            return [
                ("started", _when(job.started_at)),
                ("heartbeat", _when(job.heartbeat_at)),
                ("worker", _worker(job.worker)),
            ]
        case CompleteJob():
            return [("started", _when(job.started_at)), ("completed", _when(job.completed_at))]
        case FailedJob():
            return [("failed", _when(job.failed_at))]
        case CancelledJob():
            return [("cancelled", _when(job.cancelled_at)), ("reason", job.reason or "-")]
    return []


def _summary(job: Job) -> Table:
    m = job.metadata
    rows = [
        ("id", m.id),
        ("type", m.type),
        ("status", job.status),
        ("created", _when(m.created)),
        ("run at", _when(m.run_at)),
        ("priority", str(m.priority)),
        ("retries", f"{m.retry_count} of {m.max_retries}"),
        ("timeout", _seconds(m.timeout)),
        ("unique key", m.unique_key or "-"),
        ("user id", m.user_id or "-"),
        *_status_rows(job),
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, Text(value))
    return grid


def _json_text(value: Any) -> Text:
    return Text(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


def _attempts_table(job: Job) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("#", "STARTED", "ENDED", "WORKER", "OUTCOME"):
        table.add_column(name)
    for n, a in enumerate(job.attempts, 1):
        outcome = "ok" if a.error is None else f"{a.error.type}: {_first_line(a.error.message)}"
        table.add_row(str(n), _when(a.started_at), _when(a.ended_at), a.worker.name, Text(outcome))
    return table


def _sections(job: Job) -> Iterable[tuple[str, RenderableType]]:
    """The parts of `show` beyond the summary, each only when the job has it."""
    yield "params", _json_text(job.params)
    match job:
        case RunningJob(progress=JobProgress() as p):
            yield "progress", Text(_progress(p))
        case CompleteJob():
            yield "result", _json_text(job.result)
        case FailedJob(error=e):
            yield "error", Text(f"{e.type}: {e.message}\n{e.traceback or ''}".rstrip())
    if job.attempts:
        yield "attempts", _attempts_table(job)


def job_view(job: Job) -> Group:
    """Everything about one job, for people (`show` without --json)."""
    parts: list[RenderableType] = [_summary(job)]
    for title, body in _sections(job):
        parts += [Text(""), Text(title, style="bold underline"), body]
    return Group(*parts)


# --- watch -------------------------------------------------------------------------------


def _bar_state(job: Job) -> tuple[float | None, str, str]:
    """(percentage or None to keep the bar where it is, stage label, message) for `watch`."""
    match job:
        case RunningJob(progress=JobProgress() as p):
            return p.percentage, p.stage or "running", p.message or ""
        case RunningJob():
            return 0.0, "running", f"on {job.worker.name}"
        case PendingJob():
            retry = job.metadata.retry_count
            return (
                0.0,
                "pending",
                f"retry {retry}, due {_when(job.metadata.run_at)}" if retry else "",
            )
        case CompleteJob():
            return 100.0, "complete", ""
        case FailedJob(error=e):
            return None, "failed", f"{e.type}: {_first_line(e.message)}"
        case CancelledJob(reason=reason):
            return None, "cancelled", reason or ""
    return None, job.status, ""


class ProgressView:
    """The live bar of `watch`: one task that follows a job's status, stage and message."""

    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[message]}", markup=False),
            console=_console(),
        )
        self._task = self._bar.add_task("", total=100.0, message="")

    def __enter__(self) -> Self:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def update(self, job: Job) -> None:
        percentage, stage, message = _bar_state(job)
        self._bar.update(self._task, description=stage, message=message)
        if percentage is not None:
            self._bar.update(self._task, completed=percentage)
