"""The JobStore contract: every promise of ``jobqueue.store.protocol``, for every store.

Only protocol methods are used here, so a new store passes or fails this file as is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import timedelta

import pytest
from conftest import WORKER_A, WORKER_B, FakeClock

from jobqueue import transitions
from jobqueue.errors import InvalidJob, StaleJob
from jobqueue.job import (
    STATUSES,
    CompleteJob,
    ErrorInfo,
    FailedJob,
    Job,
    PendingJob,
    RunningJob,
    WorkerInfo,
)
from jobqueue.store import CancelRequest, JobStore

from .conftest import StoreFactory

MakeJob = Callable[..., PendingJob]
BOOM = ErrorInfo(type="Boom", message="it broke")


def claim(store: JobStore, clock: FakeClock, types: set[str] | None = None) -> RunningJob:
    job = store.claim(WORKER_A, clock.now(), types)
    assert job is not None, "expected a due job"
    return job


def ago(clock: FakeClock, seconds: float) -> dict[str, object]:
    return {"run_at": clock.now() - timedelta(seconds=seconds)}


def ids(jobs: Iterable[Job]) -> list[str]:
    return [j.metadata.id for j in jobs]


def complete(store: JobStore, job: RunningJob, clock: FakeClock) -> CompleteJob:
    done = transitions.complete(job, {"ok": True}, clock.now())
    store.move(job, done)
    return done


def fail_for_good(store: JobStore, job: RunningJob, clock: FakeClock) -> FailedJob:
    failed = transitions.fail(job, BOOM, clock.now(), None)
    assert isinstance(failed, FailedJob)
    store.move(job, failed)
    return failed


# --- add and get ------------------------------------------------------------------------


def test_an_added_job_reads_back_equal(store: JobStore, make_job: MakeJob) -> None:
    job = make_job({"path": "a.png", "sizes": [1, 2]}, priority=3, unique_key=None, user_id="u")

    assert store.add([job]) == [job]
    assert store.get(job.metadata.id) == job


def test_get_of_an_unknown_id_is_none(store: JobStore) -> None:
    assert store.get("no-such-job") is None


def test_a_batch_is_returned_in_order(store: JobStore, make_job: MakeJob) -> None:
    jobs = [make_job({"n": n}) for n in range(5)]

    assert store.add(jobs) == jobs
    assert [store.get(j.metadata.id) for j in jobs] == jobs


@pytest.mark.parametrize("where", ["pending", "running", "complete"])
def test_an_id_already_taken_is_refused(
    store: JobStore, make_job: MakeJob, clock: FakeClock, where: str
) -> None:
    first = make_job()
    store.add([first])
    if where != "pending":
        running = claim(store, clock)
        if where == "complete":
            complete(store, running, clock)
    before = store.get(first.metadata.id)

    with pytest.raises(InvalidJob):
        store.add([make_job({"other": 1}, id=first.metadata.id)])
    assert store.get(first.metadata.id) == before


def test_an_id_twice_in_one_batch_is_refused(store: JobStore, make_job: MakeJob) -> None:
    job = make_job()

    with pytest.raises(InvalidJob):
        store.add([job, make_job(id=job.metadata.id)])
    assert store.get(job.metadata.id) is None


def test_a_batch_is_all_or_nothing(store: JobStore, make_job: MakeJob, clock: FakeClock) -> None:
    taken = make_job()
    store.add([taken])
    good = [make_job(unique_key="k1"), make_job(), make_job(unique_key="k2")]

    with pytest.raises(InvalidJob):
        store.add([good[0], good[1], make_job(id=taken.metadata.id), good[2]])

    assert [store.get(j.metadata.id) for j in good] == [None, None, None]
    assert store.counts(clock.now())["total"] == 1
    assert claim(store, clock).metadata.id == taken.metadata.id
    assert store.claim(WORKER_A, clock.now()) is None
    # The refused batch holds no key: the same keys are free for new jobs.
    again = make_job(unique_key="k1")
    assert store.add([again]) == [again]


# --- unique keys --------------------------------------------------------------------------


def test_a_pending_holder_is_returned_instead_of_a_duplicate(
    store: JobStore, make_job: MakeJob
) -> None:
    holder = make_job(unique_key="report:42")
    store.add([holder])
    duplicate = make_job({"other": True}, unique_key="report:42")

    assert store.add([duplicate]) == [holder]
    assert store.get(duplicate.metadata.id) is None


def test_a_running_holder_still_holds_its_key(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job(unique_key="k")])
    running = claim(store, clock)

    assert store.add([make_job(unique_key="k")]) == [running]


def test_other_keys_and_no_key_are_not_deduplicated(store: JobStore, make_job: MakeJob) -> None:
    jobs = [make_job(unique_key="a"), make_job(unique_key="b"), make_job(), make_job()]

    assert store.add(jobs) == jobs


def test_a_batch_deduplicates_within_itself(store: JobStore, make_job: MakeJob) -> None:
    first, second, other = make_job(unique_key="k"), make_job(unique_key="k"), make_job()

    assert store.add([first, second, other]) == [first, first, other]
    assert store.get(second.metadata.id) is None


def _end_by_completing(store: JobStore, clock: FakeClock, job: PendingJob) -> None:
    complete(store, claim(store, clock), clock)


def _end_by_failing(store: JobStore, clock: FakeClock, job: PendingJob) -> None:
    fail_for_good(store, claim(store, clock), clock)


def _end_by_cancelling(store: JobStore, clock: FakeClock, job: PendingJob) -> None:
    store.move(job, transitions.cancel_pending(job, "no", clock.now()))


def _end_by_deleting(store: JobStore, clock: FakeClock, job: PendingJob) -> None:
    store.delete(job)


@pytest.mark.parametrize(
    "end", [_end_by_completing, _end_by_failing, _end_by_cancelling, _end_by_deleting]
)
def test_the_key_is_free_once_the_holder_ended(
    store: JobStore,
    make_job: MakeJob,
    clock: FakeClock,
    end: Callable[[JobStore, FakeClock, PendingJob], None],
) -> None:
    holder = make_job(unique_key="k")
    store.add([holder])
    end(store, clock, holder)
    fresh = make_job(unique_key="k")

    assert store.add([fresh]) == [fresh]
    assert store.get(fresh.metadata.id) == fresh


def test_a_job_back_in_pending_for_a_retry_still_holds_its_key(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job(unique_key="k", max_retries=1)])
    running = claim(store, clock)
    retrying = transitions.fail(running, BOOM, clock.now(), timedelta(seconds=10))
    store.move(running, retrying)

    assert store.add([make_job(unique_key="k")]) == [retrying]


def test_a_retried_job_holds_its_key_beside_a_newer_holder(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job(unique_key="k")])
    failed = fail_for_good(store, claim(store, clock), clock)
    newer = make_job(unique_key="k")
    assert store.add([newer]) == [newer]  # the first holder had ended: the key was free
    store.move(failed, retried := transitions.retry(failed, clock.now()))
    store.delete(newer)

    assert store.add([make_job(unique_key="k")]) == [retried]


# --- claim --------------------------------------------------------------------------------


def test_claim_returns_none_when_nothing_is_due(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    assert store.claim(WORKER_A, clock.now()) is None
    store.add([make_job(run_at=clock.now() + timedelta(seconds=1))])

    assert store.claim(WORKER_A, clock.now()) is None


def test_a_claimed_job_runs_for_the_worker(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job({"x": 1}, **ago(clock, 5))
    store.add([job])
    clock.advance(1)

    running = claim(store, clock)

    assert running == RunningJob(
        metadata=job.metadata,
        params=job.params,
        started_at=clock.now(),
        heartbeat_at=clock.now(),
        worker=WORKER_A,
    )
    assert store.get(job.metadata.id) == running
    assert store.claim(WORKER_B, clock.now()) is None


def test_claim_order_is_priority_then_run_at_then_id(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    late_low = make_job(priority=1, **ago(clock, 100))
    recent = make_job(priority=0, **ago(clock, 1))
    older = make_job(priority=0, **ago(clock, 5))
    older_same_time = make_job(priority=0, **ago(clock, 5))
    urgent = make_job(priority=-1, **ago(clock, 0))
    deferred = make_job(priority=-5, run_at=clock.now() + timedelta(seconds=1))
    store.add([deferred, urgent, older_same_time, older, recent, late_low])

    claimed = [claim(store, clock) for _ in range(5)]

    assert ids(claimed) == ids([urgent, older, older_same_time, recent, late_low])
    assert store.claim(WORKER_A, clock.now()) is None


def test_a_deferred_job_is_claimed_once_due(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job(run_at=clock.now() + timedelta(seconds=10))
    store.add([job])

    clock.advance(9.999)
    assert store.claim(WORKER_A, clock.now()) is None
    clock.advance(0.001)
    assert claim(store, clock).metadata.id == job.metadata.id


def test_claim_by_type_takes_only_those_types(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    email = make_job(type="email", priority=5)
    resize = make_job(type="resize", priority=0, **ago(clock, 10))
    store.add([email, resize])

    assert claim(store, clock, {"email", "other"}).metadata.id == email.metadata.id
    assert store.claim(WORKER_A, clock.now(), {"email"}) is None
    assert store.claim(WORKER_A, clock.now(), set()) is None
    assert store.get(resize.metadata.id) == resize
    assert claim(store, clock, {"resize"}).metadata.id == resize.metadata.id


def test_a_job_is_claimed_once_across_two_stores(
    open_store: StoreFactory, make_job: MakeJob, clock: FakeClock
) -> None:
    first, second = open_store(), open_store()
    jobs = [make_job() for _ in range(20)]
    first.add(jobs)
    second.counts(clock.now())  # both have seen every job before the race starts

    claimed: list[str] = []
    for turn in range(50):
        store, worker = (first, WORKER_A) if turn % 2 else (second, WORKER_B)
        job = store.claim(worker, clock.now())
        if job is not None:
            claimed.append(job.metadata.id)

    assert sorted(claimed) == ids(jobs)


def test_concurrent_claims_never_share_a_job(
    open_store: StoreFactory, make_job: MakeJob, clock: FakeClock
) -> None:
    stores = [open_store(), open_store()]
    jobs = [make_job() for _ in range(200)]
    stores[0].add(jobs)
    claimed: list[list[str]] = [[] for _ in range(4)]

    def claim_all(n: int) -> None:
        store, worker = stores[n % 2], WorkerInfo(name=f"w{n}", host="test-host", pid=n + 1)
        while (job := store.claim(worker, clock.now())) is not None:
            claimed[n].append(job.metadata.id)

    threads = [threading.Thread(target=claim_all, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)

    all_claimed = [job_id for got in claimed for job_id in got]
    assert sorted(all_claimed) == ids(jobs)  # no duplicate, none missing


# --- move (compare-and-set) ---------------------------------------------------------------


def test_completing_after_a_heartbeat_needs_the_latest_copy(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job()])
    running = claim(store, clock)
    clock.advance(5)
    beat = transitions.heartbeat(running, clock.now())
    store.move(running, beat)

    with pytest.raises(StaleJob):
        store.move(running, transitions.complete(running, None, clock.now()))
    assert store.get(running.metadata.id) == beat
    complete(store, beat, clock)


def test_a_reaped_job_cannot_be_completed_by_its_old_worker(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job()])
    running = claim(store, clock)
    reaped = transitions.lost(running, clock.now(), "worker gone")
    store.move(running, reaped)

    with pytest.raises(StaleJob):
        store.move(running, transitions.complete(running, None, clock.now()))
    assert store.get(running.metadata.id) == reaped


def test_a_cancelled_pending_job_cannot_be_changed_again(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job()
    store.add([job])
    cancelled = transitions.cancel_pending(job, "first", clock.now())
    store.move(job, cancelled)

    with pytest.raises(StaleJob):
        store.move(job, transitions.cancel_pending(job, "second", clock.now()))
    assert store.get(job.metadata.id) == cancelled
    assert store.claim(WORKER_A, clock.now()) is None


def test_moving_a_job_that_was_never_stored_is_stale(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job()

    with pytest.raises(StaleJob):
        store.move(job, transitions.cancel_pending(job, None, clock.now()))
    assert store.get(job.metadata.id) is None


def test_moving_an_outdated_pending_copy_is_stale(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job(max_retries=2)
    store.add([job])
    running = claim(store, clock)
    retrying = transitions.fail(running, BOOM, clock.now(), timedelta(0))
    store.move(running, retrying)

    with pytest.raises(StaleJob):  # same place, different document
        store.move(job, transitions.cancel_pending(job, None, clock.now()))
    assert store.get(job.metadata.id) == retrying
    assert claim(store, clock).metadata.retry_count == 1


def test_a_failed_attempt_is_claimable_again_at_its_new_run_at(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job(max_retries=3)])
    running = claim(store, clock)
    store.move(running, transitions.fail(running, BOOM, clock.now(), timedelta(seconds=30)))

    assert store.claim(WORKER_A, clock.now()) is None
    clock.advance(29)
    assert store.claim(WORKER_A, clock.now()) is None
    clock.advance(1)
    again = claim(store, clock)
    assert again.metadata.retry_count == 1
    assert again.attempts[0].error == BOOM


def test_a_retried_job_is_claimable_and_a_second_retry_is_stale(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job()])
    failed = fail_for_good(store, claim(store, clock), clock)
    retried = transitions.retry(failed, clock.now())
    store.move(failed, retried)

    with pytest.raises(StaleJob):
        store.move(failed, transitions.retry(failed, clock.now()))
    assert store.get(failed.metadata.id) == retried
    assert claim(store, clock).attempts == failed.attempts


# --- delete (compare-and-set) -------------------------------------------------------------


def test_a_deleted_pending_job_is_gone(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job()
    store.add([job])

    store.delete(job)

    assert store.get(job.metadata.id) is None
    assert store.claim(WORKER_A, clock.now()) is None
    assert store.counts(clock.now())["total"] == 0
    with pytest.raises(StaleJob):
        store.delete(job)


def test_delete_of_an_outdated_copy_is_stale(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job()
    store.add([job])
    running = claim(store, clock)

    with pytest.raises(StaleJob):
        store.delete(job)  # it is running now
    done = complete(store, running, clock)
    with pytest.raises(StaleJob):
        store.delete(running)
    store.delete(done)
    assert store.get(job.metadata.id) is None


# --- scan -----------------------------------------------------------------------------------


def test_scan_is_oldest_first_and_filters_by_status_and_type(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs = [make_job(type="a" if n % 2 else "b", priority=-n) for n in range(6)]
    store.add(jobs)
    newest_b = claim(store, clock, {"b"})  # priority picks the newest "b" job: jobs[4]
    newest_a = claim(store, clock, {"a"})  # jobs[5]
    complete(store, newest_a, clock)

    assert ids(list(store.scan(STATUSES))) == ids(jobs)
    assert ids(list(store.scan(["pending"]))) == ids(jobs[:4])
    assert ids(list(store.scan(["running", "complete"]))) == ids([newest_b, newest_a])
    assert ids(list(store.scan(["pending", "complete"], "a"))) == ids(jobs[1:4:2] + jobs[5:])
    assert list(store.scan(["failed", "cancelled"])) == []
    assert list(store.scan(["pending"], "nope")) == []


# --- counts ---------------------------------------------------------------------------------


def test_counts_every_status(store: JobStore, make_job: MakeJob, clock: FakeClock) -> None:
    empty = dict.fromkeys((*STATUSES, "delayed", "quarantined", "total"), 0)
    assert store.counts(clock.now()) == empty
    store.add([make_job(priority=n, **ago(clock, 1)) for n in range(6)])
    store.add([make_job(run_at=clock.now() + timedelta(seconds=60))])
    complete(store, claim(store, clock), clock)
    fail_for_good(store, claim(store, clock), clock)
    cancel_me = claim(store, clock)
    store.move(cancel_me, transitions.cancel_running(cancel_me, "stop", clock.now()))
    claim(store, clock)

    assert store.counts(clock.now()) == {
        "pending": 3,
        "delayed": 1,
        "running": 1,
        "complete": 1,
        "failed": 1,
        "cancelled": 1,
        "quarantined": 0,
        "total": 7,
    }
    clock.advance(60)
    assert store.counts(clock.now())["delayed"] == 0


# --- cancel requests ----------------------------------------------------------------------


def test_a_cancel_request_reaches_the_worker(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job()])
    running = claim(store, clock)
    assert store.cancel_requested(running.metadata.id) is None

    assert store.request_cancel(running, "user asked", clock.now())

    assert store.cancel_requested(running.metadata.id) == CancelRequest("user asked", clock.now())


def test_a_heartbeat_does_not_hide_the_attempt_from_a_cancel(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job()])
    running = claim(store, clock)
    clock.advance(3)
    store.move(running, transitions.heartbeat(running, clock.now()))

    assert store.request_cancel(running, None, clock.now())  # same attempt, older copy
    assert store.cancel_requested(running.metadata.id) == CancelRequest(None, clock.now())


def test_a_cancel_request_is_refused_once_the_attempt_ended(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job()])
    running = claim(store, clock)
    complete(store, running, clock)

    assert not store.request_cancel(running, None, clock.now())
    assert store.cancel_requested(running.metadata.id) is None


@pytest.mark.parametrize("gap", [1, 0], ids=["later", "same-instant"])
def test_a_new_attempt_starts_without_the_old_cancel_request(
    store: JobStore, make_job: MakeJob, clock: FakeClock, gap: int
) -> None:
    store.add([make_job(max_retries=1)])
    first = claim(store, clock)
    store.request_cancel(first, "stop", clock.now())
    store.move(first, transitions.fail(first, BOOM, clock.now(), timedelta(0)))
    clock.advance(gap)

    second = claim(store, clock)

    assert store.cancel_requested(second.metadata.id) is None
    assert not store.request_cancel(first, "late", clock.now())
    assert store.cancel_requested(second.metadata.id) is None


# --- recover --------------------------------------------------------------------------------


def test_recover_is_idempotent_on_a_healthy_store(
    store: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job(unique_key=f"k{n}") for n in range(5)])
    store.add([make_job(run_at=clock.now() + timedelta(seconds=9))])
    complete(store, claim(store, clock), clock)
    fail_for_good(store, claim(store, clock), clock)
    store.request_cancel(claim(store, clock), "stop", clock.now())
    before = list(store.scan(STATUSES))
    counts = store.counts(clock.now())

    store.recover()
    store.recover()

    assert list(store.scan(STATUSES)) == before
    assert store.counts(clock.now()) == counts
    assert claim(store, clock).metadata.unique_key == "k3"
