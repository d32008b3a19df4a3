"""Commands on jobs: enqueue, list, show, watch, cancel, retry, cleanup, stats.

Each command parses what the user typed, makes one or two JobQueue calls and renders
the answer; the rules (validation, state changes) live in the API.
"""

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from ..durations import parse_duration
from ..errors import InvalidJob, JobNotFound
from ..ids import check_id, check_type
from ..job import ENDED, STATUSES, CancelledJob, FailedJob, Job, Status
from ..queue import JobPage, JobQueue
from . import _render as render
from ._common import parse_params
from ._options import (
    AtOpt,
    CommandFailed,
    DelayOpt,
    IntervalOpt,
    JobIdArg,
    JsonOpt,
    OlderThanOpt,
    StatusOpt,
    TimeoutOpt,
    TypeOpt,
    duration,
    queue_of,
    statuses,
    user_errors,
)
from ._render_monitor import health_table

app = typer.Typer()

_ENDED_STATUSES: tuple[Status, ...] = tuple(s for s in STATUSES if s in ENDED)


def _require(queue: JobQueue, job_id: str) -> Job:
    job = queue.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


# --- enqueue -----------------------------------------------------------------------------


def _run_at(text: str) -> datetime:
    """Parse ``--at``; a time without an offset is this machine's local time."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidJob(
            f"invalid --at {text!r}: use ISO 8601, e.g. 2030-01-31T09:30 or 2030-01-31T09:30+02:00"
        ) from None
    return at.astimezone(UTC)  # astimezone() reads a naive time as local time


def _due(delay: str | None, at: str | None) -> tuple[timedelta | None, datetime | None]:
    if delay is not None and at is not None:
        raise InvalidJob("give --delay or --at, not both")
    return duration(delay), None if at is None else _run_at(at)


@app.command()
def enqueue(
    ctx: typer.Context,
    job_type: Annotated[str, typer.Argument(metavar="TYPE", help="The job's type.")],
    params_json: Annotated[
        str | None,
        typer.Argument(metavar="PARAMS_JSON", help="A JSON object or array (default {})."),
    ] = None,
    params_file: Annotated[
        str | None,
        typer.Option(
            "--params-file", metavar="FILE", help="Read the params JSON from FILE (- is stdin)."
        ),
    ] = None,
    delay: DelayOpt = None,
    at: AtOpt = None,
    priority: Annotated[int, typer.Option(help="Lower runs first.")] = 0,
    max_retries: Annotated[int, typer.Option(help="Retries after a failed attempt.")] = 3,
    timeout: TimeoutOpt = None,
    unique_key: Annotated[
        str | None,
        typer.Option(help="Skip the enqueue while a pending or running job holds this key."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Add a job and print its id (the id of the holder when --unique-key is taken)."""
    with user_errors():
        params = parse_params(params_json, params_file)
        delay_td, run_at = _due(delay, at)
        job = queue_of(ctx).enqueue(
            job_type, params, delay=delay_td, run_at=run_at, priority=priority,
            max_retries=max_retries, timeout=duration(timeout), unique_key=unique_key,
        )  # fmt: skip
    if json_output:
        render.echo_job_json(job)
    else:
        typer.echo(job.metadata.id)


# --- reading -----------------------------------------------------------------------------


LimitOpt = Annotated[int, typer.Option("--limit", min=0, help="Show at most this many.")]
NewestOpt = Annotated[bool, typer.Option("--newest", help="Newest first (default: oldest).")]


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: StatusOpt = None,
    job_type: TypeOpt = None,
    limit: LimitOpt = 100,
    newest: NewestOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """List jobs, oldest first (or --newest first), at most --limit of them.

    A last line says how many more match: on stderr with --json, so that stdout stays
    one JSON array.
    """
    with user_errors():
        chosen = statuses(status)  # bad input is exit 2 even where there is no queue
        if job_type is not None:
            check_type(job_type)
        queue = queue_of(ctx, create=False)
        page = queue.query_page(chosen, job_type, limit, newest_first=newest)
        more = _more_line(queue, page, chosen, job_type)
    if json_output:
        render.echo_jobs_json(page.jobs)
    elif page.jobs:
        render.show(render.jobs_table(page.jobs, queue.clock.now()))
    elif not more:
        typer.echo("no jobs")
    if more:
        typer.echo(more, err=json_output)


def _more_line(
    queue: JobQueue, page: JobPage, chosen: Sequence[Status] | None, job_type: str | None
) -> str | None:
    """What --limit left out. Without --type the count comes from ``stats()``, cheap on
    every backend; counting one type's jobs would mean reading all of them, so then
    the line only says that more exist."""
    if not page.more:
        return None
    if job_type is not None:
        return "more jobs match; raise --limit to see them"
    counts = queue.stats()
    hidden = sum(counts[s] for s in chosen or STATUSES) - len(page.jobs)
    # Counted a moment after the page was read: jobs may have ended or been cleaned up.
    return f"{render.plural(max(hidden, 1), 'more job')} not shown; raise --limit to see them"


@app.command()
def show(ctx: typer.Context, job_id: JobIdArg, json_output: JsonOpt = False) -> None:
    """Show one job: metadata, params, progress, result or error, and past attempts."""
    with user_errors():
        check_id(job_id)  # bad input is exit 2 even where there is no queue
        job = _require(queue_of(ctx, create=False), job_id)
    if json_output:
        render.echo_job_json(job)
    else:
        render.show(render.job_view(job))


@app.command()
def stats(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """Count jobs per status (delayed: pending but not yet due); without --json, also the
    queue's health and the last hour's metrics."""
    with user_errors():
        queue = queue_of(ctx, create=False)
        counts = queue.stats()
        if json_output:
            render.echo_json(counts)
            return
        health, metrics = queue.health(), queue.metrics(timedelta(hours=1))
    render.show(render.stats_table(counts))
    render.show(health_table(health, metrics, "1h"))


# --- watch -------------------------------------------------------------------------------


def _follow(queue: JobQueue, job: Job, interval: float) -> Job:
    """Poll until the job ends, showing its progress; returns the ended job."""
    with render.ProgressView() as view:
        view.update(job)
        while job.status not in ENDED:
            time.sleep(interval)
            job = _require(queue, job.metadata.id)  # gone (cleaned up): JobNotFound
            view.update(job)
    return job


@app.command()
def watch(ctx: typer.Context, job_id: JobIdArg, interval: IntervalOpt = 0.2) -> None:
    """Follow a job with a live progress bar until it ends.

    Exit 0 when it completes, 1 when it fails, is cancelled or does not exist.
    """
    with user_errors():
        check_id(job_id)
        queue = queue_of(ctx, create=False)
        job = _follow(queue, _require(queue, job_id), interval)
        match job:
            case FailedJob(error=e):
                raise CommandFailed(f"job {job_id} failed: {e.type}: {e.message}")
            case CancelledJob(reason=reason):
                raise CommandFailed(
                    f"job {job_id} was cancelled" + (f": {reason}" if reason else "")
                )
    typer.echo(f"job {job_id} complete")


# --- changing ----------------------------------------------------------------------------


@app.command()
def cancel(
    ctx: typer.Context,
    job_id: JobIdArg,
    reason: Annotated[str | None, typer.Option(help="Why; kept in the job file.")] = None,
) -> None:
    """Cancel a pending job now, or ask a running one to stop.

    Exit 1 if the job already ended or does not exist.
    """
    with user_errors():
        queue = queue_of(ctx)
        if not queue.cancel(job_id, reason=reason):
            job = _require(queue, job_id)
            raise CommandFailed(f"job {job_id} already ended ({job.status}): nothing to cancel")
        done = isinstance(queue.get_job(job_id), CancelledJob)
    typer.echo(f"cancelled {job_id}" if done else f"asked the worker running {job_id} to stop")


@app.command()
def retry(ctx: typer.Context, job_id: JobIdArg) -> None:
    """Run a failed or cancelled job again, now, with its retry count reset.

    Exit 1 if the job does not exist or is not failed or cancelled (a refused operation).
    """
    with user_errors():
        queue = queue_of(ctx)
        _require(queue, job_id)  # a malformed id is bad input (exit 2); a missing job, 1
        try:
            queue.retry(job_id)
        except InvalidJob as e:  # the id was fine, so this is the job's state refusing
            raise CommandFailed(str(e)) from None
    typer.echo(f"requeued {job_id}")


@app.command()
def cleanup(
    ctx: typer.Context,
    older_than: OlderThanOpt = "1d",
    status: StatusOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would go.")] = False,
) -> None:
    """Delete ended jobs (complete, failed, cancelled unless --status says otherwise)."""
    with user_errors():
        queue = queue_of(ctx)
        age, chosen = parse_duration(older_than), statuses(status) or _ENDED_STATUSES
        if dry_run:
            count = len(queue.cleanup_candidates(age, chosen))
        else:
            count = queue.cleanup(age, chosen)
    typer.echo(f"{'would remove' if dry_run else 'removed'} {render.plural(count, 'job')}")
