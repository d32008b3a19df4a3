"""``jobqueue doctor``: check (and with --repair, fix) a file store's data directory.

The one command that knows a backend: what it checks (hidden directories, claims,
the pending index) exists only in the file backend, so it lives apart from the
backend-neutral commands."""

from typing import Annotated

import typer

from ..backends.file import FileBackend
from ..backends.file import doctor as store_doctor
from ..durations import parse_duration
from ..errors import InvalidOption
from ._options import StaleAfterOpt, queue_of, user_errors
from ._render import shell_word
from ._render_stats import plural

app = typer.Typer()


@app.command()
def doctor(
    ctx: typer.Context,
    repair: Annotated[bool, typer.Option("--repair", help="Fix what is safe to fix.")] = False,
    stale_after: StaleAfterOpt = "30s",
) -> None:
    """Check a file store's data directory; exit 0 when healthy, 1 when not."""
    with user_errors():
        queue = queue_of(ctx, create=False)
        backend = queue.backend
        if not isinstance(backend, FileBackend):
            raise InvalidOption(
                f"doctor checks a file store's data directory, not {queue.location}"
            )
        stale, now = parse_duration(stale_after), queue.clock.now()
        check = store_doctor.repair if repair else store_doctor.check
        report = check(backend.jobs, now, stale)
    _show(report, repaired=repair)
    raise typer.Exit(0 if report.healthy else 1)


def _show(report: store_doctor.Report, *, repaired: bool) -> None:
    """One line per finding, then a verdict."""
    for finding in report.findings:
        typer.echo(_line(finding))
    if repaired:
        typer.echo(f"repaired {plural(report.repaired, 'problem')}")
    verdict = "healthy" if report.healthy else f"{plural(len(report.findings), 'problem')} found"
    typer.echo(verdict)


def _line(finding: store_doctor.Finding) -> str:
    """``kind: message``, the kind said once (some messages start with it), and for a
    quarantined file the commands that deal with it."""
    message = finding.message.removeprefix(f"{finding.kind}: ")
    if finding.kind == "quarantined":
        name = shell_word(finding.path.name)
        message = (
            f"{finding.path.name}: see `jobqueue quarantine show {name}`, then restore or delete it"
        )
    fix = "" if finding.repairable else " (needs a person)"
    return f"{finding.kind}: {message}{fix}"
