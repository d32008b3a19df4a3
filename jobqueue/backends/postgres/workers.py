"""The worker registry: ``jq_workers``, one row per worker, a column per field.

A worker upserts its row at start and at every heartbeat and deletes it when it stops
cleanly; a killed worker's row stays until someone reads it as stale (``jobqueue.health``
judges, by the times in the row: the worker's clock, which is the server's through
``PostgresBackend.clock``)."""

from __future__ import annotations

from datetime import UTC

from ...backend import WorkerRecord
from .database import Database, Row
from .sql import qualify

_FIELDS = ("name", "host", "pid", "pid_started", "started_at", "heartbeat_at", "concurrency",
           "running", "stale_after", "types")  # fmt: skip
_PUT = f"""
INSERT INTO jq_workers ({", ".join(_FIELDS)})
VALUES ({", ".join(f"%({f})s" for f in _FIELDS)})
ON CONFLICT (name) DO UPDATE SET
    {", ".join(f"{f} = excluded.{f}" for f in _FIELDS[1:])}, updated_at = clock_timestamp()
"""
_REMOVE = "DELETE FROM jq_workers WHERE name = %s"
_ALL = f"SELECT {', '.join(_FIELDS)} FROM jq_workers ORDER BY name"


class PostgresWorkers:
    """The workers part."""

    def __init__(self, db: Database, schema: str) -> None:
        self._db = db
        self._put = qualify(_PUT, schema)
        self._remove = qualify(_REMOVE, schema)
        self._all = qualify(_ALL, schema)

    def put(self, record: WorkerRecord) -> None:
        if not record.name:
            raise ValueError("a worker record needs a non-empty name")
        params = {f: getattr(record, f) for f in _FIELDS}
        params["running"], params["types"] = list(record.running), list(record.types)
        self._db.run(f"write the record of worker {record.name}", self._put, params)

    def remove(self, name: str) -> None:
        self._db.run(f"remove the record of worker {name}", self._remove, (name,))

    def all(self) -> list[WorkerRecord]:
        """By name, in code point order (the column's collation is "C")."""
        return [_record(row) for row in self._db.fetch("list the worker records", self._all)]


def _record(row: Row) -> WorkerRecord:
    fields = dict(zip(_FIELDS, row, strict=True))
    fields["started_at"] = fields["started_at"].astimezone(UTC)
    fields["heartbeat_at"] = fields["heartbeat_at"].astimezone(UTC)
    fields["running"], fields["types"] = tuple(fields["running"]), tuple(fields["types"])
    return WorkerRecord(**fields)
