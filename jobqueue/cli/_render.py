"""How the CLI shows things: JSON for scripts, rich tables and a progress bar for people.

Everything a user typed into a job (params, messages, reasons, errors) is passed to rich
as ``Text``, never as a markup string, so ``[brackets]`` in it print as they are.
A Console is made per call: it must write to the ``sys.stdout`` of the moment (which
``CliRunner`` swaps), and the CLI keeps no module-level state.
"""

import math
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import orjson
import typer
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..codec import to_document
from ..durations import format_duration
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
from ._render_stats import seconds

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


def _worker(worker: WorkerInfo) -> str:
    return f"{worker.name} on {worker.host} (pid {worker.pid})"


def _progress(p: JobProgress) -> str:
    parts = [f"{p.percentage:.0f}%", p.stage, p.message]
    return " ".join(part for part in parts if part)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def shell_word(text: str) -> str:
    """``text`` as one word of a shell command a person can paste: quoted only when it
    must be (``shlex.quote`` also quotes the ``~`` inside quarantine names)."""
    if re.fullmatch(r"[\w@%+=:,./~-]+", text, re.ASCII) and not text.startswith("~"):
        return text
    return shlex.quote(text)


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
        ("timeout", seconds(m.timeout)),
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


@dataclass(frozen=True, slots=True)
class BarState:
    """What `watch` shows of a job at one instant."""

    stage: str
    message: str
    #: None keeps the bar where it was (a job that ended without finishing).
    percentage: float | None = None
    #: A pending job has no progress to show, only when it is due: an empty bar, no
    #: percentage.
    waiting: bool = False


def bar_state(job: Job, now: datetime) -> BarState:
    """The stage label, message and bar of `watch` for ``job`` as of ``now``."""
    match job:
        case RunningJob(progress=JobProgress() as p):
            return BarState(p.stage or "running", p.message or "", p.percentage)
        case RunningJob():
            return BarState("running", f"on {job.worker.name}", 0.0)
        case PendingJob():
            return BarState("pending", _waiting(job, now), 0.0, waiting=True)
        case CompleteJob():
            return BarState("complete", "", 100.0)
        case FailedJob(error=e):
            return BarState("failed", f"{e.type}: {_first_line(e.message)}")
        case CancelledJob(reason=reason):
            return BarState("cancelled", reason or "")
    return BarState(job.status, "")


def _waiting(job: PendingJob, now: datetime) -> str:
    """``due in 4m 10s (at ...)``, or that it waits for a worker; and which retry it is."""
    m = job.metadata
    retry = f"retry {m.retry_count}, " if m.retry_count else ""
    if m.run_at <= now:
        return f"{retry}due now, waiting for a worker"
    wait = math.ceil((m.run_at - now).total_seconds())  # a countdown in whole seconds
    return f"{retry}due in {format_duration(wait)} (at {_when(m.run_at)})"


class ProgressView:
    """The live bar of `watch`: one task that follows a job's status, stage and message.
    The percentage is a column of its own, empty while the job waits (rich's would show
    ``0%`` for a job that has not started)."""

    def __init__(self) -> None:
        # Imported here: rich.progress (live display, spinners) is ~5 ms that ``stats``,
        # ``list`` and ``show`` would pay for ``watch``.
        from rich.progress import BarColumn, Progress, TextColumn

        self._bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            TextColumn("{task.fields[percent]}", markup=False),
            TextColumn("{task.fields[message]}", markup=False),
            console=_console(),
        )
        self._task = self._bar.add_task("", total=100.0, message="", percent="")
        self._completed = 0.0

    def __enter__(self) -> Self:
        self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.stop()

    def update(self, job: Job, now: datetime) -> None:
        state = bar_state(job, now)
        if state.percentage is not None:
            self._completed = state.percentage
        percent = "" if state.waiting else f"{self._completed:>3.0f}%"
        self._bar.update(self._task, completed=self._completed, description=state.stage,
                         message=state.message, percent=percent)  # fmt: skip
