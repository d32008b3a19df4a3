"""Schema migrations: the numbered SQL files in ``migrations/`` are the schema.

``NNNN_name.sql`` files are applied in order, each once, inside one transaction that
first takes an advisory lock of the schema: any number of processes may migrate at once
(``jobqueue db migrate`` from several hosts, workers starting together), the first does
the work and the others find nothing left to do. ``jq_meta`` records each version
applied.

Opening a store checks the version: older than this code is migrated (unless the URL
says ``migrate=false``: then refused), newer is refused in one line, because this code
would misread tables it does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from ...backend import NoQueue
from ...errors import StoreError

_FILE_RE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """The migrations shipped with this code, by version."""
    found = []
    for entry in resources.files(__package__).joinpath("migrations").iterdir():
        match = _FILE_RE.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n: {[m.name for m in found]}")
    return found


def latest() -> int:
    """The schema version this code needs."""
    return available()[-1].version


def quote(schema: str) -> str:
    """The schema's name in SQL (url.parse allows letters, digits and _ only)."""
    return '"' + schema.replace('"', '""') + '"'


def current(conn: psycopg.Connection, schema: str) -> int | None:
    """The schema's version: None when the schema has no jobqueue tables."""
    row = conn.execute("SELECT to_regclass(%s)", (f"{quote(schema)}.jq_meta",)).fetchone()
    if row is None or row[0] is None:
        return None
    found = conn.execute(f"SELECT max(version) FROM {quote(schema)}.jq_meta").fetchone()
    return None if found is None or found[0] is None else int(found[0])


def migrate(conn: psycopg.Connection, schema: str) -> list[Migration]:
    """Bring the schema up to ``latest()``; the migrations this call applied (none when
    it was up to date, or another process did them meanwhile). Idempotent."""
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"jobqueue.migrate:{schema}",)
        )
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        conn.execute(f"SET LOCAL search_path TO {quote(schema)}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS jq_meta (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
        version = current(conn, schema) or 0
        refuse_newer(schema, version)
        todo = [m for m in available() if m.version > version]
        for migration in todo:
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO jq_meta (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
    return todo


def refuse_newer(schema: str, version: int) -> None:
    if version > latest():
        raise StoreError(
            f"the jobqueue schema {schema!r} is at version {version}, newer than this "
            f"jobqueue knows ({latest()}): upgrade jobqueue"
        )


def ensure(
    conn: psycopg.Connection, schema: str, location: str, *, create: bool, migrate_older: bool
) -> int:
    """At open: the schema's version once it is usable (see the module docstring).
    ``create=False`` (a read-only open) creates nothing: NoQueue when there is no schema."""
    version = current(conn, schema)
    if version is None and not create:
        raise NoQueue(location)
    version = version or 0
    refuse_newer(schema, version)
    if version < latest():
        if not (create and migrate_older):
            why = " (the URL says migrate=false)" if create else ""
            raise StoreError(
                f"the jobqueue schema {schema!r} is at version {version}, this jobqueue needs "
                f"{latest()}: run `jobqueue db migrate`{why}"
            )
        migrate(conn, schema)
    return latest()
