"""``jobqueue db migrate`` and ``jobqueue db status``: a PostgreSQL store's schema.

The one other command group that knows a backend (like ``doctor``): a schema exists only
there. The backend is imported inside the commands, so that ``jobqueue`` itself never
needs psycopg."""

from pathlib import Path

import typer

from ..errors import InvalidOption
from ._options import CliState, user_errors

app = typer.Typer()
db = typer.Typer(
    name="db",
    help="The schema of a PostgreSQL store (--store postgresql://...): migrate, status.",
    no_args_is_help=True,
)
app.add_typer(db)


@db.command()
def migrate(ctx: typer.Context) -> None:
    """Create or upgrade the store's schema (idempotent; safe from several hosts at once)."""
    with user_errors():
        from ..backends.postgres import admin

        state, applied = admin.migrate(_postgres_url(ctx))
    for migration in applied:
        typer.echo(f"applied {migration.name}")
    typer.echo(f"schema {state.schema!r}: version {state.version}, {state.verdict}")


@db.command()
def status(ctx: typer.Context) -> None:
    """Print the schema's version; exit 0 when it is the one this jobqueue needs, else 1."""
    with user_errors():
        from ..backends.postgres import admin

        state = admin.status(_postgres_url(ctx))
    typer.echo(f"schema {state.schema!r} at {state.location}: version {state.version} "
               f"(this jobqueue needs {state.latest}), {state.verdict}")  # fmt: skip
    raise typer.Exit(0 if state.version == state.latest else 1)


def _postgres_url(ctx: typer.Context) -> str:
    state = ctx.find_object(CliState)
    store = None if state is None else state.store
    if isinstance(store, Path) or not isinstance(store, str) or not _is_postgres(store):
        raise InvalidOption(f"db works on a postgresql:// store (--store), not {store}")
    return store


def _is_postgres(store: str) -> bool:
    return store.lower().startswith(("postgresql://", "postgres://"))
