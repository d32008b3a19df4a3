"""Schema migrations of the PostgreSQL backend, and ``jobqueue db migrate`` / ``status``:
numbered SQL files, applied once each, safely from several processes at once; an older
schema is migrated on open unless ``migrate=false``; a newer one is refused."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import postgres_cluster
import pytest
from typer.testing import CliRunner

from jobqueue.backend import open_backend
from jobqueue.cli import app
from jobqueue.errors import StoreError

pytest.importorskip("psycopg", reason="the PostgreSQL backend needs jobqueue[postgres]")

from backends.helpers import run_together

from jobqueue.backends.postgres import migrations
from jobqueue.backends.postgres.database import connect


@pytest.fixture
def url() -> Iterator[str]:
    yield from postgres_cluster.fresh_url()


def schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1].split("&")[0]


def sql(query: str, *params: Any) -> list[tuple[Any, ...]]:
    with postgres_cluster.server().admin() as conn:
        cursor = conn.execute(query, params or None)
        return cursor.fetchall() if cursor.description else []


def versions(url: str) -> list[int]:
    return [r[0] for r in sql(f'SELECT version FROM "{schema_of(url)}".jq_meta ORDER BY version')]


def db(url: str, *args: str) -> Any:
    return CliRunner().invoke(app, ["--store", url, "db", *args])


def test_the_shipped_migrations_are_numbered_from_one() -> None:
    shipped = migrations.available()

    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))
    assert migrations.latest() == shipped[-1].version
    assert all(m.sql.strip() for m in shipped)


def test_migrate_creates_a_fresh_schema_and_is_idempotent(url: str) -> None:
    first = db(url, "migrate")
    again = db(url, "migrate")

    assert first.exit_code == 0, first.output
    assert "applied 0001_init.sql" in first.output
    assert again.exit_code == 0 and "applied" not in again.output
    assert "up to date" in again.output
    assert versions(url) == list(range(1, migrations.latest() + 1))


def test_status_prints_the_version_and_says_when_to_migrate(url: str) -> None:
    before = db(url, "status")
    db(url, "migrate")
    after = db(url, "status")

    assert before.exit_code == 1 and "version 0" in before.output
    assert "jobqueue db migrate" in before.output
    assert after.exit_code == 0 and f"version {migrations.latest()}" in after.output


def test_db_refuses_a_store_that_is_not_postgresql(tmp_path: Any) -> None:
    result = CliRunner().invoke(app, ["--store", str(tmp_path / "data"), "db", "status"])

    assert result.exit_code == 2
    assert "postgresql://" in result.output


def test_concurrent_migrations_apply_each_file_once(url: str) -> None:
    applied: list[list[migrations.Migration]] = []
    lock = threading.Lock()

    def migrate() -> None:
        with connect(postgres_cluster.server().dsn) as conn:
            done = migrations.migrate(conn, schema_of(url))
        with lock:
            applied.append(done)

    run_together([migrate] * 4)

    assert sorted(len(done) for done in applied) == [0, 0, 0, migrations.latest()]
    assert versions(url) == list(range(1, migrations.latest() + 1))


def test_opening_migrates_an_older_schema(url: str) -> None:
    make_older(url)

    open_backend(url).close()

    assert versions(url) == list(range(1, migrations.latest() + 1))


def make_older(url: str) -> None:
    """A schema as an older jobqueue left it: here, version 0 (nothing applied yet)."""
    schema = schema_of(url)
    sql(f'CREATE SCHEMA "{schema}"')
    sql(f'CREATE TABLE "{schema}".jq_meta (version integer PRIMARY KEY, name text NOT NULL,'
        " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())")  # fmt: skip


def test_migrate_false_refuses_an_older_schema_in_one_line(url: str) -> None:
    make_older(url)

    with pytest.raises(StoreError) as refused:
        open_backend(url + "&migrate=false")

    message = str(refused.value)
    assert "version 0" in message and "jobqueue db migrate" in message and "\n" not in message
    assert versions(url) == []


def test_a_newer_schema_is_refused_in_one_line(url: str) -> None:
    open_backend(url).close()
    newer = migrations.latest() + 1
    sql(f'INSERT INTO "{schema_of(url)}".jq_meta (version, name) VALUES (%s, %s)', newer, "x")

    with pytest.raises(StoreError, match="newer than this jobqueue") as refused:
        open_backend(url)
    status = db(url, "status")
    migrate = db(url, "migrate")

    assert "\n" not in str(refused.value)
    assert status.exit_code == 1 and "upgrade jobqueue" in status.output
    assert migrate.exit_code == 1 and "newer" in migrate.output
