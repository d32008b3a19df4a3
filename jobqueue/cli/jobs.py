"""Commands on jobs: enqueue, list, show, watch, cancel, retry, cleanup, stats.

Each command parses what the user typed, makes one or two JobQueue calls and renders
the answer; the rules (validation, state changes) live in the API.
"""

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer

from .. import bulk
from ..durations import parse_duration
from ..errors import InvalidJob, JobNotFound
from ..ids import check_id, check_type
from ..job import ENDED, STATUSES, CancelledJob, FailedJob, Job, Status
from ..queue import JobPage, JobQueue
from ._common import bulk_change, lazy_module, parse_params, select
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
from ._render_stats import health_text, plural, stats_text

if TYPE_CHECKING:
    from . import _render as render
    from . import _render_monitor as monitor_render
else:  # rich is the costliest import of a one-shot command: load it when something prints
    render = lazy_module("jobqueue.cli._render")
    monitor_render = lazy_module("jobqueue.cli._render_monitor")

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


LimitOpt = Annotated[
    int, typer.Option("--limit", metavar="N", min=0, help="Show at most this many.")
]
NewestOpt = Annotated[bool, typer.Option("--newest", help="Newest first (default: oldest).")]
ListStatusOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        "-s",
        metavar="STATUS",
        help=f"Only jobs in this status ({', '.join(STATUSES)}, or delayed: pending jobs "
        "not yet due, as stats counts them); repeat for several.",
        show_default=False,
    ),
]
#: Jobs read per page while looking for delayed ones (a filter the stores do not have).
_SCAN_PAGE = 500


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    status: ListStatusOpt = None,
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
        chosen, delayed = _list_statuses(status)  # bad input is exit 2 even with no queue
        if job_type is not None:
            check_type(job_type)
        queue = queue_of(ctx, create=False)
        if delayed and "pending" not in (chosen or ()):
            page = _page_with_delayed(queue, chosen or [], job_type, limit, newest)
            counted: list[str] = [*(chosen or []), "delayed"]
        else:  # no delayed, or all of pending anyway
            page = queue.query_page(chosen, job_type, limit, newest_first=newest)
            counted = [*(chosen or STATUSES)]
        more = _more_line(queue, page, counted, job_type)
    if json_output:
        render.echo_jobs_json(page.jobs)
    elif page.jobs:
        render.show(render.jobs_table(page.jobs, queue.clock.now()))
    elif not more:
        typer.echo("no jobs")
    if more:
        typer.echo(more, err=json_output)


def _list_statuses(values: list[str] | None) -> tuple[list[Status] | None, bool]:
    """`list --status`: the statuses named, and whether ``delayed`` was one of them."""
    delayed = "delayed" in (values or ())
    return statuses([v for v in values or () if v != "delayed"]), delayed


def _page_with_delayed(
    queue: JobQueue, chosen: list[Status], job_type: str | None, limit: int, newest: bool
) -> JobPage:
    """The jobs of ``chosen`` and the delayed ones (pending, not yet due), read a page at
    a time until ``limit`` of them (and one more, to know that more match) are found."""
    now = queue.clock.now()

    def wanted(job: Job) -> bool:
        return job.status in chosen or (job.status == "pending" and job.metadata.run_at > now)

    found: list[Job] = []
    after: str | None = None
    while len(found) <= limit:
        scanned = queue.query_page([*chosen, "pending"], job_type, _SCAN_PAGE,
                                   newest_first=newest, after=after)  # fmt: skip
        found += filter(wanted, scanned.jobs)
        if not scanned.more:
            break
        after = scanned.jobs[-1].metadata.id
    return JobPage(found[:limit], len(found) > limit)


def _more_line(
    queue: JobQueue, page: JobPage, counted: Sequence[str], job_type: str | None
) -> str | None:
    """What --limit left out. Without --type the count comes from ``stats()``, cheap on
    every backend; counting one type's jobs would mean reading all of them, so then
    the line only says that more exist."""
    if not page.more:
        return None
    if job_type is not None:
        return "more jobs match; raise --limit to see them"
    counts = queue.stats()
    hidden = sum(counts[s] for s in counted) - len(page.jobs)
    # Counted a moment after the page was read: jobs may have ended or been cleaned up.
    return f"{plural(max(hidden, 1), 'more job')} not shown; raise --limit to see them"


def _find(queue: JobQueue, job_id: str) -> Job:
    """The job (``show``, ``watch``); when there is none, JobNotFound, or on a file store
    whose quarantine holds its file, a line that says so and names the file."""
    check_id(job_id)  # bad input, raised before the try below could take it for a file's
    unreadable: InvalidJob | None = None
    try:
        job = queue.get_job(job_id)
    except InvalidJob as e:  # its file cannot be read: the store has just quarantined it
        job, unreadable = None, e
    if job is not None:
        return job
    from .quarantine import quarantined  # the file backend, loaded only for a missing job

    found = quarantined(queue, job_id)
    if found is not None:
        raise found
    raise CommandFailed(str(unreadable)) if unreadable else JobNotFound(job_id)


@app.command()
def show(ctx: typer.Context, job_id: JobIdArg, json_output: JsonOpt = False) -> None:
    """Show one job: metadata, params, progress, result or error, and past attempts."""
    with user_errors():
        check_id(job_id)  # bad input is exit 2 even where there is no queue
        job = _find(queue_of(ctx, create=False), job_id)
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
    typer.echo(stats_text(counts))
    typer.echo(health_text(health, metrics, "1h"), nl=False)


# --- watch -------------------------------------------------------------------------------


def _follow(queue: JobQueue, job: Job, interval: float) -> Job:
    """Poll until the job ends, showing its progress; returns the ended job."""
    with render.ProgressView() as view:
        view.update(job, queue.clock.now())
        while job.status not in ENDED:
            time.sleep(interval)
            job = _find(queue, job.metadata.id)  # gone (cleaned up): JobNotFound
            view.update(job, queue.clock.now())
    return job


@app.command()
def watch(ctx: typer.Context, job_id: JobIdArg, interval: IntervalOpt = 0.2) -> None:
    """Follow a job with a live progress bar until it ends (a pending job: when it is
    due). Exit 0 when it completes, 1 when it fails, is cancelled or does not exist."""
    with user_errors():
        check_id(job_id)
        queue = queue_of(ctx, create=False)
        job = _follow(queue, _find(queue, job_id), interval)
        match job:
            case FailedJob(error=e):
                raise CommandFailed(f"job {job_id} failed: {e.type}: {e.message}")
            case CancelledJob(reason=reason):
                raise CommandFailed(
                    f"job {job_id} was cancelled" + (f": {reason}" if reason else "")
                )
    typer.echo(f"job {job_id} complete")


# --- changing ----------------------------------------------------------------------------


IdsArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="ID", help="The jobs' ids.", show_default=False),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Only say how many jobs, and which, would change.")
]
_CANCELLABLE = bulk.CANCELLABLE
_RETRYABLE = bulk.RETRYABLE


def _bulk_status(allowed: Sequence[Status], what: str) -> object:
    return typer.Option(
        "--status",
        "-s",
        metavar="STATUS",
        help=f"{what} every job in this status ({' or '.join(allowed)}); repeat for both.",
        show_default=False,
    )


@app.command()
def cancel(
    ctx: typer.Context,
    job_ids: IdsArg = None,
    status: Annotated[list[str] | None, _bulk_status(_CANCELLABLE, "Cancel")] = None,
    job_type: TypeOpt = None,
    reason: Annotated[str | None, typer.Option(help="Why; kept in the job file.")] = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Cancel pending jobs now, or ask running ones to stop: the jobs given, or every
    job in --status (of --type).

    One id: exit 1 if the job already ended or does not exist. Several, or --status: a
    report of the jobs done, skipped (they had ended, or changed meanwhile) and failed;
    exit 0 only when every job was done.
    """
    with user_errors():
        chosen = select(job_ids, status, job_type, _CANCELLABLE)
        queue = queue_of(ctx, create=not dry_run)
        if len(chosen.ids) == 1 and not dry_run:
            typer.echo(_cancel_one(queue, chosen.ids[0], reason))
            return
        change = partial(bulk.cancel_job, queue, reason=reason)
        bulk_change(
            queue, chosen, verb="cancel", allowed=_CANCELLABLE, change=change, dry_run=dry_run
        )


def _cancel_one(queue: JobQueue, job_id: str, reason: str | None) -> str:
    """Cancel one job named alone; what happened, as a line."""
    try:
        done = bulk.cancel_job(queue, job_id, reason)
    except bulk.Refused as e:
        raise CommandFailed(f"job {job_id} {e}: nothing to cancel") from None
    if done == bulk.CANCELLED:
        return f"cancelled {job_id}"
    return f"asked the worker running {job_id} to stop"


@app.command()
def retry(
    ctx: typer.Context,
    job_ids: IdsArg = None,
    status: Annotated[list[str] | None, _bulk_status(_RETRYABLE, "Retry")] = None,
    job_type: TypeOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Run failed or cancelled jobs again, now, with their retry count reset: the jobs
    given, or every job in --status (of --type).

    One id: exit 1 if the job does not exist or is not failed or cancelled (a refused
    operation). Several, or --status: a report of the jobs done, skipped and failed;
    exit 0 only when every job was done.
    """
    with user_errors():
        chosen = select(job_ids, status, job_type, _RETRYABLE)
        queue = queue_of(ctx, create=not dry_run)
        if len(chosen.ids) == 1 and not dry_run:
            typer.echo(_retry_one(queue, chosen.ids[0]))
            return
        change = partial(bulk.retry_job, queue)
        bulk_change(queue, chosen, verb="retry", allowed=_RETRYABLE, change=change, dry_run=dry_run)


def _retry_one(queue: JobQueue, job_id: str) -> str:
    """Retry one job named alone: exit 1 if it does not exist or is not failed or
    cancelled (the API's own message says which)."""
    _require(queue, job_id)  # an unreadable file is an error; a missing job, 1
    try:
        queue.retry(job_id)
    except InvalidJob as e:  # the id was fine, so this is the job's state refusing
        raise CommandFailed(str(e)) from None
    return f"requeued {job_id}"


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
    typer.echo(f"{'would remove' if dry_run else 'removed'} {plural(count, 'job')}")
