"""The PostgreSQL backend's job rows, without a server: a job split into body and tail
comes back as the very document the file backend writes, for every status."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import postgres_cluster
import pytest

from jobqueue import codec, transitions
from jobqueue.job import ErrorInfo, Job, Metadata, PendingJob, Progress, RunningJob, WorkerInfo

pytest.importorskip("psycopg", reason="the PostgreSQL backend needs jobqueue[postgres]")

from psycopg.conninfo import conninfo_to_dict

from jobqueue.backends.postgres import documents
from jobqueue.backends.postgres.url import parse
from jobqueue.errors import InvalidJob

T0 = datetime(2030, 1, 1, tzinfo=UTC)
WORKER = WorkerInfo(name="w", host="h", pid=7, pid_started=12.5)
BOOM = ErrorInfo(type="Boom", message="it broke", traceback="Traceback ...")


def every_status() -> dict[str, Job]:
    meta = Metadata(id="job-1", type="t", created=T0, run_at=T0, unique_key="k", max_retries=2)
    pending = PendingJob(metadata=meta, params={"z": 1, "a": [1e16, 0.1, "é"], "m": None})
    running = transitions.start(pending, WORKER, T0)
    halfway = transitions.heartbeat(running, T0, Progress(percentage=50.0, stage="s"))
    retrying = transitions.fail(halfway, BOOM, T0, timedelta(seconds=3))
    assert isinstance(retrying, PendingJob)
    again = transitions.start(retrying, WORKER, T0 + timedelta(seconds=3))
    return {
        "pending": pending,
        "running": halfway,
        "retrying": retrying,
        "complete": transitions.complete(again, {"ok": [1, 2]}, T0 + timedelta(seconds=4)),
        "failed": transitions.fail(again, BOOM, T0 + timedelta(seconds=4), None),
        "cancelled": transitions.cancel_running(again, "stop", T0 + timedelta(seconds=4)),
    }


@pytest.mark.parametrize("name", list(every_status()))
def test_a_row_holds_the_file_backends_document_and_decodes_to_the_same_job(name: str) -> None:
    job = every_status()[name]
    row = documents.row_of(job)

    assert row.document == orjson.dumps(codec.to_document(job)).decode()
    assert documents.decode(row.status, row.body, row.tail, "here") == job


def test_key_order_and_number_forms_survive_unlike_jsonb() -> None:
    job = every_status()["pending"]

    back = documents.decode_document(documents.row_of(job).document, "here")

    params: Any = back.params
    assert list(params) == ["z", "a", "m"]
    assert params == job.params
    assert isinstance(params["a"][0], float)


def test_the_claim_tail_is_the_tail_of_the_started_job() -> None:
    pending = every_status()["retrying"]
    assert isinstance(pending, PendingJob)
    started = transitions.start(pending, WORKER, T0)

    assert documents.running_tail(WORKER, T0) == documents.row_of(started).tail


def test_a_heartbeat_changes_the_tail_only_and_an_attempt_changes_both() -> None:
    jobs = every_status()
    running = jobs["running"]
    assert isinstance(running, RunningJob)
    beat = documents.row_of(replace(running, heartbeat_at=T0 + timedelta(seconds=1)))
    before = documents.row_of(running)

    assert (beat.body_digest, beat.tail_digest != before.tail_digest) == (before.body_digest, True)
    assert documents.row_of(jobs["retrying"]).body_digest != before.body_digest


def test_the_attempt_number_counts_the_running_attempt() -> None:
    jobs = every_status()

    assert [documents.row_of(jobs[s]).attempt for s in ("pending", "running", "retrying")] == [
        0,
        1,
        1,
    ]
    assert documents.row_of(jobs["complete"]).attempt == 2


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u@h/db?shema=x", "unknown option 'shema'"),
        ("postgresql://u@h/db?schema=a-b", "schema must be"),
        ("postgresql://u@h/db?schema=" + "s" * 49, "schema must be"),
        ("postgresql://u@h/db?listen=maybe", "listen must be true or false"),
    ],
)
def test_a_bad_url_is_refused_in_one_line(url: str, message: str) -> None:
    with pytest.raises(InvalidJob, match=message) as refused:
        parse(url)
    assert "\n" not in str(refused.value)


def test_url_options_are_ours_and_the_rest_is_libpqs() -> None:
    settings = parse("postgres://app:secret@db:6543/app?schema=jobs&listen=false&sslmode=prefer")

    assert (settings.schema, settings.migrate, settings.listen) == ("jobs", True, False)
    assert "schema" not in settings.conninfo and "sslmode=prefer" in settings.conninfo
    assert settings.location == "postgres://app@db:6543/app?schema=jobs&listen=false&sslmode=prefer"
    assert "secret" in settings.url
    assert parse("postgresql://db/app").schema == "jobqueue"


def test_a_url_with_no_host_keeps_libpqs_form() -> None:
    """``postgresql:///db?host=/socket/dir``: a unix socket, as libpq documents it."""
    settings = parse("postgresql:///app?host=/run/pg&user=me&schema=jobs")

    assert conninfo_to_dict(settings.conninfo) == {"dbname": "app", "host": "/run/pg", "user": "me"}


def test_without_postgresql_the_tests_skip_in_one_line_unless_ci_requires_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(postgres_cluster.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="need initdb on PATH or JOBQUEUE_TEST"):
        postgres_cluster.give_up(postgres_cluster.SKIP)

    monkeypatch.setenv(postgres_cluster.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="JOBQUEUE_REQUIRE_POSTGRES=1"):
        postgres_cluster.give_up(postgres_cluster.SKIP)


def test_a_cluster_that_would_not_start_fails_rather_than_skips() -> None:
    with pytest.raises(pytest.fail.Exception, match="initdb failed"):
        postgres_cluster.give_up("could not start a PostgreSQL cluster: initdb failed")
