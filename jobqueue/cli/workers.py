"""Commands about workers. Registered on the root app without a group name, so they
are top-level commands (``jobqueue worker``, ``jobqueue reap``)."""

import contextlib
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote, urlsplit

import typer

from ..durations import parse_duration
from ..errors import InvalidOption
from ..worker.base import JobWorker
from ..worker.loader import build_worker, configure, find_worker
from ..worker.supervisor import Supervisor
from ..worker.upkeep import KEEP_ALL, Retention, check_retention
from ._common import LogLevelOpt, configure_logging, lazy_module, warn_if_process_local
from ._options import (
    DATA_DIR_ENV,
    STORE_ENV,
    CliState,
    StaleAfterOpt,
    queue_of,
    user_errors,
)
from ._render_stats import plural

if TYPE_CHECKING:
    from . import _render as render
else:  # rich: only for what prints a table
    render = lazy_module("jobqueue.cli._render")

app = typer.Typer()


@app.command()
def reap(ctx: typer.Context, stale_after: StaleAfterOpt = "30s") -> None:
    """Return the running jobs of dead workers to pending (failed when no retry is left).

    A job whose worker ran on this host is reaped as soon as that process is gone; a job
    of another host once its heartbeat is older than --stale-after.
    """
    with user_errors():
        reaped = queue_of(ctx).reap(stale_after=parse_duration(stale_after))
    for job in reaped:
        typer.echo(f"{job.metadata.id} ({job.metadata.type}) -> {job.status}")
    typer.echo(f"reaped {plural(len(reaped), 'job')}")


_KEPT = "a worker instance keeps its own"
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        "-c",
        metavar="N",
        min=1,
        help=f"Jobs at once (default 1; {_KEPT}).",
        show_default=False,
    ),
]
ProcessesOpt = Annotated[
    int,
    typer.Option(
        "--processes", "-p", metavar="N", min=1, help="Worker processes, under a supervisor."
    ),
]
IsolationOpt = Annotated[
    str | None,
    typer.Option(
        "--isolation",
        metavar="thread|process",
        help=f"process: each job in a child that a timeout can kill (default thread; {_KEPT}).",
        show_default=False,
    ),
]
BurstOpt = Annotated[bool, typer.Option("--burst", help="Return once no due job is left.")]
PollOpt = Annotated[
    str | None,
    typer.Option(
        "--poll-interval",
        metavar="DURATION",
        help=f"Fallback poll interval (default 1s; {_KEPT}).",
        show_default=False,
    ),
]
SchedulerOpt = Annotated[
    bool | None,
    typer.Option(
        "--with-scheduler", help="Also run cron schedules in this worker.", show_default=False
    ),
]
RetentionOpt = Annotated[
    str | None,
    typer.Option(
        "--retention",
        metavar="STATUS=AGE,...",
        help="Delete ended jobs older than this, e.g. complete=1d,failed=30d (every minute); "
        "none: keep them all.",
    ),
]


@dataclass(frozen=True)
class WorkerOptions:
    """The worker settings given on the command line, as typed (None: not given). Only
    these override a worker instance's own; a class gets its defaults for the rest."""

    concurrency: int | None = None
    isolation: str | None = None
    poll_interval: str | None = None
    with_scheduler: bool | None = None
    retention: str | None = None

    def overrides(self) -> dict[str, Any]:
        """The given settings as worker keywords, checked (bad input raises InvalidOption
        here, before a supervisor starts children that would each fail on it)."""
        if self.isolation not in (None, "thread", "process"):
            raise InvalidOption(f"--isolation must be thread or process, not {self.isolation!r}")
        given: dict[str, Any] = {
            "concurrency": self.concurrency,
            "isolation": self.isolation,
            "poll_interval": _seconds(self.poll_interval),
            "with_scheduler": self.with_scheduler,
            "retention": None if self.retention is None else parse_retention(self.retention),
        }
        return {name: value for name, value in given.items() if value is not None}

    def argv(self) -> list[str]:
        """The same options for a supervised child: only those given."""
        flags = {
            "--concurrency": self.concurrency,
            "--isolation": self.isolation,
            "--poll-interval": self.poll_interval,
            "--retention": self.retention,
        }
        argv = [part for flag, v in flags.items() if v is not None for part in (flag, str(v))]
        return argv + (["--with-scheduler"] if self.with_scheduler else [])


def _seconds(duration: str | None) -> float | None:
    return None if duration is None else parse_duration(duration).total_seconds()


def parse_retention(text: str) -> Retention:
    """``complete=1d,failed=30d`` -> {"complete": 1 day, "failed": 30 days}, the other
    statuses keeping the worker's defaults; ``none`` -> ``KEEP_ALL`` (nothing is ever
    deleted). Checked here, before a supervisor starts children that would each fail on
    it (and be restarted)."""
    if text.strip().lower() == "none":
        return KEEP_ALL
    retention: dict[str, timedelta] = {}
    for part in text.split(","):
        status, sep, age = part.strip().partition("=")
        if not sep or not status or not age:
            raise InvalidOption(f"--retention takes STATUS=AGE pairs, e.g. complete=1d: {part!r}")
        retention[status.strip()] = parse_duration(age.strip())
    check_retention(retention)  # a status that does not end
    return retention


@app.command()
def worker(
    ctx: typer.Context,
    spec: Annotated[
        str, typer.Argument(metavar="MODULE:ATTR", help="A JobWorker class or instance.")
    ],
    concurrency: ConcurrencyOpt = None,
    processes: ProcessesOpt = 1,
    isolation: IsolationOpt = None,
    burst: BurstOpt = False,
    poll_interval: PollOpt = None,
    log_level: LogLevelOpt = "info",
    with_scheduler: SchedulerOpt = None,
    retention: RetentionOpt = None,
) -> None:
    """Run a worker until SIGTERM/SIGINT (exit 0), or with --burst until no job is due.

    MODULE:ATTR names a JobWorker subclass, built on this command's store, or an
    instance, which keeps its own store and settings: only the options given here
    override them. A store that keeps failing ends a --burst run with exit 1 (a
    long-running worker backs off and waits for it instead).
    """
    with user_errors():
        configure_logging(log_level)
        options = WorkerOptions(concurrency, isolation, poll_interval, with_scheduler, retention)
        overrides = options.overrides()  # checks them before anything starts
        if processes > 1:
            run = [*options.argv(), "--log-level", log_level, *(["--burst"] if burst else [])]
            raise typer.Exit(_supervise(ctx, spec, processes, run))
        found = _load(ctx, spec, overrides)
        warn_if_process_local(found.queue)
        found.run(burst=burst)


def _load(ctx: typer.Context, spec: str, overrides: dict[str, Any]) -> JobWorker:
    """A class is built on this command's store; an instance keeps its own, and naming
    another store (--store, --data-dir or their variables) is bad input."""
    target = find_worker(spec)
    if not isinstance(target, JobWorker):
        return build_worker(target, queue_of(ctx), **overrides)
    state = ctx.find_object(CliState)
    theirs = target.queue.location
    if state is not None and state.given and _location(state.store) != _location(theirs):
        raise InvalidOption(
            f"{spec} is a worker on the store {theirs}, not on {_location(state.store)}: "
            "drop --store/--data-dir, or name that store"
        )
    return configure(target, **overrides)


def _location(store: str | Path) -> str:
    """Where a store is, comparable with ``JobQueue.location``: a file store's real path
    (from a path or a file:// URL), any other URL without its options."""
    text = str(store)
    scheme, sep, _ = text.partition("://")
    if sep and scheme.lower() != "file":
        return text.partition("?")[0]
    return os.path.realpath(unquote(urlsplit(text).path) if sep else text)


def _supervise(ctx: typer.Context, spec: str, processes: int, argv: list[str]) -> int:
    """Run ``processes`` children. A store named here is passed on by its URL
    (``durable=false`` and any other option travel with it); without one, the children
    use the default, or a worker instance's own store, as we would. Either way they get
    no store variable from our environment, which would clash with ``--store``."""
    state = ctx.find_object(CliState)
    command = [sys.executable, "-m", "jobqueue"]
    if state is None or state.given:
        queue = queue_of(ctx)
        if queue.backend.process_local:
            raise InvalidOption(
                f"--processes {processes} needs a store that other processes can open, "
                f"not {queue.location}"
            )
        command += ["--store", queue.backend.url]
    command += ["worker", spec, *argv]
    env = {k: v for k, v in os.environ.items() if k not in (STORE_ENV, DATA_DIR_ENV)}
    return Supervisor(command, processes, on_child_died=lambda: _reap(ctx), env=env).run()


def _reap(ctx: typer.Context) -> None:
    """Return the jobs of a child that died. Without a store named, this is the default
    store, if there is one: the supervisor does not import the worker's module, so an
    instance's own store is reaped by the next child's start-up reap instead."""
    from ..backend import NoQueue

    with contextlib.suppress(NoQueue):
        queue_of(ctx, create=False).reap()
