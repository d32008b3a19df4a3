"""The jobs part: ``jq_jobs``, one row per job (see ``documents`` for the row).

Every change is one statement, data-modifying CTEs writing the job, its event and the
NOTIFY together, so a crash never leaves one without the other:

* ``add``: one ``INSERT ... SELECT FROM unnest(...)`` for the whole batch (the arrays
  sent in binary: five times faster to send than as text), all or
  nothing (a taken id fails the statement, so nothing is stored). A unique key is held
  by the partial unique index while its job is pending or running; a job whose key is
  held comes back as the holder, read in the same statement. Only a holder committed by
  another process after the statement's snapshot is looked up again, by a second
  statement. Jobs without a key skip ``ON CONFLICT`` and send nothing back.
* ``claim`` and ``claim_many``: ``FOR UPDATE SKIP LOCKED ... LIMIT n`` on the claim
  index, in priority, run_at, id order: concurrent claimers skip each other's rows
  instead of waiting, and exactly one wins each job; a worker with n free slots takes n
  jobs in one round trip. The rows' status and tail change in SQL; the body is never
  sent. A claim by type walks ``jq_jobs_claim_type`` (migration 2), once per type, so
  its plan never sorts the backlog nor walks past other types' jobs, whatever the
  statistics say (see ``queries.NEXT_OF_TYPES``).
* ``move`` and ``delete``: compare-and-set. The caller's ``old`` job is reduced to the
  digests of its two halves; the row changes only if both still match, else StaleJob.
  Every write of a job changes its tail (a heartbeat's time, an end), so a worker whose
  job was reaped, cancelled or claimed again by someone else can no longer write it: its
  copy names an attempt that is gone. That is the fence (the attempt number and start
  are part of what is compared), and it needs no clock.

Times are the caller's (``now`` arguments and the job's own times): see the backend's
docstring for why, and for the server clock the queue reads them from.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from ... import transitions
from ...backend import refuse_running
from ...errors import InvalidJob, StaleJob, StoreError
from ...events import event_name, event_time
from ...ids import check_id
from ...job import STATUSES, Job, PendingJob, RunningJob, Status, WorkerInfo
from . import documents, queries
from .database import Database, Row
from .documents import Row as JobRow
from .events import PostgresEvents
from .listener import EVENT, JOB
from .sql import fill, qualify

log = logging.getLogger(__name__)

_PAGE = 500
#: A unique key another process took or freed meanwhile: look again, a few times.
_KEY_RACES = 5
_PENDING_TAIL_DIGEST = documents.tail_digest("pending", "")
_DUPLICATE_ID = re.compile(r"\(id\)=\((.*)\) already exists")
#: How ``add`` found a job: ("id", its id) when stored, ("key", its key) when held.
_Found = tuple[str, str]


class PostgresJobs:
    """The jobs part (see the module docstring)."""

    def __init__(self, db: Database, schema: str, channel: str, events: PostgresEvents) -> None:
        self._db = db
        self._schema = schema
        self._channel = channel
        self._events = events
        self._add = qualify(queries.ADD, schema)
        #: By how many types a claim names: any (None), one, or several (2).
        self._claims = {
            count: qualify(fill(queries.CLAIM, next=next_), schema)
            for count, next_ in (
                (None, queries.NEXT_ANY),
                (1, queries.NEXT_OF_TYPE),
                (2, queries.NEXT_OF_TYPES),
            )
        }
        self._move = qualify(queries.MOVE, schema)
        self._record_move = qualify(queries.RECORD_MOVE, schema)
        self._delete = qualify(queries.DELETE, schema)
        self._get = qualify(queries.GET, schema)
        self._counts = qualify(queries.COUNTS, schema)
        self._oldest_due = qualify(queries.OLDEST_DUE, schema)
        self._next_due = {
            typed: qualify(fill(queries.NEXT_DUE, types=queries.TYPES if typed else ""), schema)
            for typed in (False, True)
        }
        self._scan = qualify("SELECT id, status, body, tail FROM jq_jobs", schema)

    # --- add ---------------------------------------------------------------------------

    def add(self, jobs: Sequence[PendingJob]) -> list[Job]:
        """A key repeated in the batch is the first job's: only that one is sent."""
        ids = [job.metadata.id for job in jobs]
        if len(set(ids)) != len(ids):
            taken = next(i for i in ids if ids.count(i) > 1)
            raise InvalidJob(f"job id {taken!r} is already taken")
        first: dict[str, PendingJob] = {}
        batch = [job for job in jobs if _first_with_key(job, first)]
        found = self._insert(batch)
        return [_result(job, first, found) for job in jobs]

    def _insert(self, batch: list[PendingJob]) -> dict[_Found, Job]:
        """What each job of ``batch`` resolved to: (``id``, its id) -> itself when it was
        stored, (``key``, its key) -> the holder when the key was held."""
        found: dict[_Found, Job] = {}
        todo = batch
        for _ in range(_KEY_RACES):
            if not todo:
                return found
            found.update(self._insert_once(todo))
            todo = [j for j in todo if _resolved(j, found) is None]
        raise StoreError(f"could not add jobs: the holders of {todo[0].metadata.unique_key!r} "
                         "kept changing")  # fmt: skip

    def _insert_once(self, batch: list[PendingJob]) -> dict[_Found, Job]:
        params = _add_params(batch) | {
            "tail_digest": _PENDING_TAIL_DIGEST,
            "channel": self._channel,
        }
        with self._db.connection("add jobs") as conn:
            try:
                answer = conn.execute(self._add, params).fetchall()
            except pg_errors.UniqueViolation as e:
                raise _taken(e) from None
        found: dict[_Found, Job] = {
            ("id", job.metadata.id): job for job in batch if job.metadata.unique_key is None
        }
        by_id = {job.metadata.id: job for job in batch}
        for kind, name, status, body, tail in answer:
            if kind == "id":
                found[kind, name] = by_id[name]
            elif kind == "key":
                found[kind, name] = documents.decode(status, body, tail, f"holder of key {name!r}")
        return found

    # --- import ------------------------------------------------------------------------

    def import_jobs(self, jobs: Sequence[Job]) -> list[bool]:
        """One ``INSERT ... ON CONFLICT (id) DO NOTHING`` for the batch, no event row.
        A pending job whose key is held (by a stored job, or one earlier in the batch)
        is stored with ``key_shared``, as a retry would be; a key taken by another
        process meanwhile fails the statement, which is then run again."""
        refuse_running(jobs)
        if not jobs:
            return []
        rows = [documents.row_of(job) for job in jobs]
        query = qualify(_IMPORT, self._schema)
        params = _import_params(rows) | {"channel": self._channel}
        for attempt in range(_KEY_RACES):
            with self._db.connection("import jobs") as conn:
                try:
                    inserted = {row[0] for row in conn.execute(query, params).fetchall()}
                    break
                except pg_errors.UniqueViolation:
                    if attempt == _KEY_RACES - 1:
                        raise
        return _first_of_each(rows, inserted)

    # --- reading -----------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        check_id(job_id)
        row = self._db.fetch_one(f"read job {job_id}", self._get, (job_id,))
        if row is None:
            return None
        return documents.decode(row[0], row[1], row[2], f"job {job_id}")

    def scan(
        self,
        statuses: Collection[Status],
        job_type: str | None = None,
        *,
        newest_first: bool = False,
        after: str | None = None,
    ) -> Iterator[Job]:
        """Pages of ``_PAGE`` jobs by id, each its own statement (no cursor is held open
        between them); the first page is read here, not at the first ``next()``."""
        wanted = [s for s in STATUSES if s in set(statuses)]
        if not wanted:
            return iter(())
        page = self._page(wanted, job_type, newest_first, after)
        return self._pages(page, wanted, job_type, newest_first)

    def _pages(
        self, page: list[Row], wanted: list[Status], job_type: str | None, newest_first: bool
    ) -> Iterator[Job]:
        while True:
            for job_id, status, body, tail in page:
                try:
                    yield documents.decode(status, body, tail, f"job {job_id}")
                except InvalidJob as e:
                    log.warning("skipping unreadable job: %s", e)
            if len(page) < _PAGE:
                return
            page = self._page(wanted, job_type, newest_first, page[-1][0])

    def _page(
        self, wanted: list[Status], job_type: str | None, newest_first: bool, after: str | None
    ) -> list[Row]:
        where = ["status = ANY(%(statuses)s::text[])"]
        if job_type is not None:
            where.append("type = %(type)s")
        if after is not None:
            where.append("id < %(after)s" if newest_first else "id > %(after)s")
        order = "DESC" if newest_first else ""
        query = f"{self._scan} WHERE {' AND '.join(where)} ORDER BY id {order} LIMIT {_PAGE}"
        params = {"statuses": wanted, "type": job_type, "after": after}
        return self._db.fetch("list jobs", query, params)

    def counts(self, now: datetime) -> Mapping[str, int]:
        rows = self._db.fetch("count jobs", self._counts, {"now": now})
        by_status = {status: (count, delayed) for status, count, delayed in rows}
        counts = {"pending": by_status.get("pending", (0, 0))[0]}
        counts["delayed"] = by_status.get("pending", (0, 0))[1]
        counts.update((s, by_status.get(s, (0, 0))[0]) for s in STATUSES[1:])
        counts["quarantined"] = 0  # a row is never unreadable the way a file can be
        counts["total"] = sum(counts[s] for s in STATUSES)
        return counts

    def oldest_due(self, now: datetime) -> datetime | None:
        row = self._db.fetch_one("read the oldest due job", self._oldest_due, {"now": now})
        return _utc(row[0] if row else None)

    def next_due(self, types: Collection[str] | None = None) -> datetime | None:
        if types is not None and not types:
            return None
        query = self._next_due[types is not None]
        params = {"types": None if types is None else sorted(types)}
        row = self._db.fetch_one("read the next due job", query, params)
        return _utc(row[0] if row else None)

    # --- claiming ----------------------------------------------------------------------

    def claim(
        self, worker: WorkerInfo, now: datetime, types: Collection[str] | None = None
    ) -> RunningJob | None:
        claimed = self.claim_many(worker, now, 1, types)
        return claimed[0] if claimed else None

    def claim_many(
        self, worker: WorkerInfo, now: datetime, limit: int, types: Collection[str] | None = None
    ) -> list[RunningJob]:
        """One statement claims them all (``LIMIT``), in claim order."""
        if limit < 1 or (types is not None and not types):
            return []
        tail = documents.running_tail(worker, now)
        named = None if types is None else sorted(types)
        params = {
            "now": now,
            "tail": tail,
            "tail_digest": documents.tail_digest("running", tail),
            "types": named,
            "type": named[0] if named else None,
            "channel": self._channel,
            "limit": limit,
        }
        query = self._claims[None if named is None else min(len(named), 2)]
        rows = self._db.fetch("claim jobs", query, params)
        return [
            transitions.start(documents.pending_of_body(body, f"job {job_id}"), worker, now)
            for job_id, body, _ in rows
        ]

    # --- changing ----------------------------------------------------------------------

    def move(self, old: Job, new: Job) -> None:
        if old.metadata.id != new.metadata.id:
            raise ValueError("move() keeps the id")
        before, after = documents.row_of(old), documents.row_of(new)
        event = event_name(old, new)
        query = self._move_query(before.body != after.body, event is not None, new)
        params = _move_params(before, after) | {"channel": self._channel}
        if event is not None:
            at = event_time(event, new)
            params |= documents.event_row(event, new, at, "").params()
        if not self._move_with_key_races(query, params, old):
            raise StaleJob(old.metadata.id, old.status)

    def _move_with_key_races(self, query: str, params: dict[str, Any], old: Job) -> bool:
        """A job back in pending may meet another that took its key meanwhile: the next
        try shares the key. The last try lets the error out (a StoreError)."""
        for _ in range(_KEY_RACES - 1):
            try:
                return self._moved(query, params, old, key_race=True)
            except _KeyTaken:
                continue
        return self._moved(query, params, old, key_race=False)

    def _moved(self, query: str, params: dict[str, Any], old: Job, *, key_race: bool) -> bool:
        with self._db.connection(f"move job {old.metadata.id}") as conn:
            try:
                return conn.execute(query, params).fetchone() is not None
            except pg_errors.UniqueViolation as e:
                if key_race:
                    raise _KeyTaken from e
                raise

    def _move_query(self, body_changed: bool, recorded: bool, new: Job) -> str:
        notify = []
        if recorded:
            notify.append(f", pg_notify(%(channel)s, '{EVENT}')")
        if isinstance(new, PendingJob):
            notify.append(f", pg_notify(%(channel)s, '{JOB}')")
        return fill(
            self._move,
            body="%(body)s" if body_changed else "body",
            recorded=self._record_move if recorded else "",
            notify="".join(notify),
        )

    def delete(self, job: Job) -> None:
        row = documents.row_of(job)
        params = {"id": row.id, "body_digest": row.body_digest, "tail_digest": row.tail_digest}
        if not self._db.run(f"delete job {row.id}", self._delete, params):
            raise StaleJob(row.id, job.status)

    # --- upkeep --------------------------------------------------------------------------

    def recover(self) -> None:
        """Nothing a crash leaves needs repair (each change is one transaction); the
        event log's old rows go here, since every worker calls this periodically."""
        self._events.prune()

    def flush(self) -> None:
        """Every write is committed when it returns: nothing is deferred."""


#: ``import_jobs``: ids already stored are left out before the key ranks are computed,
#: so a skipped job never makes the next one with its key share it.
_IMPORT = f"""
WITH input AS (
    SELECT * FROM unnest(
        %(ids)s::text[], %(statuses)s::text[], %(types)s::text[], %(priorities)s::integer[],
        %(run_ats)s::timestamptz[], %(keys)s::text[], %(attempts)s::integer[],
        %(started_ats)s::timestamptz[], %(ended_ats)s::timestamptz[], %(bodies)s::text[],
        %(tails)s::text[], %(body_digests)s::bytea[], %(tail_digests)s::bytea[]
    ) WITH ORDINALITY AS i(id, status, type, priority, run_at, unique_key, attempt,
                           started_at, ended_at, body, tail, body_digest, tail_digest, n)
    WHERE NOT EXISTS (SELECT 1 FROM jq_jobs x WHERE x.id = i.id)
), ranked AS (
    SELECT i.*,
           i.unique_key IS NOT NULL AND i.status IN {queries.HOLDERS} AND (
               row_number() OVER (PARTITION BY i.unique_key, i.status IN {queries.HOLDERS}
                                  ORDER BY i.n) > 1
               OR EXISTS (SELECT 1 FROM jq_jobs o
                          WHERE o.unique_key = i.unique_key AND o.status IN {queries.HOLDERS}
                            AND NOT o.key_shared)) AS key_shared
    FROM input i
), inserted AS (
    INSERT INTO jq_jobs (id, status, type, priority, run_at, unique_key, key_shared, attempt,
                         started_at, ended_at, body, tail, body_digest, tail_digest)
    SELECT id, status, type, priority, run_at, unique_key, key_shared, attempt,
           started_at, ended_at, body, tail, body_digest, tail_digest
    FROM ranked ORDER BY n
    ON CONFLICT (id) DO NOTHING
    RETURNING id, status
)
SELECT id, CASE WHEN status = 'pending' THEN pg_notify(%(channel)s, '{JOB}') END
FROM inserted
"""


def _import_params(rows: list[JobRow]) -> dict[str, Any]:
    return {
        "ids": [r.id for r in rows],
        "statuses": [r.status for r in rows],
        "types": [r.type for r in rows],
        "priorities": [r.priority for r in rows],
        "run_ats": [r.run_at for r in rows],
        "keys": [r.unique_key for r in rows],
        "attempts": [r.attempt for r in rows],
        "started_ats": [r.started_at for r in rows],
        "ended_ats": [r.ended_at for r in rows],
        "bodies": [r.body for r in rows],
        "tails": [r.tail for r in rows],
        "body_digests": [r.body_digest for r in rows],
        "tail_digests": [r.tail_digest for r in rows],
    }


def _first_of_each(rows: list[JobRow], inserted: set[str]) -> list[bool]:
    """True for the first row of each inserted id (a repeated id was skipped)."""
    seen: set[str] = set()
    stored = []
    for row in rows:
        stored.append(row.id in inserted and row.id not in seen)
        seen.add(row.id)
    return stored


class _KeyTaken(Exception):
    """A move back into pending met the unique index: another job took the key."""


def _first_with_key(job: PendingJob, first: dict[str, PendingJob]) -> bool:
    """Whether ``job`` is the first of the batch with its key (or has none)."""
    key = job.metadata.unique_key
    if key is None:
        return True
    return first.setdefault(key, job) is job


def _resolved(job: PendingJob, found: dict[_Found, Job]) -> Job | None:
    """``job`` itself if it was stored, else the holder of its key, if known yet."""
    stored = found.get(("id", job.metadata.id))
    key = job.metadata.unique_key
    return stored if stored is not None or key is None else found.get(("key", key))


def _result(job: PendingJob, first: dict[str, PendingJob], found: dict[_Found, Job]) -> Job:
    """What ``add`` returns for ``job``: the first job of the batch with its key stands
    for every later one."""
    key = job.metadata.unique_key
    result = _resolved(first[key] if key is not None else job, found)
    assert result is not None  # _insert resolved every job or raised
    return result


def _add_params(batch: list[PendingJob]) -> dict[str, Any]:
    """The columns of ``ADD``, one array each."""
    metas = [job.metadata for job in batch]
    bodies = [documents.pending_body(job) for job in batch]
    return {
        "ids": [m.id for m in metas],
        "types": [m.type for m in metas],
        "priorities": [m.priority for m in metas],
        "run_ats": [m.run_at for m in metas],
        "keys": [m.unique_key for m in metas],
        "attempts": [len(job.attempts) for job in batch],
        "bodies": bodies,
        "body_digests": [documents.digest(body) for body in bodies],
        "ats": [m.created for m in metas],
        "retry_counts": [m.retry_count for m in metas],
    }


def _move_params(before: JobRow, after: JobRow) -> dict[str, Any]:
    return {
        "id": after.id,
        "status": after.status,
        "priority": after.priority,
        "run_at": after.run_at,
        "unique_key": after.unique_key,
        "holds_key": after.holds_key,
        "attempt": after.attempt,
        "started_at": after.started_at,
        "ended_at": after.ended_at,
        "body": after.body,
        "body_digest": after.body_digest,
        "tail": after.tail,
        "tail_digest": after.tail_digest,
        "old_body_digest": before.body_digest,
        "old_tail_digest": before.tail_digest,
    }


def _taken(e: psycopg.Error) -> InvalidJob:
    """An INSERT that met a taken id: the statement stored nothing."""
    found = _DUPLICATE_ID.search(e.diag.message_detail or "")
    return InvalidJob(f"job id {found.group(1)!r} is already taken" if found else
                      "a job id of this batch is already taken")  # fmt: skip


def _utc(at: datetime | None) -> datetime | None:
    return None if at is None else at.astimezone(UTC)
