"""The workers part's contract: a registry of ``WorkerRecord``s, by name, that every
handle sees; records round-trip exactly (aware times, the jobs each worker runs)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone
from typing import Any

from conftest import START

from jobqueue.backend import Backend, WorkerRecord

from .conftest import Opener

PARIS = timezone(timedelta(hours=1))


def record(name: str, **fields: Any) -> WorkerRecord:
    """A worker that has run for a minute, with every field set unlike its default."""
    fields.setdefault("host", "host-1")
    fields.setdefault("pid", 4242)
    fields.setdefault("pid_started", 1234.5)
    fields.setdefault("started_at", START.astimezone(PARIS))
    fields.setdefault("heartbeat_at", START + timedelta(seconds=60, microseconds=7))
    fields.setdefault("concurrency", 4)
    fields.setdefault("running", ("job-000001", "job-000002"))
    fields.setdefault("stale_after", 12.5)
    fields.setdefault("types", ("email", "resize"))
    return WorkerRecord(name=name, **fields)


def test_a_record_reads_back_equal_through_another_handle(open_handle: Opener) -> None:
    writer, reader = open_handle(), open_handle()
    worker = record("w-1")

    writer.workers.put(worker)

    assert reader.workers.all() == [worker]
    [back] = reader.workers.all()
    assert back.started_at.utcoffset() is not None  # aware, in whatever zone it comes back


def test_a_record_with_defaults_reads_back_equal(backend: Backend) -> None:
    minimal = WorkerRecord(
        name="w", host="h", pid=1, pid_started=None, started_at=START, heartbeat_at=START,
        concurrency=1,
    )  # fmt: skip

    backend.workers.put(minimal)

    assert backend.workers.all() == [minimal]


def test_any_worker_name_is_kept_as_given(backend: Backend) -> None:
    names = ["worker/1 on host:a", ".hidden", "über-wörker", "a" * 300]
    for name in names:
        backend.workers.put(record(name))

    assert [r.name for r in backend.workers.all()] == sorted(names)


def test_all_is_sorted_by_name(backend: Backend) -> None:
    for name in ["w-b", "w-c", "w-a"]:
        backend.workers.put(record(name))

    assert [r.name for r in backend.workers.all()] == ["w-a", "w-b", "w-c"]


def test_put_replaces_the_record_of_that_name(backend: Backend) -> None:
    first = record("w-1")
    backend.workers.put(first)
    backend.workers.put(record("w-2"))
    beat = replace(first, heartbeat_at=first.heartbeat_at + timedelta(seconds=5), running=())

    backend.workers.put(beat)

    assert backend.workers.all() == [beat, record("w-2")]


def test_remove_forgets_the_worker_and_ignores_unknown_names(open_handle: Opener) -> None:
    writer, remover = open_handle(), open_handle()
    writer.workers.put(record("w-1"))
    writer.workers.put(record("w-2"))

    remover.workers.remove("w-1")
    remover.workers.remove("w-1")  # again: nothing to do
    remover.workers.remove("never-registered")

    assert writer.workers.all() == [record("w-2")]


def test_an_empty_registry_lists_nothing(backend: Backend) -> None:
    assert backend.workers.all() == []
