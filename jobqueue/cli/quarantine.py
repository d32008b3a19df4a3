"""``jobqueue quarantine``: the job files the file backend moved aside because they
could not be read. ``list`` them, ``show`` one, ``restore`` a fixed one.

Like ``doctor``, these commands know a backend: quarantine exists only in the file
backend (a database has no file that fails to parse), so this module may import it
(tests/test_layering.py). On any other store they say so and exit 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..backends.file import FileBackend
from ..backends.file.quarantine import Quarantine, Quarantined, QuarantineError
from ..codec import format_time
from ..errors import InvalidOption
from . import _render as render
from ._options import CommandFailed, JsonOpt, queue_of, user_errors
from ._render_stats import plural

if TYPE_CHECKING:
    from ..queue import JobQueue

app = typer.Typer()
group = typer.Typer(
    name="quarantine",
    help="Job files moved aside because they could not be read: list, show, restore.",
    no_args_is_help=True,
)
app.add_typer(group)

NameArg = Annotated[
    str,
    typer.Argument(
        metavar="NAME", help="A file's name, as `quarantine list` shows it, or a job's id."
    ),
]
#: `show` prints at most this much of a file: a person reads the start of it.
_SHOWN_BYTES = 64 * 1024


def _quarantine(ctx: typer.Context) -> Quarantine:
    queue = queue_of(ctx, create=False)
    if not isinstance(queue.backend, FileBackend):
        raise InvalidOption(f"quarantine is a file-backend feature: {queue.location} has none")
    return queue.backend.quarantine


def _entry(quarantine: Quarantine, name: str) -> Quarantined:
    """By name; else, when ``name`` is a job id that one file holds, that file."""
    try:
        return quarantine.get(name)
    except QuarantineError:
        held = quarantine.of_job(name)
        if len(held) == 1:
            return held[0]
        if held:
            names = ", ".join(entry.name for entry in held)
            raise CommandFailed(f"{len(held)} files hold job {name}: {names}; name one") from None
        raise


def quarantined(queue: JobQueue, job_id: str) -> CommandFailed | None:
    """Why `show` or `watch` finds no job ``job_id`` when its file is in quarantine (on a
    file store): the error that says so and names the file."""
    if not isinstance(queue.backend, FileBackend):
        return None
    held = queue.backend.quarantine.of_job(job_id)
    if not held:
        return None
    last = held[-1]
    files = ", ".join(str(entry.path) for entry in held)
    why = last.problem or "it reads fine now"
    see = f"jobqueue quarantine show {render.shell_word(last.name)}"
    return CommandFailed(f"job {job_id} is in quarantine: {files} ({why}); see {see}")


# --- list --------------------------------------------------------------------------------


@group.command("list")
def list_files(ctx: typer.Context, json_output: JsonOpt = False) -> None:
    """List the files in quarantine.

    Each with where it was found, the job it holds, and why it cannot go back now (or
    that restore would put it back).
    """
    with user_errors():
        entries = _quarantine(ctx).entries()
    if json_output:
        render.echo_json([_document(entry) for entry in entries])
    elif entries:
        render.show(_table(entries))
    else:
        typer.echo("no files in quarantine")


def _document(entry: Quarantined) -> dict[str, Any]:
    job = entry.job
    return {
        "name": entry.name,
        "path": str(entry.path),
        "found_in": entry.found_in,
        "size": entry.size,
        "modified": format_time(entry.modified),
        "job_id": entry.job_id,
        "job_type": None if job is None else job.metadata.type,
        "job_status": None if job is None else job.status,
        "restorable": entry.problem is None,
        "problem": entry.problem,
    }


def _verdict(entry: Quarantined) -> str:
    if entry.problem is None and entry.job is not None:
        return f"restorable to {entry.job.status}/"
    return entry.problem or ""


def _table(entries: list[Quarantined]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("NAME", overflow="fold")
    table.add_column("FOUND IN", no_wrap=True)
    table.add_column("SIZE", justify="right", no_wrap=True)
    table.add_column("MODIFIED", no_wrap=True)
    table.add_column("STATE", overflow="fold")
    for e in entries:
        when = e.modified.strftime("%Y-%m-%d %H:%M:%SZ")
        table.add_row(Text(e.name), e.found_in or "-", str(e.size), when, Text(_verdict(e)))
    return table


# --- show --------------------------------------------------------------------------------


@group.command("show")
def show(ctx: typer.Context, name: NameArg) -> None:
    """Show one file in quarantine: why it cannot go back now, and its content."""
    with user_errors():
        quarantine = _quarantine(ctx)
        entry = _entry(quarantine, name)
        content = _content(quarantine, entry)
    render.show(_view(entry, content))


def _content(quarantine: Quarantine, entry: Quarantined) -> Text:
    """The file's text, control characters escaped (a corrupt file may hold terminal
    escapes); a file that cannot be read (a symlink is never followed) says why."""
    try:
        data = quarantine.read(entry.name)
    except QuarantineError as e:
        return Text(f"(not shown: {e})", style="italic")
    text = data[:_SHOWN_BYTES].decode("utf-8", errors="backslashreplace")
    shown = "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)
    if len(data) > _SHOWN_BYTES:
        shown += f"\n... {len(data) - _SHOWN_BYTES} more bytes in {entry.path}"
    return Text(shown)


def _view(entry: Quarantined, content: Text) -> RenderableType:
    job = entry.job
    rows = [
        ("name", entry.name),
        ("path", str(entry.path)),
        ("found in", f"{entry.found_in}/" if entry.found_in else "-"),
        ("size", plural(entry.size, "byte")),
        ("modified", entry.modified.strftime("%Y-%m-%d %H:%M:%SZ")),
        ("job", "-" if job is None else f"{job.metadata.id} ({job.metadata.type}, {job.status})"),
        ("state", _verdict(entry)),
    ]
    if entry.problem is None:
        command = f"jobqueue quarantine restore {render.shell_word(entry.name)}"
        rows.append(("restore with", command))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, Text(value))
    return Group(grid, Text(""), Text("content", style="bold underline"), content)


# --- restore -----------------------------------------------------------------------------


@group.command("restore")
def restore(ctx: typer.Context, name: NameArg) -> None:
    """Put a fixed file back into its status directory.

    The file goes where its content says (its status, its id) by the store's rules. Exit
    1, and it stays in quarantine, when it still does not parse or a job with its id
    exists already.
    """
    with user_errors():
        quarantine = _quarantine(ctx)
        entry = _entry(quarantine, name)
        job = quarantine.restore(entry.name)
    typer.echo(f"restored {entry.name} to {job.status}/{job.metadata.id}.json")
