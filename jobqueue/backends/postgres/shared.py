"""Shared state: ``jq_shared``, one row per name, updated under its row lock.

``update`` runs in one transaction: make sure the row exists, lock it (``FOR UPDATE``),
call ``fn`` with its bytes, write what ``fn`` returns. Another process's update of the
same name waits at the lock, so no increment is lost (rate limits count on it); other
names are not held up. If ``fn`` raises, the transaction rolls back and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .database import Database
from .sql import qualify

T = TypeVar("T")

_CREATE = "INSERT INTO jq_shared (name) VALUES (%s) ON CONFLICT (name) DO NOTHING"
_READ = "SELECT data FROM jq_shared WHERE name = %s FOR UPDATE"
_WRITE = "UPDATE jq_shared SET data = %s, updated_at = clock_timestamp() WHERE name = %s"


class PostgresShared:
    """The shared part (see the module docstring)."""

    def __init__(self, db: Database, schema: str) -> None:
        self._db = db
        self._create = qualify(_CREATE, schema)
        self._read = qualify(_READ, schema)
        self._write = qualify(_WRITE, schema)

    def update(self, name: str, fn: Callable[[bytes | None], tuple[bytes, T]]) -> T:
        with self._db.transaction(f"update shared state {name}") as conn:
            conn.execute(self._create, (name,))
            row = conn.execute(self._read, (name,)).fetchone()
            current = None if row is None or row[0] is None else bytes(row[0])
            data, answer = fn(current)
            conn.execute(self._write, (data, name))
        return answer
