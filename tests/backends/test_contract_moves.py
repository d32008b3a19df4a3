"""The jobs part's contract, second half: compare-and-set moves and deletes.

A write names the state it expects; a stale copy raises ``StaleJob`` and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import WORKER_A, FakeClock

from jobqueue import transitions
from jobqueue.backend import JobStore
from jobqueue.errors import StaleJob

from .helpers import BOOM, MakeJob, claim, complete, fail_for_good

# --- move (compare-and-set) ---------------------------------------------------------------


def test_completing_after_a_heartbeat_needs_the_latest_copy(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs.add([make_job()])
    running = claim(jobs, clock)
    clock.advance(5)
    beat = transitions.heartbeat(running, clock.now())
    jobs.move(running, beat)

    with pytest.raises(StaleJob):
        jobs.move(running, transitions.complete(running, None, clock.now()))
    assert jobs.get(running.metadata.id) == beat
    complete(jobs, beat, clock)


def test_a_reaped_job_cannot_be_completed_by_its_old_worker(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs.add([make_job()])
    running = claim(jobs, clock)
    reaped = transitions.lost(running, clock.now(), "worker gone")
    jobs.move(running, reaped)

    with pytest.raises(StaleJob):
        jobs.move(running, transitions.complete(running, None, clock.now()))
    assert jobs.get(running.metadata.id) == reaped


def test_a_cancelled_pending_job_cannot_be_changed_again(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job()
    jobs.add([job])
    cancelled = transitions.cancel_pending(job, "first", clock.now())
    jobs.move(job, cancelled)

    with pytest.raises(StaleJob):
        jobs.move(job, transitions.cancel_pending(job, "second", clock.now()))
    assert jobs.get(job.metadata.id) == cancelled
    assert jobs.claim(WORKER_A, clock.now()) is None


def test_moving_a_job_that_was_never_stored_is_stale(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job()

    with pytest.raises(StaleJob):
        jobs.move(job, transitions.cancel_pending(job, None, clock.now()))
    assert jobs.get(job.metadata.id) is None


def test_moving_an_outdated_pending_copy_is_stale(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job(max_retries=2)
    jobs.add([job])
    running = claim(jobs, clock)
    retrying = transitions.fail(running, BOOM, clock.now(), timedelta(0))
    jobs.move(running, retrying)

    with pytest.raises(StaleJob):  # same place, different document
        jobs.move(job, transitions.cancel_pending(job, None, clock.now()))
    assert jobs.get(job.metadata.id) == retrying
    assert claim(jobs, clock).metadata.retry_count == 1


def test_a_failed_attempt_is_claimable_again_at_its_new_run_at(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs.add([make_job(max_retries=3)])
    running = claim(jobs, clock)
    jobs.move(running, transitions.fail(running, BOOM, clock.now(), timedelta(seconds=30)))

    assert jobs.claim(WORKER_A, clock.now()) is None
    clock.advance(29)
    assert jobs.claim(WORKER_A, clock.now()) is None
    clock.advance(1)
    again = claim(jobs, clock)
    assert again.metadata.retry_count == 1
    assert again.attempts[0].error == BOOM


def test_a_retried_job_is_claimable_and_a_second_retry_is_stale(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs.add([make_job()])
    failed = fail_for_good(jobs, claim(jobs, clock), clock)
    retried = transitions.retry(failed, clock.now())
    jobs.move(failed, retried)

    with pytest.raises(StaleJob):
        jobs.move(failed, transitions.retry(failed, clock.now()))
    assert jobs.get(failed.metadata.id) == retried
    assert claim(jobs, clock).attempts == failed.attempts


# --- delete (compare-and-set) -------------------------------------------------------------


def test_a_deleted_pending_job_is_gone(jobs: JobStore, make_job: MakeJob, clock: FakeClock) -> None:
    job = make_job()
    jobs.add([job])

    jobs.delete(job)

    assert jobs.get(job.metadata.id) is None
    assert jobs.claim(WORKER_A, clock.now()) is None
    assert jobs.counts(clock.now())["total"] == 0
    with pytest.raises(StaleJob):
        jobs.delete(job)


def test_delete_of_an_outdated_copy_is_stale(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job()
    jobs.add([job])
    running = claim(jobs, clock)

    with pytest.raises(StaleJob):
        jobs.delete(job)  # it is running now
    done = complete(jobs, running, clock)
    with pytest.raises(StaleJob):
        jobs.delete(running)
    jobs.delete(done)
    assert jobs.get(job.metadata.id) is None
