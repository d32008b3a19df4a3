"""What every command shares: option types, the per-invocation state and error mapping.

Errors become exit codes here and nowhere else, inside each command (not in ``main``),
because ``CliRunner.invoke(app, ...)`` and embedders never go through ``main``.
Durations, times and statuses arrive as plain strings and are parsed in the command
body, so a typo is one ``error: ...`` line with exit 2 rather than a usage dump; a
number typer could not parse is answered the same way by ``OneLineErrors``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer
from typer.core import TyperGroup

from ..durations import parse_duration
from ..errors import InvalidJob, JobQueueError
from ..job import STATUSES, Status

if TYPE_CHECKING:
    from ..queue import JobQueue  # imported when a command opens its queue: see CliState

_DURATION_HELP = "45, 0.5, 500ms, 30s, 5m, 2h or 1d"

#: The environment variables that name the store (a supervisor's children get neither:
#: they are told the store with ``--store``).
STORE_ENV, DATA_DIR_ENV = "JOBQUEUE_STORE", "JOBQUEUE_DATA_DIR"

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar=STORE_ENV,
        metavar="URL",
        help="The store: a path, file:///PATH[?durable=false], memory:// or postgresql://...",
        show_default=False,
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar=DATA_DIR_ENV,
        metavar="PATH",
        help="The data directory of a file store (default ./data); or give --store.",
        show_default=False,
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
    """What the root options decided; every command reaches it through ``ctx.obj``.
    ``given``: the store was named (``--store``, ``--data-dir`` or their variables),
    rather than the default ``./data``."""

    store: str | Path
    given: bool = True
    _queue: JobQueue | None = field(default=None, init=False, repr=False)

    def queue(self, *, create: bool) -> JobQueue:
        """Opened on first use, so `--help` opens nothing, and a store that cannot be
        opened fails inside the command's user_errors() block. (JobQueue is imported
        here, not at the top: ``import jobqueue.cli`` stays cheap.)"""
        if self._queue is None:
            from ..queue import JobQueue

            self._queue = JobQueue(self.store, create=create)
        return self._queue


def store_target(ctx: typer.Context, store: str | None, data_dir: Path | None) -> str | Path:
    """The store the root options name: ``--store``, else ``--data-dir``, else ``./data``.
    Both named (on the command line or in the environment) is bad input: which one was
    meant cannot be guessed, and the message says where each came from."""
    if store is not None and data_dir is not None:
        given = f"{_origin(ctx, 'store', STORE_ENV)} and {_origin(ctx, 'data_dir', DATA_DIR_ENV)}"
        fail(f"give --store or --data-dir, not both (got {given})", 2)
    return store if store is not None else data_dir or Path("data")


def _origin(ctx: typer.Context, name: str, envvar: str) -> str:
    source = ctx.get_parameter_source(name)
    from_env = source is not None and source.name == "ENVIRONMENT"
    return envvar if from_env else "--" + name.replace("_", "-")


def queue_of(ctx: typer.Context, *, create: bool = True) -> JobQueue:
    """The queue of this invocation (one fresh JobQueue per process run). A command that
    only reads passes ``create=False``: it creates and repairs nothing, and on a store
    that is not there it fails with NoQueue (exit 1) instead of showing an empty queue."""
    state = ctx.find_object(CliState)
    if state is None:
        raise RuntimeError("jobqueue commands need the root callback (use jobqueue.cli.app)")
    return state.queue(create=create)


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
    except JobQueueError as e:  # JobNotFound, CommandFailed, StaleJob, StoreError, NoQueue ...
        fail(str(e), 1)


class OneLineErrors(TyperGroup):
    """The root command group. Typer draws a five-line box around a value it could not
    convert (``--priority high``, ``--concurrency 0``, a missing argument); the CLI
    promises one plain ``error:`` line and exit 2 for bad input, so every subcommand's
    parameters, which are parsed inside this ``invoke``, get that here."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.BadParameter as e:
            message = e.format_message()
            fail(message[:1].lower() + message[1:], 2)


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
