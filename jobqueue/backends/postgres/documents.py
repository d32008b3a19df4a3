"""A job as a row of ``jq_jobs``, and back: the job's document split in two.

The document is byte for byte what the file backend writes (compact here, not indented):
``codec.to_document`` serialised by orjson. It is kept as text, not jsonb, because jsonb
reorders keys and turns ``1e16`` into an integer: what comes back must be the very job
that went in, or a compare-and-set could never match it. The text is split::

    '{"status":"' + status + '",' + body + tail + '}'

``body`` is metadata, params and attempts (what a heartbeat never changes, however big
the params); ``tail`` the keys only a status has (``started_at``, ``worker``, ``result``
...). So a claim writes a new tail in SQL without reading the body, and a heartbeat sends
a few hundred bytes. A compare-and-set compares the digests of both halves (and the
status), computed here, never by the server.

Pure: no SQL runs here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ... import codec
from ...events import EventName
from ...job import ENDED, Job, Metadata, PendingJob, RunningJob, Status, WorkerInfo, ended_at
from ...metrics import last_attempt_seconds, last_attempt_wait

_BODY_KEYS = ("metadata", "params", "attempts")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Stands in for a job when only a status's own keys are wanted (``running_tail``).
_ANY_META = Metadata(id="x", type="x", created=_EPOCH, run_at=_EPOCH)


def digest(text: str) -> bytes:
    """What a compare-and-set compares: 16 bytes of BLAKE2b."""
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def tail_digest(status: str, tail: str) -> bytes:
    """The tail's digest covers the status too: a move must name both."""
    return digest(f"{status}\n{tail}")


@dataclass(frozen=True, slots=True)
class Row:
    """The columns of ``jq_jobs`` for one job."""

    id: str
    status: Status
    type: str
    priority: int
    run_at: datetime
    unique_key: str | None
    attempt: int
    started_at: datetime | None
    ended_at: datetime | None
    body: str
    tail: str

    @property
    def body_digest(self) -> bytes:
        return digest(self.body)

    @property
    def tail_digest(self) -> bytes:
        return tail_digest(self.status, self.tail)

    @property
    def holds_key(self) -> bool:
        """A pending or running job holds its unique key."""
        return self.unique_key is not None and self.status not in ENDED

    @property
    def document(self) -> str:
        return document(self.status, self.body, self.tail)


def split(doc: dict[str, Any]) -> tuple[str, str]:
    """(body, tail) of a job document (see the module docstring)."""
    body = orjson.dumps({k: doc[k] for k in _BODY_KEYS}).decode()[1:-1]
    rest = {k: v for k, v in doc.items() if k != "status" and k not in _BODY_KEYS}
    tail = "," + orjson.dumps(rest).decode()[1:-1] if rest else ""
    return body, tail


def pending_body(job: PendingJob) -> str:
    """The body of a pending job, whose tail is empty: what ``split`` gives, with one
    serialisation and no copying (``add`` runs it for every job of a batch)."""
    doc = codec.to_document(job)
    del doc["status"]
    assert len(doc) == len(_BODY_KEYS), "a pending job's document is all body"
    return orjson.dumps(doc).decode()[1:-1]


def document(status: str, body: str, tail: str) -> str:
    return f'{{"status":"{status}",{body}{tail}}}'


def row_of(job: Job) -> Row:
    body, tail = split(codec.to_document(job))
    m = job.metadata
    started = job.started_at if isinstance(job, RunningJob) else None
    return Row(
        id=m.id,
        status=job.status,
        type=m.type,
        priority=m.priority,
        run_at=m.run_at,
        unique_key=m.unique_key,
        attempt=len(job.attempts) + (1 if isinstance(job, RunningJob) else 0),
        started_at=started,
        ended_at=ended_at(job),
        body=body,
        tail=tail,
    )


def running_tail(worker: WorkerInfo, now: datetime) -> str:
    """The tail of any job claimed by ``worker`` at ``now`` (``transitions.start``)."""
    job = RunningJob(metadata=_ANY_META, params={}, started_at=now, heartbeat_at=now, worker=worker)
    return split(codec.to_document(job))[1]


def decode(status: str, body: str, tail: str, source: str) -> Job:
    """The job a row holds; InvalidJob naming ``source`` when it is not one."""
    return decode_document(document(status, body, tail), source)


def decode_document(doc: str, source: str) -> Job:
    return codec.decode(doc.encode(), source=source)


def pending_of_body(body: str, source: str) -> PendingJob:
    """The pending job whose body this is (a claim reads only the body)."""
    job = decode("pending", body, "", source)
    assert isinstance(job, PendingJob)
    return job


@dataclass(frozen=True, slots=True)
class EventRow:
    """The columns of ``jq_events`` for one event (see jobqueue.metrics.Sample)."""

    event: EventName
    job_id: str
    job_type: str
    at: datetime
    retry_count: int
    duration_s: float | None
    wait_s: float | None
    document: str

    def params(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "job_id": self.job_id,
            "job_type": self.job_type,
            "at": self.at,
            "retry_count": self.retry_count,
            "duration_s": self.duration_s,
            "wait_s": self.wait_s,
            "event_doc": self.document,
        }


def event_row(event: EventName, job: Job, at: datetime, doc: str) -> EventRow:
    m = job.metadata
    return EventRow(event, m.id, m.type, at, m.retry_count, last_attempt_seconds(job),
                    last_attempt_wait(job), doc)  # fmt: skip
