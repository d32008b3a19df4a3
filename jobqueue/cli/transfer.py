"""``jobqueue transfer --to URL [--move] [--dry-run]``: copy this store's jobs and
schedules to another (``jobqueue.transfer`` does the work; this module prints it).

The source is the store the root options name (``--store`` / ``--data-dir``) and must
exist; the target is opened (created, or its schema migrated) like any store, except on
a dry run, which creates nothing: a target that is not there yet counts as empty."""

from typing import Annotated

import typer

from ..backend import Backend, NoQueue, open_backend
from ..transfer import Transferred, transfer
from ._options import fail, queue_of, user_errors
from ._render_stats import plural

app = typer.Typer()

ToOpt = Annotated[
    str,
    typer.Option("--to", metavar="URL", help="The store to copy to: a path or a URL."),
]
MoveOpt = Annotated[
    bool, typer.Option("--move", help="Then delete what was copied from this store.")
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Only print what would be copied; change nothing.")
]


@app.command("transfer")
def transfer_command(
    ctx: typer.Context, to: ToOpt, move: MoveOpt = False, dry_run: DryRunOpt = False
) -> None:
    """Copy every job (with its attempts, keeping ids) and schedule to the store --to;
    ids already there are skipped, so it can run again after an interruption. Refused
    while jobs are running here."""
    with user_errors():
        source = queue_of(ctx, create=False).backend
        target = _open_target(to, dry_run=dry_run)
        try:
            done = transfer(source, target, move=move, dry_run=dry_run)
        finally:
            target.close()
    where = to if target.process_local else target.location  # a dry run's stand-in
    typer.echo(summary(done, where, dry_run=dry_run))
    if move and not dry_run:
        deleted = f"{plural(done.deleted, 'job')} and {plural(done.schedules_deleted, 'schedule')}"
        typer.echo(f"deleted {deleted} from {source.location}")
    if done.changed:
        fail(f"{plural(done.changed, 'job')} changed here during the transfer and stayed: "
             "run it again", 1)  # fmt: skip


def _open_target(to: str, *, dry_run: bool) -> Backend:
    """A dry run creates nothing: a missing target reads as an empty one."""
    if not dry_run:
        return open_backend(to)
    try:
        return open_backend(to, create=False)
    except NoQueue:
        return open_backend("memory://")


def summary(done: Transferred, target: str, *, dry_run: bool) -> str:
    """The one line a transfer prints: jobs copied and skipped, then schedules."""
    copy, skip = ("would copy", "would skip") if dry_run else ("copied", "skipped")
    return (f"{copy} {plural(done.copied, 'job')}, {skip} {done.skipped} already in {target}; "
            f"schedules: {copy} {done.schedules}, {skip} {done.schedules_skipped}")  # fmt: skip
