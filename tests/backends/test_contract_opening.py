"""How a store is reached again: ``url`` (another process's view, through
``open_backend``), ``reopen()`` (a forked child's handle), ``location`` and
``process_local`` (a store only this process sees is reached as itself)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobqueue import JobQueue
from jobqueue.backend import Backend, open_backend

from .helpers import MakeJob


@pytest.fixture
def from_url(backend: Backend) -> Iterator[Backend]:
    """The store ``open_backend(backend.url)`` opens."""
    other = open_backend(backend.url)
    yield other
    other.close()


@pytest.fixture
def reopened(backend: Backend) -> Iterator[Backend]:
    handle = backend.reopen()
    yield handle
    handle.close()


def test_the_url_opens_a_store_at_the_same_location(backend: Backend, from_url: Backend) -> None:
    assert from_url.location == backend.location
    assert from_url.process_local == backend.process_local


def test_a_shared_store_opened_from_its_url_is_the_same_store(
    backend: Backend, from_url: Backend, make_job: MakeJob
) -> None:
    if backend.process_local:
        pytest.skip("a process-local store cannot be reached from another handle's URL")
    here, there = make_job(), make_job()

    backend.jobs.add([here])
    from_url.jobs.add([there])

    assert from_url.jobs.get(here.metadata.id) == here
    assert backend.jobs.get(there.metadata.id) == there


def test_a_process_local_store_reopens_as_itself(backend: Backend) -> None:
    if not backend.process_local:
        pytest.skip("a shared store reopens as a new handle")

    assert backend.reopen() is backend


def test_a_reopened_handle_sees_the_same_store(
    backend: Backend, reopened: Backend, make_job: MakeJob
) -> None:
    here, there = make_job(), make_job()

    backend.jobs.add([here])
    reopened.jobs.add([there])

    assert reopened.jobs.get(here.metadata.id) == here
    assert backend.jobs.get(there.metadata.id) == there


def test_closing_a_reopened_handle_leaves_the_first_one_working(
    backend: Backend, make_job: MakeJob
) -> None:
    job = make_job()
    backend.reopen().close()

    backend.jobs.add([job])

    assert backend.jobs.get(job.metadata.id) == job


def test_a_queue_takes_its_clock_from_its_backend_unless_given_one(backend: Backend) -> None:
    """On a database shared by many hosts that is the server's time (see its tests)."""
    assert JobQueue(backend).clock is backend.clock
    assert backend.clock.now().utcoffset() is not None
