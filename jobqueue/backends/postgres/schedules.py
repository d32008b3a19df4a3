"""Schedules: ``jq_schedules``, one row per schedule holding its JSON document (the same
keys as the file backend's schedule file), and ``lock(name)``.

The lock is a transaction-scoped advisory lock, taken on a pooled connection that stays
in its transaction for the ``with`` block: every other process's ``lock(name)`` waits
there, so the read-decide-write of a tick is exclusive and each tick fires once however
many schedulers run. While the block runs, the thread's operations on this handle go
through the lock's connection (``Database.bound``), so the tick's job and the schedule's
new state commit together when the block ends, and a crash in the block leaves neither.
The lock's key is derived from the table's oid and the name: stores in different schemas
never wait for each other, and a lock on a schema that is gone fails like any other
statement.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import orjson

from ...errors import InvalidJob
from ...ids import check_schedule_name
from ...schedules import codec as schedule_codec
from ...schedules.model import Schedule
from .database import Database, store_errors
from .migrations import quote
from .sql import qualify

log = logging.getLogger(__name__)

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, %s::regclass::oid::bigint))"
_GET = "SELECT document FROM jq_schedules WHERE name = %s"
_ALL = "SELECT name, document FROM jq_schedules ORDER BY name"
_PUT = """
INSERT INTO jq_schedules (name, document) VALUES (%s, %s)
ON CONFLICT (name) DO UPDATE SET document = excluded.document, updated_at = clock_timestamp()
"""
_DELETE = "DELETE FROM jq_schedules WHERE name = %s"


class PostgresSchedules:
    """The schedules part (see the module docstring)."""

    def __init__(self, db: Database, schema: str) -> None:
        self._db = db
        self._table = f"{quote(schema)}.jq_schedules"
        self._get = qualify(_GET, schema)
        self._all = qualify(_ALL, schema)
        self._put = qualify(_PUT, schema)
        self._delete = qualify(_DELETE, schema)

    def lock(self, name: str) -> AbstractContextManager[object]:
        check_schedule_name(name)
        return self._locked(name)

    @contextmanager
    def _locked(self, name: str) -> Iterator[object]:
        with self._db.transaction(f"lock schedule {name}") as conn:
            with store_errors(f"lock schedule {name}"):
                conn.execute(_LOCK, (f"schedule:{name}", self._table))
            with self._db.bound(conn):
                yield name

    def get(self, name: str) -> Schedule | None:
        check_schedule_name(name)
        row = self._db.fetch_one(f"read schedule {name}", self._get, (name,))
        return None if row is None else _decode(name, row[0])

    def all(self) -> list[Schedule]:
        """Unreadable ones (edited by hand) are logged and skipped."""
        found = []
        for name, doc in self._db.fetch("list the schedules", self._all):
            try:
                found.append(_decode(name, doc))
            except InvalidJob as e:
                log.warning("skipping unreadable schedule: %s", e)
        return found

    def put(self, schedule: Schedule) -> None:
        check_schedule_name(schedule.name)
        doc = orjson.dumps(schedule_codec.to_document(schedule)).decode()
        self._db.run(f"write schedule {schedule.name}", self._put, (schedule.name, doc))

    def delete(self, name: str) -> bool:
        check_schedule_name(name)
        return self._db.run(f"delete schedule {name}", self._delete, (name,)) > 0


def _decode(name: str, doc: str) -> Schedule:
    return schedule_codec.decode(doc.encode(), f"schedule {name}")
