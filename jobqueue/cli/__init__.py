"""The ``jobqueue`` command line (INTERFACE.md, "CLI"): a thin layer over JobQueue.

One module per command group (``jobs``, ``workers``, ``schedules``, ``monitor``, and
``doctor``, the one command that knows a backend), each a small Typer app merged into
this one, so every command is top-level (``schedule`` is a group of its own). Shared
options and the error-to-exit-code mapping live in ``_options``, what several commands
do alike (logging, signals, params) in ``_common``, output formats in ``_render``.
"""

import typer

from . import doctor, jobs, monitor, schedules, workers
from ._options import CliState, DataDirOpt, OneLineErrors, StoreOpt, store_target

app = typer.Typer(
    name="jobqueue",
    cls=OneLineErrors,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(ctx: typer.Context, store: StoreOpt = None, data_dir: DataDirOpt = None) -> None:
    """Drive and inspect a job queue: a data directory (jobs are JSON files under
    PATH/jobs, default ./data) or any store by URL (--store)."""
    ctx.obj = CliState(store_target(ctx, store, data_dir))


app.add_typer(jobs.app)
app.add_typer(workers.app)
app.add_typer(schedules.app)
app.add_typer(monitor.app)
app.add_typer(doctor.app)


def main() -> None:
    """Console-script entry point (``jobqueue``); ``python -m jobqueue`` calls it too."""
    app(prog_name="jobqueue")


__all__ = ["app", "main"]
