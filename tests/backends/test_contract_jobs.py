"""The jobs part's contract, first half: add and get, unique keys, claim (one job at a
time, and the races of batches; the rest of batch claims: ``test_contract_claim_many``).

Only protocol methods are used here, so a new backend passes or fails this file as is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

import pytest
from conftest import WORKER_A, WORKER_B, FakeClock

from jobqueue import transitions
from jobqueue.backend import JobStore
from jobqueue.errors import InvalidJob
from jobqueue.job import PendingJob, RunningJob, WorkerInfo

from .conftest import Opener
from .helpers import BOOM, MakeJob, ago, claim, complete, fail_for_good, ids, run_together

# --- add and get --------------------------------------------------------------------------


def test_an_added_job_reads_back_equal(jobs: JobStore, make_job: MakeJob) -> None:
    job = make_job({"path": "a.png", "sizes": [1, 2]}, priority=3, unique_key=None, user_id="u")

    assert jobs.add([job]) == [job]
    assert jobs.get(job.metadata.id) == job


def test_get_of_an_unknown_id_is_none(jobs: JobStore) -> None:
    assert jobs.get("no-such-job") is None


def test_a_batch_is_returned_in_order(jobs: JobStore, make_job: MakeJob) -> None:
    batch = [make_job({"n": n}) for n in range(5)]

    assert jobs.add(batch) == batch
    assert [jobs.get(j.metadata.id) for j in batch] == batch


@pytest.mark.parametrize("where", ["pending", "running", "complete"])
def test_an_id_already_taken_is_refused(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock, where: str
) -> None:
    first = make_job()
    jobs.add([first])
    if where != "pending":
        running = claim(jobs, clock)
        if where == "complete":
            complete(jobs, running, clock)
    before = jobs.get(first.metadata.id)

    with pytest.raises(InvalidJob):
        jobs.add([make_job({"other": 1}, id=first.metadata.id)])
    assert jobs.get(first.metadata.id) == before


def test_an_id_twice_in_one_batch_is_refused(jobs: JobStore, make_job: MakeJob) -> None:
    job = make_job()

    with pytest.raises(InvalidJob):
        jobs.add([job, make_job(id=job.metadata.id)])
    assert jobs.get(job.metadata.id) is None


def test_a_batch_is_all_or_nothing(jobs: JobStore, make_job: MakeJob, clock: FakeClock) -> None:
    taken = make_job()
    jobs.add([taken])
    good = [make_job(unique_key="k1"), make_job(), make_job(unique_key="k2")]

    with pytest.raises(InvalidJob):
        jobs.add([good[0], good[1], make_job(id=taken.metadata.id), good[2]])

    assert [jobs.get(j.metadata.id) for j in good] == [None, None, None]
    assert jobs.counts(clock.now())["total"] == 1
    assert claim(jobs, clock).metadata.id == taken.metadata.id
    assert jobs.claim(WORKER_A, clock.now()) is None
    # The refused batch holds no key: the same keys are free for new jobs.
    again = make_job(unique_key="k1")
    assert jobs.add([again]) == [again]


# --- unique keys --------------------------------------------------------------------------


def test_a_pending_holder_is_returned_instead_of_a_duplicate(
    jobs: JobStore, make_job: MakeJob
) -> None:
    holder = make_job(unique_key="report:42")
    jobs.add([holder])
    duplicate = make_job({"other": True}, unique_key="report:42")

    assert jobs.add([duplicate]) == [holder]
    assert jobs.get(duplicate.metadata.id) is None


def test_a_running_holder_still_holds_its_key(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs.add([make_job(unique_key="k")])
    running = claim(jobs, clock)

    assert jobs.add([make_job(unique_key="k")]) == [running]


def test_other_keys_and_no_key_are_not_deduplicated(jobs: JobStore, make_job: MakeJob) -> None:
    batch = [make_job(unique_key="a"), make_job(unique_key="b"), make_job(), make_job()]

    assert jobs.add(batch) == batch


def test_a_batch_deduplicates_within_itself(jobs: JobStore, make_job: MakeJob) -> None:
    first, second, other = make_job(unique_key="k"), make_job(unique_key="k"), make_job()

    assert jobs.add([first, second, other]) == [first, first, other]
    assert jobs.get(second.metadata.id) is None


def _end_by_completing(jobs: JobStore, clock: FakeClock, job: PendingJob) -> None:
    complete(jobs, claim(jobs, clock), clock)


def _end_by_failing(jobs: JobStore, clock: FakeClock, job: PendingJob) -> None:
    fail_for_good(jobs, claim(jobs, clock), clock)


def _end_by_cancelling(jobs: JobStore, clock: FakeClock, job: PendingJob) -> None:
    jobs.move(job, transitions.cancel_pending(job, "no", clock.now()))


def _end_by_deleting(jobs: JobStore, clock: FakeClock, job: PendingJob) -> None:
    jobs.delete(job)


@pytest.mark.parametrize(
    "end", [_end_by_completing, _end_by_failing, _end_by_cancelling, _end_by_deleting]
)
def test_the_key_is_free_once_the_holder_ended(
    jobs: JobStore,
    make_job: MakeJob,
    clock: FakeClock,
    end: Callable[[JobStore, FakeClock, PendingJob], None],
) -> None:
    holder = make_job(unique_key="k")
    jobs.add([holder])
    end(jobs, clock, holder)
    fresh = make_job(unique_key="k")

    assert jobs.add([fresh]) == [fresh]
    assert jobs.get(fresh.metadata.id) == fresh


def test_a_job_back_in_pending_for_a_retry_still_holds_its_key(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs.add([make_job(unique_key="k", max_retries=1)])
    running = claim(jobs, clock)
    retrying = transitions.fail(running, BOOM, clock.now(), timedelta(seconds=10))
    jobs.move(running, retrying)

    assert jobs.add([make_job(unique_key="k")]) == [retrying]


def test_a_retried_job_holds_its_key_beside_a_newer_holder(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs.add([make_job(unique_key="k")])
    failed = fail_for_good(jobs, claim(jobs, clock), clock)
    newer = make_job(unique_key="k")
    assert jobs.add([newer]) == [newer]  # the first holder had ended: the key was free
    jobs.move(failed, retried := transitions.retry(failed, clock.now()))
    jobs.delete(newer)

    assert jobs.add([make_job(unique_key="k")]) == [retried]


# --- claim --------------------------------------------------------------------------------


def test_claim_returns_none_when_nothing_is_due(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    assert jobs.claim(WORKER_A, clock.now()) is None
    jobs.add([make_job(run_at=clock.now() + timedelta(seconds=1))])

    assert jobs.claim(WORKER_A, clock.now()) is None


def test_a_claimed_job_runs_for_the_worker(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job({"x": 1}, **ago(clock, 5))
    jobs.add([job])
    clock.advance(1)

    running = claim(jobs, clock)

    assert running == RunningJob(
        metadata=job.metadata,
        params=job.params,
        started_at=clock.now(),
        heartbeat_at=clock.now(),
        worker=WORKER_A,
    )
    assert jobs.get(job.metadata.id) == running
    assert jobs.claim(WORKER_B, clock.now()) is None


@pytest.mark.parametrize("batches", [(1,) * 6, (3, 10)], ids=["claim", "claim_many"])
def test_claim_order_is_priority_then_run_at_then_id(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock, batches: tuple[int, ...]
) -> None:
    late_low = make_job(priority=1, **ago(clock, 100))
    recent = make_job(priority=0, **ago(clock, 1))
    older = make_job(priority=0, **ago(clock, 5))
    older_same_time = make_job(priority=0, **ago(clock, 5))
    urgent = make_job(priority=-1, **ago(clock, 0))
    deferred = make_job(priority=-5, run_at=clock.now() + timedelta(seconds=1))
    jobs.add([deferred, urgent, older_same_time, older, recent, late_low])

    claimed = [take(jobs, WORKER_A, clock, batch) for batch in batches]

    in_order = ids([urgent, older, older_same_time, recent, late_low])
    assert [job_id for got in claimed for job_id in got] == in_order
    assert len(claimed[-1]) < batches[-1]  # fewer than asked: the deferred one is not due
    assert jobs.claim(WORKER_A, clock.now()) is None
    assert jobs.claim_many(WORKER_A, clock.now(), 10) == []
    assert jobs.get(deferred.metadata.id) == deferred


def test_a_deferred_job_is_claimed_once_due(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job(run_at=clock.now() + timedelta(seconds=10))
    jobs.add([job])

    clock.advance(9.999)
    assert jobs.claim(WORKER_A, clock.now()) is None
    clock.advance(0.001)
    assert claim(jobs, clock).metadata.id == job.metadata.id


def test_claim_by_type_takes_only_those_types(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    email = make_job(type="email", priority=5)
    resize = make_job(type="resize", priority=0, **ago(clock, 10))
    jobs.add([email, resize])

    assert claim(jobs, clock, {"email", "other"}).metadata.id == email.metadata.id
    assert jobs.claim(WORKER_A, clock.now(), {"email"}) is None
    assert jobs.claim(WORKER_A, clock.now(), set()) is None
    assert jobs.get(resize.metadata.id) == resize
    assert claim(jobs, clock, {"resize"}).metadata.id == resize.metadata.id


@pytest.mark.parametrize("batch", [1, 3], ids=["claim", "claim_many"])
def test_a_job_is_claimed_once_across_two_handles(
    open_handle: Opener, make_job: MakeJob, clock: FakeClock, batch: int
) -> None:
    first, second = open_handle().jobs, open_handle().jobs
    added = [make_job() for _ in range(20)]
    first.add(added)
    second.counts(clock.now())  # both have seen every job before the race starts

    claimed: list[str] = []
    for turn in range(50):
        jobs, worker = (first, WORKER_A) if turn % 2 else (second, WORKER_B)
        claimed += take(jobs, worker, clock, batch if turn % 2 else 1)

    assert sorted(claimed) == ids(added)


def take(jobs: JobStore, worker: WorkerInfo, clock: FakeClock, batch: int) -> list[str]:
    """The ids ``worker`` claims: one ``claim``, or one ``claim_many`` of ``batch``."""
    if batch == 1:
        return [j.metadata.id for j in [jobs.claim(worker, clock.now())] if j is not None]
    return ids(jobs.claim_many(worker, clock.now(), batch))


@pytest.mark.parametrize("batch", [1, 7], ids=["claim", "claim_many"])
def test_concurrent_claims_never_share_a_job(
    open_handle: Opener, make_job: MakeJob, clock: FakeClock, batch: int
) -> None:
    handles = [open_handle().jobs, open_handle().jobs]
    added = [make_job() for _ in range(200)]
    handles[0].add(added)
    claimed: list[list[str]] = [[] for _ in range(4)]

    def claim_all(n: int) -> None:
        jobs, worker = handles[n % 2], WorkerInfo(name=f"w{n}", host="test-host", pid=n + 1)
        while got := take(jobs, worker, clock, batch):
            claimed[n] += got

    run_together([partial(claim_all, n) for n in range(4)])

    all_claimed = [job_id for got in claimed for job_id in got]
    assert sorted(all_claimed) == ids(added)  # no duplicate, none missing
