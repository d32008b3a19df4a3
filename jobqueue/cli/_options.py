"""What every command shares: option types, the per-invocation state and error mapping.

Errors become exit codes here and nowhere else, inside each command (not in ``main``),
because ``CliRunner.invoke(app, ...)`` and embedders never go through ``main``.
Durations, times and statuses arrive as plain strings and are parsed in the command
body, so a typo is one ``error: ...`` line with exit 2 rather than a usage dump.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, NoReturn, cast

import typer

from ..durations import parse_duration
from ..errors import InvalidJob, JobQueueError
from ..job import STATUSES, Status
from ..queue import JobQueue

_DURATION_HELP = "45, 0.5, 500ms, 30s, 5m, 2h or 1d"

DataDirOpt = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        envvar="JOBQUEUE_DATA_DIR",
        metavar="PATH",
        help="Queue data directory.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
JobIdArg = Annotated[str, typer.Argument(metavar="ID", help="The job's id.", show_default=False)]
StatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        "-s",
        metavar="STATUS",
        help=f"Only jobs in this status ({', '.join(STATUSES)}); repeat for several.",
        show_default=False,
    ),
]
TypeOpt = Annotated[
    str | None, typer.Option("--type", "-t", metavar="TYPE", help="Only jobs of this type.")
]
DelayOpt = Annotated[
    str | None,
    typer.Option(
        "--delay", metavar="DURATION", help=f"Run no sooner than this from now: {_DURATION_HELP}."
    ),
]
AtOpt = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="ISO8601",
        help="Run no sooner than this time; without an offset it is this machine's local time.",
    ),
]
TimeoutOpt = Annotated[
    str | None,
    typer.Option("--timeout", metavar="DURATION", help=f"Limit each attempt: {_DURATION_HELP}."),
]
OlderThanOpt = Annotated[
    str,
    typer.Option(
        "--older-than",
        metavar="DURATION",
        help=f"Minimum time since the job ended: {_DURATION_HELP}.",
    ),
]
StaleAfterOpt = Annotated[
    str,
    typer.Option(
        "--stale-after",
        metavar="DURATION",
        help=f"Reap a job of another host after this long without a heartbeat: {_DURATION_HELP}.",
    ),
]
IntervalOpt = Annotated[
    float, typer.Option("--interval", hidden=True, min=0.0, help="Seconds between polls.")
]


class CommandFailed(JobQueueError):
    """The request was valid but could not be done (exit 1): a refused operation, such as
    cancelling an ended job, or a watched job that failed or was cancelled."""


@dataclass
class CliState:
    """What the root options decided; every command reaches it through ``ctx.obj``."""

    data_dir: Path

    @cached_property
    def queue(self) -> JobQueue:
        # Built on first use, so `--help` never creates a data directory, and a store
        # that cannot be opened fails inside the command's user_errors() block.
        return JobQueue(self.data_dir)


def queue_of(ctx: typer.Context) -> JobQueue:
    """The queue of this invocation (one fresh JobQueue per process run)."""
    state = ctx.find_object(CliState)
    if state is None:
        raise RuntimeError("jobqueue commands need the root callback (use jobqueue.cli.app)")
    return state.queue


def fail(message: str, code: int) -> NoReturn:
    """Print one plain line on stderr and leave with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Map errors to the documented exit codes: 2 bad input, 1 anything else; no traceback."""
    try:
        yield
    except InvalidJob as e:
        fail(str(e), 2)
    except JobQueueError as e:  # JobNotFound, CommandFailed, StaleJob, StoreError ...
        fail(str(e), 1)
    except OSError as e:  # an I/O error the store did not wrap (e.g. opening the data dir)
        fail(f"{e.strerror or e}: {e.filename or ''}".rstrip(": "), 1)


def duration(text: str | None) -> timedelta | None:
    """Parse an optional duration option (InvalidJob, so exit 2, on a typo)."""
    return None if text is None else parse_duration(text)


def statuses(values: list[str] | None) -> list[Status] | None:
    """Check ``--status`` values: None when none was given (meaning "the default")."""
    if not values:
        return None
    for value in values:
        if value not in STATUSES:
            raise InvalidJob(f"unknown status {value!r}: use one of {', '.join(STATUSES)}")
    return [cast(Status, value) for value in values]
