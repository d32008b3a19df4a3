"""Commands on schedules: the ``schedule`` group (add, list, pause, resume, remove) and
the top-level ``scheduler`` that fires them.

Each command parses what the user typed and makes one JobQueue call; the rules (cron,
timezone and name checks, what a tick does) live in ``jobqueue.schedules``.
"""

import threading
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from ..errors import InvalidJob
from ..schedules.codec import to_document
from ..schedules.cron import zone
from ..schedules.model import CATCH_UP, CatchUp, Schedule
from . import _render as render
from ._common import (
    LogLevelOpt,
    configure_logging,
    parse_params,
    until_signalled,
    warn_if_process_local,
)
from ._options import JsonOpt, duration, queue_of, user_errors

app = typer.Typer()
group = typer.Typer(
    name="schedule",
    help="Recurring jobs: add, list, pause, resume, remove.",
    no_args_is_help=True,
)
app.add_typer(group)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The schedule's name.")]


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
            name, cron, job_type, parse_params(params_json),
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
        schedules = queue_of(ctx, create=False).get_schedules()
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
def scheduler(ctx: typer.Context, log_level: LogLevelOpt = "info") -> None:
    """Fire schedules (no worker) until SIGTERM/SIGINT, then exit 0.

    Any number may run on one store: each tick still enqueues exactly one job.
    """
    stop = threading.Event()
    with user_errors():
        configure_logging(log_level)
        queue = queue_of(ctx)
        warn_if_process_local(queue)
        loop = queue.scheduler()
        with until_signalled(stop):  # the loop ends after the tick in progress
            loop.run(stop)
