"""Commands about workers. Registered on the root app without a group name, so they
are top-level commands (``jobqueue worker``, ``jobqueue reap``, ``jobqueue doctor``)."""

import logging
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import typer

from ..durations import parse_duration
from ..errors import InvalidJob
from ..job import Status
from ..store import FileStore
from ..store import doctor as store_doctor
from ..worker.loader import load_worker
from ..worker.supervisor import Supervisor
from ..worker.upkeep import check_retention
from . import _render as render
from ._options import StaleAfterOpt, queue_of, user_errors

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


LOG_LEVELS = ("debug", "info", "warning", "error")
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
LogLevelOpt = Annotated[str, typer.Option("--log-level", help=", ".join(LOG_LEVELS))]


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
            raise InvalidJob(f"--retention takes STATUS=AGE pairs, e.g. complete=1d: {part!r}")
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
    """Run a worker until SIGTERM/SIGINT (exit 0), or with --burst until no job is due."""
    with user_errors():
        _configure_logging(log_level)
        if isolation not in ("thread", "process"):
            raise InvalidJob(f"--isolation must be thread or process, not {isolation!r}")
        poll = parse_duration(poll_interval).total_seconds()
        options = WorkerOptions(
            concurrency, isolation, poll, burst, log_level, with_scheduler, retention
        )
        kwargs = options.worker_kwargs()  # checks --retention before anything starts
        if processes > 1:
            raise typer.Exit(_supervise(ctx, spec, processes, options))
        found = load_worker(spec, queue_of(ctx), **kwargs)
    found.run(burst=burst)


def _configure_logging(level: str) -> None:
    if level.lower() not in LOG_LEVELS:
        raise InvalidJob(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )


def _supervise(ctx: typer.Context, spec: str, processes: int, options: WorkerOptions) -> int:
    queue = queue_of(ctx)
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(queue.data_dir),
               "worker", spec, *options.argv()]  # fmt: skip
    return Supervisor(command, processes, on_child_died=queue.reap).run()


@app.command()
def doctor(
    ctx: typer.Context,
    repair: Annotated[bool, typer.Option("--repair", help="Fix what is safe to fix.")] = False,
    stale_after: StaleAfterOpt = "30s",
) -> None:
    """Check the data directory; exit 0 when healthy, 1 when not."""
    with user_errors():
        queue = queue_of(ctx)
        store = queue.store
        if not isinstance(store, FileStore):
            raise InvalidJob("doctor checks a file store's data directory")
        stale, now = parse_duration(stale_after), queue.clock.now()
        report = (store_doctor.repair if repair else store_doctor.check)(store, now, stale)
    render.doctor_report(report, repaired=repair)
    raise typer.Exit(0 if report.healthy else 1)
