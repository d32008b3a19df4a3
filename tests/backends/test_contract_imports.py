"""The jobs part's contract for ``import_jobs`` (what ``jobqueue transfer`` stores with):
jobs kept exactly, in any status but running; a taken id skipped; no event recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import WORKER_A, FakeClock

from jobqueue import transitions
from jobqueue.backend import Backend, JobStore
from jobqueue.errors import InvalidJob
from jobqueue.job import Job, PendingJob

from .helpers import BOOM, MakeJob, claim, ids

IDLE = 0.3


def every_status(make_job: MakeJob, clock: FakeClock) -> list[Job]:
    """One job of each status but running, with attempts where the status has them."""
    now = clock.now()
    retried = transitions.fail(
        transitions.start(make_job({"n": 1}), WORKER_A, now), BOOM, now, timedelta(minutes=5)
    )
    assert isinstance(retried, PendingJob)
    complete = transitions.complete(
        transitions.start(make_job({"n": 2}, priority=4), WORKER_A, now), {"ok": [1, 2]}, now
    )
    failed = transitions.fail(transitions.start(make_job({"n": 3}), WORKER_A, now), BOOM, now, None)
    cancelled = transitions.cancel_pending(make_job({"n": 4}), "no longer needed", now)
    plain = make_job({"n": 5, "nested": {"x": [1.5, None, "é"]}}, unique_key="k0", user_id="u")
    return [retried, complete, failed, cancelled, plain]


def test_every_status_round_trips_equal(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    batch = every_status(make_job, clock)

    assert jobs.import_jobs(batch) == [True] * len(batch)
    assert [jobs.get(j.metadata.id) for j in batch] == batch
    assert ids(jobs.scan(["pending", "complete", "failed", "cancelled"])) == sorted(ids(batch))


def test_a_taken_id_is_skipped_and_the_stored_job_kept(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    stored = make_job({"v": "old"})
    jobs.add([stored])
    other = transitions.cancel_pending(
        make_job({"v": "new"}, id=stored.metadata.id), None, clock.now()
    )
    fresh = make_job()

    assert jobs.import_jobs([other, fresh]) == [False, True]
    assert jobs.get(stored.metadata.id) == stored
    assert jobs.import_jobs([other, fresh]) == [False, False]  # a re-run copies nothing


def test_a_running_job_is_refused_and_nothing_stored(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    fine = make_job()
    running = transitions.start(make_job(), WORKER_A, clock.now())

    with pytest.raises(InvalidJob, match="running"):
        jobs.import_jobs([fine, running])
    assert jobs.get(fine.metadata.id) is None
    assert jobs.get(running.metadata.id) is None


def test_imported_pending_jobs_are_claimable_in_order(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    low, high = make_job(priority=5), make_job(priority=1)
    later = make_job(run_at=clock.now() + timedelta(hours=1))
    jobs.import_jobs([low, high, later])

    assert claim(jobs, clock).metadata.id == high.metadata.id
    assert claim(jobs, clock).metadata.id == low.metadata.id
    assert jobs.claim(WORKER_A, clock.now()) is None
    assert jobs.next_due() == later.metadata.run_at
    assert jobs.counts(clock.now())["delayed"] == 1


def test_an_imported_pending_job_takes_a_free_key(jobs: JobStore, make_job: MakeJob) -> None:
    imported = make_job(unique_key="k")
    jobs.import_jobs([imported])

    assert jobs.add([make_job(unique_key="k")]) == [imported]


def test_an_ended_job_does_not_take_its_key(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    ended = transitions.cancel_pending(make_job(unique_key="k"), None, clock.now())
    jobs.import_jobs([ended])
    new = make_job(unique_key="k")

    assert jobs.add([new]) == [new]


def test_a_held_key_is_shared_and_the_holder_stays(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    holder = make_job(unique_key="k")
    jobs.add([holder])
    imported, again = make_job(unique_key="k"), make_job(unique_key="k")

    assert jobs.import_jobs([imported, again]) == [True, True]
    assert jobs.get(imported.metadata.id) == imported
    assert jobs.add([make_job(unique_key="k")]) == [holder]
    assert {claim(jobs, clock).metadata.id for _ in range(3)} == set(ids([holder, imported, again]))


def test_importing_records_no_event(backend: Backend, make_job: MakeJob, clock: FakeClock) -> None:
    follow = backend.events.follow(idle_timeout=IDLE)
    backend.jobs.import_jobs(every_status(make_job, clock))
    marker = make_job()
    backend.jobs.add([marker])

    assert [(e.event, e.job_id) for e in follow] == [("created", marker.metadata.id)]


def test_an_empty_import_stores_nothing(jobs: JobStore, clock: FakeClock) -> None:
    assert jobs.import_jobs([]) == []
    assert jobs.counts(clock.now())["total"] == 0
