"""The ``jobqueue`` command line (INTERFACE.md, "CLI"): a thin layer over JobQueue.

One module per command group (``jobs``, ``workers``, ``schedules``), each a small Typer
app merged into this one, so every command is top-level (``schedule`` is a group of its
own); shared options and the error-to-exit-code mapping live in ``_options``, output
formats in ``_render``.
"""

from pathlib import Path

import typer

from . import jobs, monitor, schedules, workers
from ._options import CliState, DataDirOpt

app = typer.Typer(
    name="jobqueue",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(ctx: typer.Context, data_dir: DataDirOpt = Path("data")) -> None:
    """Drive and inspect a jobqueue data directory (jobs are JSON files under PATH/jobs)."""
    ctx.obj = CliState(data_dir)


app.add_typer(jobs.app)
app.add_typer(workers.app)
app.add_typer(schedules.app)
app.add_typer(monitor.app)


def main() -> None:
    """Console-script entry point (``jobqueue``); ``python -m jobqueue`` calls it too."""
    app(prog_name="jobqueue")


__all__ = ["app", "main"]
