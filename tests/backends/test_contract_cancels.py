"""The cancels part's contract: a request reaches the attempt it names, and only it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from conftest import FakeClock

from jobqueue import transitions
from jobqueue.backend import Backend, CancelRequest, JobStore
from jobqueue.job import RunningJob

from .conftest import Opener
from .helpers import BOOM, MakeJob, claim, complete


def test_a_request_on_a_running_job_is_kept_for_its_worker(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    backend.jobs.add([make_job()])
    running = claim(backend.jobs, clock)
    assert backend.cancels.get(running.metadata.id) is None

    assert backend.cancels.request(running, "user asked", clock.now())

    assert backend.cancels.get(running.metadata.id) == CancelRequest("user asked", clock.now())


def test_a_request_is_seen_through_another_handle(
    open_handle: Opener, make_job: MakeJob, clock: FakeClock
) -> None:
    asker, worker = open_handle(), open_handle()
    worker.jobs.add([make_job()])
    running = claim(worker.jobs, clock)

    assert asker.cancels.request(running, None, clock.now())

    assert worker.cancels.get(running.metadata.id) == CancelRequest(None, clock.now())


def test_get_of_a_job_without_a_request_is_none(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job()
    backend.jobs.add([job])

    assert backend.cancels.get(job.metadata.id) is None  # pending: nothing asked
    assert backend.cancels.get("job-999999") is None  # no such job


def test_a_heartbeat_does_not_hide_the_attempt_from_a_request(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    backend.jobs.add([make_job()])
    running = claim(backend.jobs, clock)
    clock.advance(3)
    backend.jobs.move(running, transitions.heartbeat(running, clock.now()))

    assert backend.cancels.request(running, None, clock.now())  # same attempt, older copy
    assert backend.cancels.get(running.metadata.id) == CancelRequest(None, clock.now())


def test_a_request_is_refused_once_the_attempt_ended(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    backend.jobs.add([make_job()])
    running = claim(backend.jobs, clock)
    complete(backend.jobs, running, clock)

    assert not backend.cancels.request(running, None, clock.now())
    assert backend.cancels.get(running.metadata.id) is None


def _by_completing(jobs: JobStore, job: RunningJob, clock: FakeClock) -> None:
    complete(jobs, job, clock)


def _by_cancelling(jobs: JobStore, job: RunningJob, clock: FakeClock) -> None:
    jobs.move(job, transitions.cancel_running(job, "stop", clock.now()))


def _by_reaping(jobs: JobStore, job: RunningJob, clock: FakeClock) -> None:
    jobs.move(job, transitions.lost(job, clock.now(), "worker gone"))


@pytest.mark.parametrize("end", [_by_completing, _by_cancelling, _by_reaping])
def test_the_request_goes_when_its_attempt_ends(
    backend: Backend,
    make_job: MakeJob,
    clock: FakeClock,
    end: Callable[[JobStore, RunningJob, FakeClock], None],
) -> None:
    backend.jobs.add([make_job()])
    running = claim(backend.jobs, clock)
    backend.cancels.request(running, "stop", clock.now())

    end(backend.jobs, running, clock)

    assert backend.cancels.get(running.metadata.id) is None


@pytest.mark.parametrize("gap", [1, 0], ids=["later", "same-instant"])
def test_a_new_attempt_starts_without_the_old_request_and_refuses_it(
    backend: Backend, make_job: MakeJob, clock: FakeClock, gap: int
) -> None:
    backend.jobs.add([make_job(max_retries=1)])
    first = claim(backend.jobs, clock)
    backend.cancels.request(first, "stop", clock.now())
    backend.jobs.move(first, transitions.fail(first, BOOM, clock.now(), timedelta(0)))
    clock.advance(gap)

    second = claim(backend.jobs, clock)

    assert backend.cancels.get(second.metadata.id) is None
    assert not backend.cancels.request(first, "late", clock.now())  # the other attempt
    assert backend.cancels.get(second.metadata.id) is None
