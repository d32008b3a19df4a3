"""Commands about workers. Registered on the root app without a group name, so they
are top-level commands (``jobqueue worker``, ``jobqueue reap``)."""

import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import typer

from ..durations import parse_duration
from ..errors import InvalidOption
from ..job import Status
from ..queue import JobQueue
from ..worker.loader import load_worker
from ..worker.supervisor import Supervisor
from ..worker.upkeep import check_retention
from . import _render as render
from ._common import LogLevelOpt, configure_logging, warn_if_process_local
from ._options import DATA_DIR_ENV, STORE_ENV, StaleAfterOpt, queue_of, user_errors

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
    typer.echo(f"reaped {render.plural(len(reaped), 'job')}")


ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Jobs at once.")]
ProcessesOpt = Annotated[
    int, typer.Option("--processes", "-p", min=1, help="Worker processes, under a supervisor.")
]
IsolationOpt = Annotated[
    str, typer.Option("--isolation", help="thread, or process: each job in a killable child.")
]
BurstOpt = Annotated[bool, typer.Option("--burst", help="Return once no due job is left.")]
PollOpt = Annotated[
    str, typer.Option("--poll-interval", metavar="DURATION", help="Fallback poll interval.")
]

SchedulerOpt = Annotated[
    bool, typer.Option("--with-scheduler", help="Also run cron schedules in this worker.")
]
RetentionOpt = Annotated[
    str | None,
    typer.Option(
        "--retention",
        metavar="STATUS=AGE,...",
        help="Delete ended jobs older than this, e.g. complete=1d,failed=30d (every minute).",
    ),
]


@dataclass(frozen=True)
class WorkerOptions:
    """What `jobqueue worker` passes on: to the worker, or to each supervised child."""

    concurrency: int
    isolation: str
    poll: float
    burst: bool
    log_level: str
    with_scheduler: bool
    retention: str | None

    def worker_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "concurrency": self.concurrency, "isolation": self.isolation,
            "poll_interval": self.poll, "with_scheduler": self.with_scheduler,
        }  # fmt: skip
        if self.retention:
            kwargs["retention"] = parse_retention(self.retention)
        return kwargs

    def argv(self) -> list[str]:
        flags = ["--concurrency", str(self.concurrency), "--isolation", self.isolation,
                 "--poll-interval", str(self.poll), "--log-level", self.log_level]  # fmt: skip
        flags += ["--burst"] if self.burst else []
        flags += ["--with-scheduler"] if self.with_scheduler else []
        flags += ["--retention", self.retention] if self.retention else []
        return flags


def parse_retention(text: str) -> dict[Status, timedelta]:
    """``complete=1d,failed=30d`` -> {"complete": 1 day, "failed": 30 days}. Checked here,
    before a supervisor starts children that would each fail on it (and be restarted)."""
    retention: dict[str, timedelta] = {}
    for part in text.split(","):
        status, sep, age = part.strip().partition("=")
        if not sep or not status or not age:
            raise InvalidOption(f"--retention takes STATUS=AGE pairs, e.g. complete=1d: {part!r}")
        retention[status.strip()] = parse_duration(age.strip())
    return check_retention(retention)


@app.command()
def worker(
    ctx: typer.Context,
    spec: Annotated[
        str, typer.Argument(metavar="MODULE:ATTR", help="A JobWorker class or instance.")
    ],
    concurrency: ConcurrencyOpt = 1,
    processes: ProcessesOpt = 1,
    isolation: IsolationOpt = "thread",
    burst: BurstOpt = False,
    poll_interval: PollOpt = "1s",
    log_level: LogLevelOpt = "info",
    with_scheduler: SchedulerOpt = False,
    retention: RetentionOpt = None,
) -> None:
    """Run a worker until SIGTERM/SIGINT (exit 0), or with --burst until no job is due.

    A store that keeps failing ends a --burst run with exit 1 (a long-running worker
    backs off and waits for it instead).
    """
    with user_errors():
        configure_logging(log_level)
        if isolation not in ("thread", "process"):
            raise InvalidOption(f"--isolation must be thread or process, not {isolation!r}")
        poll = parse_duration(poll_interval).total_seconds()
        options = WorkerOptions(
            concurrency, isolation, poll, burst, log_level, with_scheduler, retention
        )
        kwargs = options.worker_kwargs()  # checks --retention before anything starts
        if processes > 1:
            raise typer.Exit(_supervise(queue_of(ctx), spec, processes, options))
        found = load_worker(spec, queue_of(ctx), **kwargs)
        warn_if_process_local(found.queue)
        found.run(burst=burst)


def _supervise(queue: JobQueue, spec: str, processes: int, options: WorkerOptions) -> int:
    """Run ``processes`` children, each told the store by its URL (``durable=false`` and
    any other option travel with it) and given no store variable from our environment,
    which would clash with ``--store``."""
    if queue.backend.process_local:
        raise InvalidOption(
            f"--processes {processes} needs a store that other processes can open, "
            f"not {queue.location}"
        )
    command = [sys.executable, "-m", "jobqueue", "--store", queue.backend.url,
               "worker", spec, *options.argv()]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in (STORE_ENV, DATA_DIR_ENV)}
    return Supervisor(command, processes, on_child_died=queue.reap, env=env).run()
