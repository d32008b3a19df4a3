"""Job <-> JSON bytes. The only module that knows the on-disk key names.

Decoding is strict (unknown keys, wrong types, a ``status`` that is not the directory's
name are all refused) because a job file is also a hand-editable document: a mistake
must surface as one clear ``InvalidJob`` naming the file and the key, never as a
half-read job. ``job.schema.json`` says the same thing for ``jq`` and editors; the
tests check that every document written here validates against it.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from .errors import InvalidJob
from .ids import check_id, check_type
from .job import (
    STATUSES,
    Attempt,
    CancelledJob,
    CompleteJob,
    ErrorInfo,
    FailedJob,
    Job,
    JSONValue,
    Metadata,
    Params,
    PendingJob,
    Progress,
    RunningJob,
    Status,
    WorkerInfo,
)

# job.schema.json's "time", with the offset optional so a naive time gets its own message.
_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?", re.ASCII)
_COMMON = ("status", "metadata", "params", "attempts")
_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    # status: (required keys beyond the common ones, optional keys)
    "pending": (set(), set()),
    "running": ({"started_at", "heartbeat_at", "worker"}, {"progress"}),
    "complete": ({"started_at", "completed_at"}, {"result"}),
    "failed": ({"failed_at", "error"}, set()),
    "cancelled": ({"cancelled_at"}, {"reason"}),
}


# --- encoding -----------------------------------------------------------------------


def format_time(at: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, to the microsecond: sorts as text."""
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode(job: Job) -> bytes:
    """The job file's bytes: pretty-printed UTF-8 JSON ending in a newline."""
    return orjson.dumps(to_document(job), option=orjson.OPT_INDENT_2) + b"\n"


def to_document(job: Job) -> dict[str, Any]:
    """The job as the JSON object of its file (what ``show --json`` prints)."""
    doc: dict[str, Any] = {
        "status": job.status,
        "metadata": _metadata_doc(job.metadata),
        "params": job.params,
        "attempts": [_attempt_doc(a) for a in job.attempts],
    }
    match job:
        case RunningJob():
            doc["started_at"] = format_time(job.started_at)
            doc["heartbeat_at"] = format_time(job.heartbeat_at)
            doc["worker"] = _worker_doc(job.worker)
            doc["progress"] = _progress_doc(job.progress)
        case CompleteJob():
            doc["started_at"] = format_time(job.started_at)
            doc["completed_at"] = format_time(job.completed_at)
            doc["result"] = job.result
        case FailedJob():
            doc["failed_at"] = format_time(job.failed_at)
            doc["error"] = _error_doc(job.error)
        case CancelledJob():
            doc["cancelled_at"] = format_time(job.cancelled_at)
            doc["reason"] = job.reason
    return doc


def _metadata_doc(m: Metadata) -> dict[str, Any]:
    return {
        "id": m.id,
        "type": m.type,
        "created": format_time(m.created),
        "run_at": format_time(m.run_at),
        "priority": m.priority,
        "retry_count": m.retry_count,
        "max_retries": m.max_retries,
        "timeout": m.timeout,
        "unique_key": m.unique_key,
        "user_id": m.user_id,
    }


def _worker_doc(w: WorkerInfo) -> dict[str, Any]:
    return {"name": w.name, "host": w.host, "pid": w.pid, "pid_started": w.pid_started}


def _progress_doc(p: Progress | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"percentage": p.percentage, "stage": p.stage, "message": p.message}


def _error_doc(e: ErrorInfo | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"type": e.type, "message": e.message, "traceback": e.traceback}


def _attempt_doc(a: Attempt) -> dict[str, Any]:
    return {
        "started_at": format_time(a.started_at),
        "ended_at": format_time(a.ended_at),
        "worker": _worker_doc(a.worker),
        "error": _error_doc(a.error),
    }


# --- decoding -----------------------------------------------------------------------


class _Reader:
    """Typed access to one JSON object; every complaint names the key's full path."""

    def __init__(self, doc: object, path: str) -> None:
        if not isinstance(doc, dict):
            raise InvalidJob(f"{path or 'document'}: expected an object")
        self.doc: dict[str, Any] = doc
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def only(self, required: set[str], optional: set[str] | None = None) -> None:
        missing = required - self.doc.keys()
        if missing:
            raise InvalidJob(f"missing key {self.where(sorted(missing)[0])!r}")
        extra = self.doc.keys() - required - (optional or set())
        if extra:
            raise InvalidJob(f"unknown key {self.where(sorted(extra)[0])!r}")

    def get(self, key: str, kind: type | tuple[type, ...], nullable: bool = False) -> Any:
        value = self.doc.get(key)
        if value is None and nullable:
            return None
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            value = object()  # a bool is an int to Python, never to us
        if not isinstance(value, kind):
            names = " or ".join(t.__name__ for t in _as_tuple(kind))
            raise InvalidJob(
                f"{self.where(key)!r} must be {names}" + (" or null" if nullable else "")
            )
        return value

    def time(self, key: str) -> datetime:
        text = self.get(key, str)
        try:
            at = _parse_time(text)
        except (ValueError, OverflowError):
            raise InvalidJob(f"{self.where(key)!r} is not an ISO 8601 time: {text!r}") from None
        if at.tzinfo is None:
            raise InvalidJob(f"{self.where(key)!r} has no timezone: {text!r}")
        return at

    def sub(self, key: str) -> _Reader:
        return _Reader(self.doc.get(key), self.where(key))


def _parse_time(text: str) -> datetime:
    """Only the schema's time format: fromisoformat alone also takes ``2030-01-01 00:00``.
    OverflowError when the offset pushes the instant past year 1 or 9999."""
    if not _TIME_RE.fullmatch(text):
        raise ValueError(text)
    at = datetime.fromisoformat(text)
    return at if at.tzinfo is None else at.astimezone(UTC)


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def decode(data: bytes, *, source: str = "job file", expect: Status | None = None) -> Job:
    """Parse a job file's bytes; InvalidJob naming ``source`` and what is wrong."""
    try:
        doc = orjson.loads(data)
        return from_document(doc, expect=expect)
    except orjson.JSONDecodeError as e:
        raise InvalidJob(f"{source}: not valid JSON ({e})") from None
    except InvalidJob as e:
        raise InvalidJob(f"{source}: {e}") from None


def from_document(doc: object, *, expect: Status | None = None) -> Job:
    """Build a Job from a parsed JSON object (strict: see the module docstring)."""
    r = _Reader(doc, "")
    status = r.get("status", str)
    if status not in STATUSES:
        raise InvalidJob(f"unknown status {status!r}")
    if expect is not None and status != expect:
        raise InvalidJob(f"status {status!r} does not match its directory {expect!r}")
    required, optional = _FIELDS[status]
    r.only(set(_COMMON) | required, optional)
    common = {
        "metadata": _metadata(r.sub("metadata")),
        "params": _params(r),
        "attempts": _attempts(r),
    }
    return _BUILDERS[status](r, common)


def _metadata(r: _Reader) -> Metadata:
    keys = {"id", "type", "created", "run_at", "priority", "retry_count", "max_retries"}
    r.only(keys, {"timeout", "unique_key", "user_id"})
    try:
        job_id, job_type = check_id(r.get("id", str)), check_type(r.get("type", str))
    except InvalidJob as e:
        raise InvalidJob(f"metadata: {e}") from None
    return Metadata(
        id=job_id,
        type=job_type,
        created=r.time("created"),
        run_at=r.time("run_at"),
        priority=r.get("priority", int),
        retry_count=_count(r, "retry_count"),
        max_retries=_count(r, "max_retries"),
        timeout=_timeout(r),
        unique_key=r.get("unique_key", str, nullable=True),
        user_id=r.get("user_id", str, nullable=True),
    )


def _count(r: _Reader, key: str) -> int:
    value: int = r.get(key, int)
    if value < 0:
        raise InvalidJob(f"{r.where(key)!r} must not be negative")
    return value


def _timeout(r: _Reader) -> float | None:
    value = r.get("timeout", (int, float), nullable=True)
    if value is not None and value <= 0:
        raise InvalidJob(f"{r.where('timeout')!r} must be positive or null")
    return None if value is None else float(value)


def _params(r: _Reader) -> Params:
    params: Params = r.get("params", (dict, list))
    return params


def _attempts(r: _Reader) -> tuple[Attempt, ...]:
    items = r.get("attempts", list)
    return tuple(_attempt(_Reader(item, f"attempts[{i}]")) for i, item in enumerate(items))


def _attempt(r: _Reader) -> Attempt:
    r.only({"started_at", "ended_at", "worker", "error"})
    return Attempt(
        started_at=r.time("started_at"),
        ended_at=r.time("ended_at"),
        worker=_worker(r.sub("worker")),
        error=None if r.doc["error"] is None else _error(r.sub("error")),
    )


def _worker(r: _Reader) -> WorkerInfo:
    r.only({"name", "host", "pid"}, {"pid_started"})
    return WorkerInfo(
        name=r.get("name", str),
        host=r.get("host", str),
        pid=r.get("pid", int),
        pid_started=_optional_float(r, "pid_started"),
    )


def _optional_float(r: _Reader, key: str) -> float | None:
    value = r.get(key, (int, float), nullable=True)
    return None if value is None else float(value)


def _error(r: _Reader) -> ErrorInfo:
    r.only({"type", "message"}, {"traceback"})
    return ErrorInfo(
        type=r.get("type", str),
        message=r.get("message", str),
        traceback=r.get("traceback", str, nullable=True),
    )


def _progress(r: _Reader) -> Progress | None:
    if r.doc.get("progress") is None:
        return None
    p = r.sub("progress")
    p.only({"percentage"}, {"stage", "message"})
    return Progress(
        percentage=float(p.get("percentage", (int, float))),
        stage=p.get("stage", str, nullable=True),
        message=p.get("message", str, nullable=True),
    )


def _running(r: _Reader, common: dict[str, Any]) -> Job:
    return RunningJob(
        **common,
        started_at=r.time("started_at"),
        heartbeat_at=r.time("heartbeat_at"),
        worker=_worker(r.sub("worker")),
        progress=_progress(r),
    )


def _complete(r: _Reader, common: dict[str, Any]) -> Job:
    result: JSONValue = r.doc.get("result")
    return CompleteJob(
        **common,
        started_at=r.time("started_at"),
        completed_at=r.time("completed_at"),
        result=result,
    )


def _failed(r: _Reader, common: dict[str, Any]) -> Job:
    return FailedJob(**common, failed_at=r.time("failed_at"), error=_error(r.sub("error")))


def _cancelled(r: _Reader, common: dict[str, Any]) -> Job:
    return CancelledJob(
        **common, cancelled_at=r.time("cancelled_at"), reason=r.get("reason", str, nullable=True)
    )


def _pending(r: _Reader, common: dict[str, Any]) -> Job:
    return PendingJob(**common)


_BUILDERS = {
    "pending": _pending,
    "running": _running,
    "complete": _complete,
    "failed": _failed,
    "cancelled": _cancelled,
}


#: orjson's own nesting limit: deeper values (or a reference cycle) do not encode.
_MAX_DEPTH = 254


def to_json_value(value: object, what: str) -> JSONValue:
    """``value`` as it reads back from JSON (a tuple becomes a list), or InvalidJob naming
    the first thing in it that JSON cannot say and where: ``result is not JSON: Decimal at
    result["total"]``. Stricter than orjson, which writes NaN and infinities as null: a
    value silently changed is worse than one refused."""
    try:
        data = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError) as e:
        found = _json_problem(value, what, 0) or str(e)
        raise InvalidJob(f"{what} is not JSON: {found}") from None
    # A NaN or an infinity was written as null: only then is the walk worth its cost.
    if b"null" in data and (problem := _json_problem(value, what, 0)) is not None:
        raise InvalidJob(f"{what} is not JSON: {problem}")
    loaded: JSONValue = orjson.loads(data)
    return loaded


def _json_problem(value: object, path: str, depth: int) -> str | None:
    """The first value under ``value`` that JSON cannot say, and its path; None if none."""
    if depth > _MAX_DEPTH:
        return f"nested more than {_MAX_DEPTH} levels deep (a reference cycle?)"
    if isinstance(value, dict):
        return _dict_problem(value, path, depth)
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if (problem := _json_problem(item, f"{path}[{i}]", depth + 1)) is not None:
                return problem
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"float {value} at {path}"
    try:
        orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        kind = "int beyond 64 bits" if isinstance(value, int) else type(value).__name__
        return f"{kind} at {path}"
    return None


def _dict_problem(value: dict[Any, Any], path: str, depth: int) -> str | None:
    for key, item in value.items():
        if not isinstance(key, str):
            return f"dict key {key!r} ({type(key).__name__}) at {path}"
        problem = _json_problem(item, f"{path}[{orjson.dumps(key).decode()}]", depth + 1)
        if problem is not None:
            return problem
    return None


def loads_value(data: str | bytes, what: str) -> Any:
    """Parse user-supplied JSON (CLI params); InvalidJob with the parser's reason."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InvalidJob(f"{what} is not valid JSON: {e}") from None
