"""The event log: ``jq_events``, written in the same statement as the change it records,
followed from any host in the order of the transactions that wrote it.

Why not by id: an identity value is taken when the row is inserted, not when its
transaction commits, so a follower that read up to id 100 can later see id 99 commit,
and a cursor on ids would skip it (the design note measured 1,262 of 3,600 events lost
that way with six concurrent writers). Each row records its transaction (``tx``, an
``xid8``), and a follower keeps the *snapshot* up to which it has read everything:

* ``seen``: every transaction visible in it has had all its events yielded. The events
  still to read are those whose ``tx`` is not visible in ``seen``: ``tx >= xmax(seen)``
  or ``tx`` among ``xip(seen)`` (the transactions that were running), two index lookups.
* One poll reads them in ``(tx, id)`` order under the statement's own snapshot, and
  ``seen`` becomes that snapshot. A page that comes back full keeps that snapshot as a
  fixed *window* and pages on with a ``(tx, id)`` cursor inside it, so rows committed
  meanwhile wait for the next window rather than being read twice.

So every event is yielded exactly once, as soon as its transaction commits; a long
transaction elsewhere delays nobody (unlike "below the oldest running transaction").

The follow starts at the call: its first snapshot is taken there. ``since`` replays the
events visible in that snapshot with ``at >= since`` first. Followers wait for a NOTIFY
(``listener``) and poll every ``POLL`` seconds regardless.

Events are kept ``RETENTION`` (48 h, like the file log) by the server's clock: ``at`` is
the writer's clock, which tests set to 2030; pruning runs with ``recover()``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ...events import JobEvent
from ...metrics import Sample
from . import documents
from .database import Database, Row
from .listener import Listener
from .sql import qualify

RETENTION = timedelta(hours=48)
#: Seconds between two polls of a follower, NOTIFY or not.
POLL = 1.0
_PAGE = 500

_COLUMNS = "tx::text, id, event, job_id, job_type, at, document"
_UNSEEN = (
    "(tx >= pg_snapshot_xmax(%(seen)s::pg_snapshot)"
    " OR tx IN (SELECT pg_snapshot_xip(%(seen)s::pg_snapshot)))"
)
_LIVE = f"""
SELECT {_COLUMNS}, pg_current_snapshot()::text FROM jq_events
WHERE {_UNSEEN}
ORDER BY tx, id LIMIT %(limit)s
"""
_WINDOW = f"""
SELECT {_COLUMNS}, %(window)s::text FROM jq_events
WHERE {_UNSEEN} AND pg_visible_in_snapshot(tx, %(window)s::pg_snapshot)
  AND (tx, id) > (%(tx)s::xid8, %(id)s)
ORDER BY tx, id LIMIT %(limit)s
"""
_REPLAY = f"""
SELECT {_COLUMNS}, %(window)s::text FROM jq_events
WHERE at >= %(since)s AND pg_visible_in_snapshot(tx, %(window)s::pg_snapshot)
  AND (tx, id) > (%(tx)s::xid8, %(id)s)
ORDER BY tx, id LIMIT %(limit)s
"""
_SAMPLES = """
SELECT event, job_type, at, retry_count, duration_s, wait_s FROM jq_events
WHERE event IN ('completed', 'failed', 'retrying') AND at >= %(since)s
  AND (%(until)s::timestamptz IS NULL OR at < %(until)s::timestamptz)
ORDER BY tx, id
"""
_PRUNE = """
DELETE FROM jq_events WHERE id IN (
    SELECT id FROM jq_events WHERE recorded_at < clock_timestamp() - %(keep)s LIMIT 10000)
"""


@dataclass
class _Cursor:
    """Where a follower is: ``seen`` (see the module docstring), and while a window is
    open, the window's snapshot and the last ``(tx, id)`` read in it."""

    seen: str
    window: str | None = None
    tx: str = "0"
    id: int = 0

    def params(self, limit: int) -> dict[str, Any]:
        return {"seen": self.seen, "window": self.window, "tx": self.tx, "id": self.id,
                "limit": limit}  # fmt: skip


class PostgresEvents:
    """The events part (see the module docstring)."""

    def __init__(self, db: Database, schema: str, listener: Listener) -> None:
        self._db = db
        self._listener = listener
        self._live = qualify(_LIVE, schema)
        self._window = qualify(_WINDOW, schema)
        self._replay = qualify(_REPLAY, schema)
        self._samples = qualify(_SAMPLES, schema)
        self._prune = qualify(_PRUNE, schema)

    def follow(
        self, since: datetime | None = None, *, idle_timeout: float | None = None
    ) -> Iterator[JobEvent]:
        """The snapshot is taken here, not at the first ``next()``."""
        row = self._db.fetch_one("follow the event log", "SELECT pg_current_snapshot()::text")
        assert row is not None
        return self._follow(str(row[0]), since, idle_timeout)

    def _follow(
        self, start: str, since: datetime | None, idle_timeout: float | None
    ) -> Iterator[JobEvent]:
        if since is not None:
            yield from self._replayed(start, since)
        cursor = _Cursor(seen=start)
        deadline = None if idle_timeout is None else time.monotonic() + idle_timeout
        while True:
            mark = self._listener.events_seen
            polled, more = self._poll(cursor)
            fresh = [e for e in polled if since is None or e.at >= since]
            if fresh:
                yield from fresh
                if idle_timeout is not None:
                    deadline = time.monotonic() + idle_timeout
            if fresh or more:
                continue
            wait = POLL if deadline is None else min(POLL, deadline - time.monotonic())
            if wait <= 0:
                return
            self._listener.wait_for_event(mark, wait)

    def _replayed(self, start: str, since: datetime) -> Iterator[JobEvent]:
        cursor = _Cursor(seen=start, window=start)
        while True:
            rows = self._db.fetch(
                "replay the event log", self._replay, {**cursor.params(_PAGE), "since": since}
            )
            yield from (_event(row) for row in rows)
            if len(rows) < _PAGE:
                return
            cursor.tx, cursor.id = rows[-1][0], rows[-1][1]

    def _poll(self, cursor: _Cursor) -> tuple[list[JobEvent], bool]:
        """One page of events not seen yet, and whether to read on at once; moves the
        cursor past them."""
        windowed = cursor.window is not None
        query = self._window if windowed else self._live
        rows = self._db.fetch("follow the event log", query, cursor.params(_PAGE))
        if len(rows) == _PAGE:  # more to read under this snapshot: keep it as the window
            cursor.window, cursor.tx, cursor.id = rows[-1][7], rows[-1][0], rows[-1][1]
        elif windowed:  # the window is read: all it sees is seen
            cursor.seen, cursor.window = cursor.window or cursor.seen, None
        elif rows:
            cursor.seen = rows[-1][7]
        return [_event(row) for row in rows], windowed or len(rows) == _PAGE

    def samples(self, since: datetime, until: datetime | None = None) -> Iterator[Sample]:
        """Read from the columns beside each event: no job document is decoded."""
        rows = self._db.fetch("read the event log", self._samples, {"since": since, "until": until})
        return iter([Sample(r[0], r[1], r[2].astimezone(UTC), r[3] or 0, r[4], r[5]) for r in rows])

    def prune(self) -> int:
        """Drop events older than RETENTION by the server's clock; how many went."""
        return self._db.run("prune the event log", self._prune, {"keep": RETENTION})


def _event(row: Row) -> JobEvent:
    _, _, event, job_id, job_type, at, doc, _ = row
    job = documents.decode_document(doc, f"event of job {job_id}")
    return JobEvent(event, job_id, job_type, at.astimezone(UTC), job)
