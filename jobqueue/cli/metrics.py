"""``jobqueue metrics``: what the queue did in a window (``queue.metrics``), overall and
per job type, as a table, as JSON (``--json``), or in Prometheus's text format
(``--prometheus``, for a textfile collector or a quick look at what ``/metrics`` serves).

It only reads: on a file store that does not exist it says ``no queue at PATH`` (exit 1)
and creates nothing, as ``stats`` does.
"""

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from ..durations import parse_duration
from ..errors import InvalidJob
from . import _render as render
from ._options import CommandFailed, JsonOpt, queue_of, user_errors
from ._render_stats import seconds

if TYPE_CHECKING:
    from ..queue import JobQueue

app = typer.Typer()

WindowOpt = Annotated[
    str,
    typer.Option("--window", metavar="DURATION", help="How far back to look: 30s, 5m, 2h, 1d, ..."),
]
PrometheusOpt = Annotated[
    bool,
    typer.Option("--prometheus", help="Print the Prometheus text exposition (as /metrics does)."),
]

_COLUMNS = ("TYPE", "FINISHED", "SUCCEEDED", "FAILED", "RETRIED", "PER MINUTE", "ERROR RATE",
            "AVG", "P95")  # fmt: skip
_ALL = "(all types)"


@app.command()
def metrics(
    ctx: typer.Context,
    window: WindowOpt = "1h",
    json_output: JsonOpt = False,
    prometheus: PrometheusOpt = False,
) -> None:
    """Jobs finished, failed and retried in the last --window (default 1h), throughput,
    error rate and durations, overall and per job type."""
    with user_errors():
        if json_output and prometheus:
            raise InvalidJob("give --json or --prometheus, not both")
        span = parse_duration(window)
        if prometheus:
            typer.echo(_exposition(ctx, span), nl=False)
            return
        numbers = queue_of(ctx, create=False).metrics(span)
    if json_output:
        render.echo_json(numbers)
    else:
        typer.echo(f"in the last {window.strip()}:")
        render.show(metrics_table(numbers))


def _exposition(ctx: typer.Context, window: timedelta) -> str:
    """Imported here: prometheus-client is an extra, and only this flag needs it."""
    try:
        from ..prometheus import exposition
    except ImportError:
        raise CommandFailed(
            "--prometheus needs prometheus-client: pip install 'jobqueue[dashboard]'"
        ) from None
    queue: JobQueue = queue_of(ctx, create=False)
    return exposition(queue, window=window).decode()


def metrics_table(numbers: Mapping[str, Any]) -> Table:
    """One row for all types together, then one per type."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in _COLUMNS:
        table.add_column(name, justify="left" if name == "TYPE" else "right")
    table.add_row(_ALL, *_cells(numbers))
    for job_type, row in numbers["by_type"].items():
        table.add_row(Text(job_type), *_cells(row))
    return table


def _cells(row: Mapping[str, Any]) -> list[str]:
    return [
        str(row["finished"]),
        str(row["succeeded"]),
        str(row["failed"]),
        str(row["retried"]),
        f"{row['throughput_per_minute']:.2f}",
        f"{row['error_rate']:.1%}",
        seconds(row["avg_duration_s"]),
        seconds(row["p95_duration_s"]),
    ]
