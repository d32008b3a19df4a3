"""The cancels part: a request is three columns of the running job's row.

A request names the attempt it is for (its number and start, the columns a claim
writes), so it never reaches a later attempt; any change of status clears it (see
``jobs``), and so does a claim. A heartbeat keeps it: the worker reads it with
``get`` at each beat, and the NOTIFY it sends wakes that worker's handle at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ...backend import CancelRequest
from ...job import RunningJob
from . import documents
from .database import Database
from .listener import CANCEL, EVENT
from .sql import qualify

_REQUEST = f"""
WITH asked AS (
    UPDATE jq_jobs SET cancel_requested = true, cancel_reason = %(reason)s,
        cancel_at = %(at)s, updated_at = clock_timestamp()
    WHERE id = %(job_id)s AND status = 'running' AND attempt = %(attempt)s
      AND started_at = %(started_at)s
    RETURNING id
), recorded AS (
    INSERT INTO jq_events (event, job_id, job_type, at, retry_count, document)
    SELECT 'cancelling', a.id, %(job_type)s, %(at)s, %(retry_count)s, %(event_doc)s
    FROM asked a
)
SELECT a.id, pg_notify(%(channel)s, '{CANCEL}'), pg_notify(%(channel)s, '{EVENT}') FROM asked a
"""
_GET = """
SELECT cancel_reason, cancel_at FROM jq_jobs
WHERE id = %s AND status = 'running' AND cancel_requested
"""


class PostgresCancels:
    """The cancels part (see the module docstring)."""

    def __init__(self, db: Database, schema: str, channel: str) -> None:
        self._db = db
        self._channel = channel
        self._request = qualify(_REQUEST, schema)
        self._get = qualify(_GET, schema)

    def request(self, job: RunningJob, reason: str | None, now: datetime) -> bool:
        """The ``cancelling`` event carries ``job`` as the caller saw it."""
        row = documents.row_of(job)
        event = documents.event_row("cancelling", job, now, row.document)
        params = event.params() | {
            "reason": reason,
            "attempt": row.attempt,
            "started_at": row.started_at,
            "channel": self._channel,
        }
        found = self._db.fetch_one(f"ask job {row.id} to stop", self._request, params)
        return found is not None

    def get(self, job_id: str) -> CancelRequest | None:
        row = self._db.fetch_one(f"read the cancel request of job {job_id}", self._get, (job_id,))
        if row is None:
            return None
        reason, at = row
        return CancelRequest(reason, at.astimezone(UTC))
