"""How the monitoring commands show things: event lines, the workers table and the
health and metrics summary of ``stats``. Same rules as ``_render``: user text goes to
rich as ``Text``, and JSON uses the job files' time format."""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from ..codec import format_time
from ..durations import format_duration
from ..event_json import dump_event
from ..events import JobEvent
from ..job import CancelledJob, CompleteJob, FailedJob, PendingJob, RunningJob
from ..metrics import last_attempt_seconds

# --- events ------------------------------------------------------------------------------


def event_json(event: JobEvent) -> str:
    """One line of JSON: event, job_id, job_type, at and the job document."""
    return dump_event(event).decode()


def _event_detail(event: JobEvent) -> str:
    job = event.job
    match job:
        case RunningJob(progress=p) if event.event == "progress" and p is not None:
            return " ".join(str(x) for x in (f"{p.percentage:.0f}%", p.stage, p.message) if x)
        case RunningJob() if event.event == "cancelling":
            return "cancel requested"
        case RunningJob():
            return f"on {job.worker.name}"
        case PendingJob() if event.event == "retrying":
            m = job.metadata
            error = job.attempts[-1].error if job.attempts else None
            why = f": {error.type}: {error.message}" if error else ""
            return f"retry {m.retry_count}/{m.max_retries} due {_clock(m.run_at)}{why}"
        case CompleteJob():
            return f"after {_took(job)}"
        case FailedJob(error=e):
            return f"after {_took(job)}: {e.type}: {e.message}"
        case CancelledJob(reason=reason):
            return reason or ""
    return ""


def _took(job: CompleteJob | FailedJob) -> str:
    seconds = last_attempt_seconds(job)
    return "-" if seconds is None else format_duration(seconds)


def _clock(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def event_line(event: JobEvent) -> str:
    """``<time>  <event>  <id>  <type>  <detail>`` for people (detail on one line)."""
    detail = " ".join(_event_detail(event).split())
    return f"{_clock(event.at)}  {event.event:<10}  {event.job_id}  {event.job_type}  {detail}"


# --- workers -----------------------------------------------------------------------------


def worker_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """A ``queue.workers()`` record with its times as in the job files."""
    return {k: format_time(v) if isinstance(v, datetime) else v for k, v in record.items()}


def _age(at: Any, now: datetime) -> str:
    return f"{format_duration((now - at).total_seconds())} ago" if isinstance(at, datetime) else "-"


def workers_table(records: Sequence[Mapping[str, Any]], now: datetime) -> Table:
    show_state = any("stale" in r for r in records)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("NAME", "HOST", "PID", "STARTED", "HEARTBEAT", "BUSY", "RUNNING"):
        table.add_column(name, overflow="fold")
    if show_state:
        table.add_column("STATE")
    for r in records:
        busy = f"{len(r['running'])}/{r['concurrency']}"
        row: list[str | Text] = [Text(str(r["name"])), Text(str(r["host"])), str(r["pid"]),
               _age(r["started_at"], now), _age(r["heartbeat_at"], now), busy,
               Text(" ".join(r["running"]) or "-")]  # fmt: skip
        table.add_row(*row, *(["stale" if r["stale"] else "live"] if show_state else []))
    return table
