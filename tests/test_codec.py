"""codec: Job <-> job file bytes. Strict on the way in, and in step with job.schema.json."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from jobqueue import codec
from jobqueue.errors import InvalidJob
from jobqueue.job import (
    Attempt,
    CancelledJob,
    CompleteJob,
    ErrorInfo,
    FailedJob,
    Job,
    JSONValue,
    Metadata,
    PendingJob,
    Progress,
    RunningJob,
    WorkerInfo,
)
from jobqueue.schema import job_schema

T0 = datetime(2030, 1, 1, tzinfo=UTC)
WORKER = WorkerInfo(name="worker-a", host="host-1", pid=4242, pid_started=1234.0)
META = Metadata(id="job-000001", type="resize", created=T0, run_at=T0)
BOOM = ErrorInfo(type="ValueError", message="bad pixel", traceback="Traceback (most recent...)")
FAILED_TRY = Attempt(started_at=T0, ended_at=T0 + timedelta(seconds=2), worker=WORKER, error=BOOM)
GOOD_TRY = Attempt(started_at=T0, ended_at=T0 + timedelta(seconds=3), worker=WORKER)
LATER = T0 + timedelta(minutes=5)
FULL_META = replace(
    META, priority=-3, retry_count=2, max_retries=5, timeout=2.5, unique_key="k/1", user_id="u"
)
RUNNING = RunningJob(metadata=META, params={}, started_at=LATER, heartbeat_at=LATER, worker=WORKER)


def _complete(result: JSONValue) -> CompleteJob:
    return CompleteJob(metadata=META, params={}, started_at=T0, completed_at=LATER, result=result)


EXAMPLES: dict[str, Job] = {
    "pending": PendingJob(metadata=META, params={}),
    "pending, every option": PendingJob(metadata=FULL_META, params=[1, "a", None, {"b": [2.5]}]),
    "pending after attempts": PendingJob(
        metadata=META, params={"x": 1}, attempts=(FAILED_TRY, GOOD_TRY)
    ),
    "running": RUNNING,
    "running with progress": replace(
        RUNNING, progress=Progress(percentage=40.0, stage="resizing", message="a.png")
    ),
    "running, bare progress": replace(RUNNING, progress=Progress(percentage=0.0)),
    "complete, object": _complete({"width": 640, "tags": ["a", "b"]}),
    "complete, array": _complete([1, 2, 3]),
    "complete, string": _complete("done"),
    "complete, number": _complete(3.25),
    "complete, bool": _complete(True),
    "complete, null": _complete(None),
    "failed": FailedJob(
        metadata=META, params={}, attempts=(FAILED_TRY,), failed_at=LATER, error=BOOM
    ),
    "failed, no traceback": FailedJob(
        metadata=META, params={}, failed_at=LATER, error=ErrorInfo(type="E", message="m")
    ),
    "cancelled": CancelledJob(metadata=META, params={}, cancelled_at=LATER),
    "cancelled with reason": CancelledJob(
        metadata=META, params={}, attempts=(FAILED_TRY,), cancelled_at=LATER, reason="user asked"
    ),
}

VALIDATOR = Draft202012Validator(job_schema())


def schema_accepts(doc: object) -> bool:
    return VALIDATOR.is_valid(doc)


def document(job: Job) -> dict[str, Any]:
    """The job as plain parsed JSON, as it would read back from its file."""
    doc: dict[str, Any] = orjson.loads(codec.encode(job))
    return doc


# --- round trip and file format -----------------------------------------------------------


@pytest.mark.parametrize("job", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_a_job_decodes_to_what_was_encoded(job: Job) -> None:
    assert codec.decode(codec.encode(job), expect=job.status) == job


@pytest.mark.parametrize("job", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_every_example_validates_against_the_schema(job: Job) -> None:
    VALIDATOR.validate(document(job))


def test_times_are_written_in_utc_and_read_back_as_the_same_instant() -> None:
    paris_summer = datetime(2030, 7, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    job = PendingJob(metadata=replace(META, run_at=paris_summer), params={})
    assert document(job)["metadata"]["run_at"] == "2030-07-01T12:00:00.000000Z"
    decoded = codec.decode(codec.encode(job))
    assert decoded.metadata.run_at == paris_summer
    assert decoded.metadata.run_at.tzinfo == UTC


def test_a_job_file_is_pretty_printed_utf8_ending_in_a_newline() -> None:
    data = codec.encode(PendingJob(metadata=META, params={"name": "café ☕"}))
    assert data.startswith(b'{\n  "status": "pending",\n  "metadata": {\n    "id": ')
    assert data.endswith(b"}\n") and not data.endswith(b"\n\n")
    assert "café ☕".encode() in data  # UTF-8, not \u escapes


def test_common_and_metadata_keys_are_exactly_the_documented_ones() -> None:
    doc = document(EXAMPLES["pending"])
    assert list(doc) == ["status", "metadata", "params", "attempts"]
    assert set(doc["metadata"]) == {
        "id", "type", "created", "run_at", "priority", "retry_count",
        "max_retries", "timeout", "unique_key", "user_id",
    }  # fmt: skip


STATUS_KEYS = {
    "running with progress": {"started_at", "heartbeat_at", "worker", "progress"},
    "complete, object": {"started_at", "completed_at", "result"},
    "failed": {"failed_at", "error"},
    "cancelled with reason": {"cancelled_at", "reason"},
}


@pytest.mark.parametrize(("name", "keys"), STATUS_KEYS.items(), ids=STATUS_KEYS.keys())
def test_each_status_adds_exactly_its_documented_keys(name: str, keys: set[str]) -> None:
    doc = document(EXAMPLES[name])
    assert set(doc) - {"status", "metadata", "params", "attempts"} == keys


def test_nested_objects_have_exactly_the_documented_keys() -> None:
    running = document(EXAMPLES["running with progress"])
    failed = document(EXAMPLES["failed"])
    # pid_started is the pid-reuse guard the Reaping section asks for.
    assert set(running["worker"]) == {"name", "host", "pid", "pid_started"}
    assert set(running["progress"]) == {"percentage", "stage", "message"}
    assert set(failed["error"]) == {"type", "message", "traceback"}
    assert set(failed["attempts"][0]) == {"started_at", "ended_at", "worker", "error"}


# --- generated jobs -----------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}", fullmatch=True).filter(
    lambda s: ".." not in s
)
types = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.:-]{0,30}", fullmatch=True).filter(
    lambda s: ".." not in s
)
offsets = st.builds(timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: timedelta(minutes=m)))
times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1), timezones=offsets
)
finite = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text(max_size=20)
json_values: st.SearchStrategy[JSONValue] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | finite | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
params = st.dictionaries(texts, json_values, max_size=4) | st.lists(json_values, max_size=4)
workers = st.builds(
    WorkerInfo, name=texts, host=texts, pid=st.integers(0, 2**22), pid_started=st.none() | finite
)
errors = st.builds(ErrorInfo, type=texts, message=texts, traceback=st.none() | texts)
attempts = st.builds(
    Attempt, started_at=times, ended_at=times, worker=workers, error=st.none() | errors
)
metadata = st.builds(
    Metadata,
    id=names,
    type=types,
    created=times,
    run_at=times,
    priority=st.integers(-(2**31), 2**31),
    retry_count=st.integers(0, 100),
    max_retries=st.integers(0, 100),
    timeout=st.none() | st.floats(min_value=0.001, max_value=1e9),
    unique_key=st.none() | texts,
    user_id=st.none() | texts,
)
common = {"metadata": metadata, "params": params, "attempts": st.lists(attempts, max_size=3)}
progress = st.builds(
    Progress, percentage=finite, stage=st.none() | texts, message=st.none() | texts
)
jobs: st.SearchStrategy[Job] = st.one_of(
    st.builds(PendingJob, **common),
    st.builds(
        RunningJob,
        **common,
        started_at=times,
        heartbeat_at=times,
        worker=workers,
        progress=st.none() | progress,
    ),
    st.builds(CompleteJob, **common, started_at=times, completed_at=times, result=json_values),
    st.builds(FailedJob, **common, failed_at=times, error=errors),
    st.builds(CancelledJob, **common, cancelled_at=times, reason=st.none() | texts),
).map(lambda j: replace(j, attempts=tuple(j.attempts)))


@settings(max_examples=300, deadline=None)
@given(jobs)
def test_every_written_document_validates_and_reads_back(job: Job) -> None:
    data = codec.encode(job)
    VALIDATOR.validate(orjson.loads(data))
    assert codec.decode(data, expect=job.status) == job


# --- hostile files: the codec and the schema refuse them alike ----------------------------


def _at(doc: dict[str, Any], path: str) -> tuple[Any, str | int]:
    """The container holding ``path`` ("attempts.0.worker.pid") and the last key."""
    *parents, last = (int(p) if p.isdigit() else p for p in path.split("."))
    node: Any = doc
    for key in parents:
        node = node[key]
    return node, last


def put(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        parent, key = _at(doc, path)
        parent[key] = value

    return edit


def drop(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        parent, key = _at(doc, path)
        del parent[key]

    return edit


# A running job with one failed attempt: every nested object is there to break.
VICTIM = replace(EXAMPLES["running with progress"], attempts=(FAILED_TRY,), metadata=FULL_META)

HOSTILE: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "priority is a word": (put("metadata.priority", "high"), "'metadata.priority' must be int"),
    "pid is a string": (put("worker.pid", "4242"), "'worker.pid' must be int"),
    "bool for an int": (put("metadata.retry_count", True), "'metadata.retry_count' must be int"),
    "bool for a pid": (put("attempts.0.worker.pid", False), "'attempts[0].worker.pid' must be"),
    "negative count": (put("metadata.max_retries", -1), "'metadata.max_retries' must not be"),
    "zero timeout": (put("metadata.timeout", 0), "'metadata.timeout' must be positive"),
    "params a string": (put("params", "a.png"), "'params' must be dict or list"),
    "attempts an object": (put("attempts", {}), "'attempts' must be list"),
    "attempt not an object": (put("attempts.0", "x"), "attempts[0]: expected an object"),
    "worker is null": (put("worker", None), "worker: expected an object"),
    "error message null": (put("attempts.0.error.message", None), "'attempts[0].error.message'"),
    "missing status": (drop("status"), "'status' must be str"),
    "missing attempts": (drop("attempts"), "missing key 'attempts'"),
    "missing created": (drop("metadata.created"), "missing key 'metadata.created'"),
    "missing worker": (drop("worker"), "missing key 'worker'"),
    "missing worker pid": (drop("worker.pid"), "missing key 'worker.pid'"),
    "missing attempt error": (drop("attempts.0.error"), "missing key 'attempts[0].error'"),
    "extra top-level key": (put("owner", "me"), "unknown key 'owner'"),
    "extra metadata key": (put("metadata.colour", "red"), "unknown key 'metadata.colour'"),
    "extra worker key": (put("worker.uid", 0), "unknown key 'worker.uid'"),
    "extra progress key": (put("progress.eta", 3), "unknown key 'progress.eta'"),
    "extra attempt key": (put("attempts.0.note", ""), "unknown key 'attempts[0].note'"),
    "extra error key": (put("attempts.0.error.code", 1), "unknown key 'attempts[0].error.code'"),
    "unknown status": (put("status", "paused"), "unknown status 'paused'"),
    "keys of another status": (put("status", "complete"), "missing key 'completed_at'"),
    "naive created": (put("metadata.created", "2030-01-01T00:00:00"), "has no timezone"),
    "naive attempt end": (put("attempts.0.ended_at", "2030-01-01T00:00:00.5"), "no timezone"),
    "time with a space": (put("started_at", "2030-01-01 00:00:00Z"), "not an ISO 8601 time"),
    "time without seconds": (put("started_at", "2030-01-01T00:00Z"), "not an ISO 8601 time"),
    "basic-format time": (put("heartbeat_at", "20300101T000000Z"), "not an ISO 8601 time"),
    "offset without colon": (put("metadata.run_at", "2030-01-01T00:00:00+0000"), "ISO 8601"),
    "time a number": (put("metadata.run_at", 1893456000), "'metadata.run_at' must be str"),
    "id escapes": (put("metadata.id", "../x"), "metadata: invalid job id '../x'"),
    "id absolute": (put("metadata.id", "/etc/passwd"), "invalid job id"),
    "id with slash": (put("metadata.id", "a/b"), "invalid job id"),
    "id with NUL": (put("metadata.id", "a\x00b"), "invalid job id"),
    "id empty": (put("metadata.id", ""), "job id must be 1 to 128"),
    "id too long": (put("metadata.id", "a" * 129), "job id must be 1 to 128"),
    "type escapes": (put("metadata.type", "../resize"), "invalid job type"),
}


@pytest.mark.parametrize(("edit", "complaint"), HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_document_is_refused_by_codec_and_schema(
    edit: Callable[[dict[str, Any]], None], complaint: str
) -> None:
    doc = document(VICTIM)
    edit(doc)
    with pytest.raises(InvalidJob, match=r"^running/job-000001\.json: ") as refused:
        codec.decode(orjson.dumps(doc), source="running/job-000001.json")
    assert complaint in str(refused.value)
    assert not schema_accepts(doc)


@pytest.mark.parametrize("doc", [[], "job", None, 42], ids=["array", "string", "null", "number"])
def test_a_document_that_is_not_an_object_is_refused(doc: object) -> None:
    with pytest.raises(InvalidJob, match=r"^pending/a\.json: document: expected an object$"):
        codec.decode(orjson.dumps(doc), source="pending/a.json")
    assert not schema_accepts(doc)


@pytest.mark.parametrize(
    "data", [b"", b"{", codec.encode(RUNNING)[:-20], b"\xff\xfe{}", b'{"status": "pending",}']
)
def test_a_file_that_is_not_json_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidJob, match=r"^running/x\.json: not valid JSON"):
        codec.decode(data, source="running/x.json")


def test_a_status_that_is_not_its_directory_is_refused() -> None:
    data = codec.encode(EXAMPLES["pending"])
    with pytest.raises(InvalidJob) as refused:
        codec.decode(data, source="complete/job-000001.json", expect="complete")
    assert str(refused.value) == (
        "complete/job-000001.json: status 'pending' does not match its directory 'complete'"
    )


# The schema checks only the shape of a time; the codec also needs a real instant.
@pytest.mark.parametrize(
    "text",
    ["2030-02-30T00:00:00Z", "2030-01-01T25:00:00Z", "0001-01-01T00:00:00+01:00"],
    ids=["no such day", "no such hour", "before year 1 in UTC"],
)
def test_a_well_shaped_but_impossible_time_is_refused(text: str) -> None:
    doc = document(EXAMPLES["pending"])
    doc["metadata"]["created"] = text
    with pytest.raises(InvalidJob, match=r"'metadata\.created' is not an ISO 8601 time"):
        codec.decode(orjson.dumps(doc))


def test_optional_keys_may_be_left_out_of_a_hand_written_file() -> None:
    doc = document(EXAMPLES["running"])
    for key in ("timeout", "unique_key", "user_id"):
        del doc["metadata"][key]
    del doc["progress"], doc["worker"]["pid_started"]
    assert schema_accepts(doc)
    assert codec.decode(orjson.dumps(doc)) == replace(
        RUNNING, worker=replace(WORKER, pid_started=None)
    )
