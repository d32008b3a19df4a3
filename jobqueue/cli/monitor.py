"""Commands that watch the queue rather than change it: ``events`` and ``workers``.

Registered on the root app without a group name, so both are top-level commands. The
health and metrics summary lives in ``stats`` (``jobs``), next to the counts.
"""

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer

from ..errors import InvalidJob
from ..events import EVENT_NAMES, JobEvent
from ..ids import check_type
from . import _render as render
from . import _render_monitor as monitor_render
from ._common import until_signalled
from ._options import JsonOpt, TypeOpt, duration, queue_of, user_errors

app = typer.Typer()

EventOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--event",
        "-e",
        metavar="EVENT",
        help=f"Only this event ({', '.join(EVENT_NAMES)}); repeat for several.",
        show_default=False,
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since", metavar="DURATION", help="First replay the events of this long ago (e.g. 10m)."
    ),
]
IdleTimeoutOpt = Annotated[
    float | None,
    typer.Option("--idle-timeout", hidden=True, help="Exit 0 after this many idle seconds."),
]


def _event_filter(
    job_type: str | None, names: list[str] | None
) -> tuple[str | None, frozenset[str]]:
    for name in names or ():
        if name not in EVENT_NAMES:
            raise InvalidJob(f"unknown event {name!r}: use one of {', '.join(EVENT_NAMES)}")
    return (check_type(job_type) if job_type else None), frozenset(names or EVENT_NAMES)


@app.command()
def events(
    ctx: typer.Context,
    json_output: JsonOpt = False,
    job_type: TypeOpt = None,
    event: EventOpt = None,
    since: SinceOpt = None,
    idle_timeout: IdleTimeoutOpt = None,
) -> None:
    """Print job events as they happen in any process, one line each, until Ctrl-C or
    SIGTERM (exit 0). With --json each line is an object: event, job_id, job_type, at, job."""
    with user_errors():
        wanted_type, wanted = _event_filter(job_type, event)
        queue = queue_of(ctx)
        ago = duration(since)
        stream = queue.events(None if ago is None else queue.clock.now() - ago,
                              idle_timeout=idle_timeout)  # fmt: skip
        with until_signalled(), _closing(stream):
            for e in stream:
                if e.event in wanted and wanted_type in (None, e.job_type):
                    typer.echo(_format(e, json_output))


@contextmanager
def _closing(stream: Iterator[JobEvent]) -> Iterator[None]:
    """Stop the tail's file watch at once, not when the generator is collected."""
    try:
        yield
    finally:
        if isinstance(stream, Generator):
            stream.close()


def _format(event: JobEvent, json_output: bool) -> str:
    return monitor_render.event_json(event) if json_output else monitor_render.event_line(event)


AllOpt = Annotated[
    bool, typer.Option("--all", help="Also list stale workers (killed or silent), flagged.")
]


@app.command()
def workers(ctx: typer.Context, json_output: JsonOpt = False, all_workers: AllOpt = False) -> None:
    """List live workers and the jobs each is running."""
    with user_errors():
        queue = queue_of(ctx, create=False)
        records = queue.workers(include_stale=all_workers)
        now: datetime = queue.clock.now()
    if json_output:
        render.echo_json([monitor_render.worker_json(r) for r in records])
    elif records:
        render.show(monitor_render.workers_table(records, now))
    else:
        typer.echo("no live workers")
