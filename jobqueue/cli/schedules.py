"""Commands on schedules: the ``schedule`` group (add, list, pause, resume, remove) and
the top-level ``scheduler`` that fires them.

Each command parses what the user typed and makes one JobQueue call; the rules (cron,
timezone and name checks, what a tick does) live in ``jobqueue.schedules``.
"""

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from ..codec import loads_value
from ..errors import InvalidJob
from ..schedules import Schedule, Scheduler
from ..schedules.codec import to_document
from ..schedules.cron import zone
from ..schedules.model import CATCH_UP, CatchUp
from . import _render as render
from ._options import JsonOpt, duration, queue_of, user_errors

app = typer.Typer()
group = typer.Typer(
    name="schedule",
    help="Recurring jobs: add, list, pause, resume, remove.",
    no_args_is_help=True,
)
app.add_typer(group)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The schedule's name.")]
LOG_LEVELS = ("debug", "info", "warning", "error")


# --- schedule add ------------------------------------------------------------------------


@group.command("add")
def add(
    ctx: typer.Context,
    name: NameArg,
    cron: Annotated[
        str, typer.Argument(metavar="CRON", help="'0 3 * * *'; a 6th field is seconds.")
    ],
    job_type: Annotated[str, typer.Argument(metavar="TYPE", help="Type of the jobs it enqueues.")],
    params_json: Annotated[
        str | None, typer.Argument(metavar="[PARAMS_JSON]", help="A JSON object or array.")
    ] = None,
    timezone: Annotated[
        str, typer.Option("--timezone", metavar="TZ", help="IANA name; cron times are local there.")
    ] = "UTC",
    max_runs: Annotated[
        int | None, typer.Option("--max-runs", min=1, help="Retire after this many jobs.")
    ] = None,
    end_date: Annotated[
        str | None,
        typer.Option("--end-date", metavar="ISO", help="Retire after this time (default: in TZ)."),
    ] = None,
    no_overlap: Annotated[
        bool, typer.Option("--no-overlap", help="Skip a tick while the last job is not done.")
    ] = False,
    run_on_start: Annotated[
        bool, typer.Option("--run-on-start", help="Also enqueue one job now, at creation.")
    ] = False,
    catch_up: Annotated[
        str, typer.Option("--catch-up", help="After downtime: once (one job) or skip (none).")
    ] = "once",
    priority: Annotated[int, typer.Option("--priority", help="Of each job; lower first.")] = 0,
    max_retries: Annotated[int, typer.Option("--max-retries", min=0, help="Of each job.")] = 3,
    timeout: Annotated[
        str | None, typer.Option("--timeout", metavar="DURATION", help="Of each attempt.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create (or replace) a schedule; prints its next run time."""
    with user_errors():
        schedule = queue_of(ctx).schedule(
            name, cron, job_type, _params(params_json),
            timezone=timezone, max_runs=max_runs, end_date=_end_date(end_date, timezone),
            allow_concurrent=not no_overlap, run_on_start=run_on_start,
            catch_up=_catch_up(catch_up), priority=priority, max_retries=max_retries,
            timeout=duration(timeout),
        )  # fmt: skip
    if as_json:
        render.echo_json(to_document(schedule))
    else:
        typer.echo(f"{schedule.name}: {_state(schedule)}")


def _catch_up(text: str) -> CatchUp:
    if text not in CATCH_UP:
        raise InvalidJob(f"--catch-up must be once or skip, not {text!r}")
    return text


def _params(text: str | None) -> Any:
    if text is None:
        return {}
    params = loads_value(text, "params")
    if not isinstance(params, dict | list):
        raise InvalidJob("params must be a JSON object or array")
    return params


def _end_date(text: str | None, timezone: str) -> datetime | None:
    """``--end-date``: an ISO date or time; without an offset, in the schedule's timezone."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidJob(f"--end-date is not an ISO 8601 date or time: {text!r}") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=zone(timezone))


# --- schedule list, pause, resume, remove --------------------------------------------------


@group.command("list")
def list_schedules(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every schedule with its state, run count, last and next run."""
    with user_errors():
        schedules = queue_of(ctx).get_schedules()
    if as_json:
        render.echo_json([to_document(s) for s in schedules])
    elif schedules:
        render.show(_table(schedules))
    else:
        typer.echo("no schedules")


@group.command("pause")
def pause(ctx: typer.Context, name: NameArg) -> None:
    """Stop firing a schedule until it is resumed."""
    with user_errors():
        schedule = queue_of(ctx).pause(name)
    typer.echo(f"{schedule.name}: {_state(schedule)}")


@group.command("resume")
def resume(ctx: typer.Context, name: NameArg) -> None:
    """Fire a paused schedule again, from its next tick."""
    with user_errors():
        schedule = queue_of(ctx).resume(name)
    typer.echo(f"{schedule.name}: {_state(schedule)}")


@group.command("remove")
def remove(ctx: typer.Context, name: NameArg) -> None:
    """Delete a schedule (jobs it already enqueued stay)."""
    with user_errors():
        queue_of(ctx).unschedule(name)
    typer.echo(f"{name}: removed")


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _state(schedule: Schedule) -> str:
    if schedule.retired:
        return "retired"
    if schedule.paused:
        return "paused"
    return f"next run {_when(schedule.next_run_at)}"


def _table(schedules: list[Schedule]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in ("NAME", "CRON", "TIMEZONE", "TYPE", "RUNS", "LAST RUN", "NEXT RUN"):
        table.add_column(column, no_wrap=column != "TYPE")
    for s in schedules:
        runs = f"{s.run_count}" + ("" if s.max_runs is None else f"/{s.max_runs}")
        shown = _when(s.next_run_at) if s.active else ("retired" if s.retired else "paused")
        table.add_row(s.name, Text(s.cron), s.timezone, s.type, runs, _when(s.last_run_at), shown)
    return table


# --- scheduler -----------------------------------------------------------------------------


@app.command()
def scheduler(
    ctx: typer.Context,
    log_level: Annotated[str, typer.Option("--log-level", help=", ".join(LOG_LEVELS))] = "info",
) -> None:
    """Fire schedules (no worker) until SIGTERM/SIGINT, then exit 0.

    Any number may run on one data directory: each tick still enqueues exactly one job.
    """
    with user_errors():
        if log_level.lower() not in LOG_LEVELS:
            raise InvalidJob(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
        )
        loop = Scheduler(queue_of(ctx))
    stop = threading.Event()
    with _stop_on_signals(stop):
        loop.run(stop)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop``: the loop ends after the tick in progress."""
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.getsignal(s) for s in signals}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    for s in signals:
        signal.signal(s, on_signal)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
