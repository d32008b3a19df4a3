"""A job event as one JSON object: what ``jobqueue events --json`` prints per line and
the dashboard's ``/events.ndjson`` download streams, so both carry the same keys:
``event``, ``job_id``, ``job_type``, ``at`` (the job files' time format) and ``job`` (the
job's document, through a caller's ``view``: the dashboard's redaction)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from .codec import format_time, to_document
from .events import JobEvent
from .job import Job

#: Given a job, its document as the reader may see it.
View = Callable[[Job], Mapping[str, Any]]


def event_document(event: JobEvent, view: View = to_document) -> dict[str, Any]:
    """The event as a dict of JSON values."""
    return {"event": event.event, "job_id": event.job_id, "job_type": event.job_type,
            "at": format_time(event.at), "job": view(event.job)}  # fmt: skip


def dump_event(event: JobEvent, view: View = to_document) -> bytes:
    """The event as one line of JSON, without its newline."""
    return orjson.dumps(event_document(event, view))
