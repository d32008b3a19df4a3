"""The jobs part's contract, reads: scan (keyset paging), counts, oldest_due, next_due,
and the upkeep calls (recover, flush) that must leave a healthy store as it was."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

import pytest
from conftest import WORKER_A, FakeClock

from jobqueue import transitions
from jobqueue.backend import Backend, JobStore
from jobqueue.job import STATUSES, Job, Status

from .helpers import MakeJob, ago, claim, complete, fail_for_good, ids, later, run_together

# --- scan ---------------------------------------------------------------------------------


def test_scan_is_oldest_first_and_filters_by_status_and_type(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    added = [make_job(type="a" if n % 2 else "b", priority=-n) for n in range(6)]
    jobs.add(added)
    newest_b = claim(jobs, clock, {"b"})  # priority picks the newest "b" job: added[4]
    newest_a = claim(jobs, clock, {"a"})  # added[5]
    complete(jobs, newest_a, clock)

    assert ids(jobs.scan(STATUSES)) == ids(added)
    assert ids(jobs.scan(["pending"])) == ids(added[:4])
    assert ids(jobs.scan(["running", "complete"])) == ids([newest_b, newest_a])
    assert ids(jobs.scan(["pending", "complete"], "a")) == ids(added[1:4:2] + added[5:])
    assert list(jobs.scan(["failed", "cancelled"])) == []
    assert list(jobs.scan(["pending"], "nope")) == []
    assert list(jobs.scan([])) == []


def test_scan_newest_first_is_the_reverse_order(jobs: JobStore, make_job: MakeJob) -> None:
    added = [make_job() for _ in range(5)]
    jobs.add(added)

    assert ids(jobs.scan(STATUSES, newest_first=True)) == ids(reversed(added))


def pages(
    jobs: JobStore,
    size: int,
    statuses: tuple[Status, ...] = STATUSES,
    job_type: str | None = None,
    *,
    newest_first: bool = False,
) -> Iterator[list[str]]:
    """Page through a scan as a list view does: ``size`` jobs, then on past the last id."""
    after: str | None = None
    while page := ids(
        islice(jobs.scan(statuses, job_type, newest_first=newest_first, after=after), size)
    ):
        yield page
        after = page[-1]


@pytest.mark.parametrize("newest_first", [False, True], ids=["oldest-first", "newest-first"])
def test_paging_with_the_after_cursor_visits_every_job_once(
    jobs: JobStore, make_job: MakeJob, newest_first: bool
) -> None:
    added = ids(make_job() for _ in range(7))
    jobs.add([make_job(id=job_id) for job_id in added])
    expected = sorted(added, reverse=newest_first)

    got = list(pages(jobs, 3, newest_first=newest_first))

    assert got == [expected[0:3], expected[3:6], expected[6:]]


@pytest.mark.parametrize(
    ("newest_first", "expected"),
    [(False, ["job-000004", "job-000005"]), (True, ["job-000002", "job-000001"])],
    ids=["oldest-first", "newest-first"],
)
def test_the_cursor_need_not_be_a_stored_job(
    jobs: JobStore, make_job: MakeJob, newest_first: bool, expected: list[str]
) -> None:
    added = [make_job() for _ in range(5)]
    jobs.add(added)
    jobs.delete(added[2])  # job-000003: the last job of the page the user saw

    after = added[2].metadata.id
    assert ids(jobs.scan(STATUSES, newest_first=newest_first, after=after)) == expected


def test_paging_applies_the_status_and_type_filters(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    added = [make_job(type="a" if n % 3 else "b") for n in range(9)]
    jobs.add(added)
    complete(jobs, claim(jobs, clock, {"a"}), clock)  # added[1] leaves pending
    wanted = [j for j in added if j.metadata.type == "a"][1:]

    got = list(pages(jobs, 2, ("pending",), "a"))

    assert [len(page) for page in got] == [2, 2, 1]
    assert [job_id for page in got for job_id in page] == ids(wanted)


def test_a_scan_stopped_early_holds_back_no_writer(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs.add([make_job() for _ in range(5)])
    scan = jobs.scan(STATUSES)
    first = next(scan)
    fresh = make_job()

    def write() -> None:  # in another thread, so a writer blocked by the scan fails in time
        complete(jobs, claim(jobs, clock), clock)
        jobs.add([fresh])

    run_together([write])

    assert first.metadata.id == "job-000001"
    assert len(list(jobs.scan(STATUSES))) == 6


# --- counts -------------------------------------------------------------------------------


def test_counts_every_status(jobs: JobStore, make_job: MakeJob, clock: FakeClock) -> None:
    empty = dict.fromkeys((*STATUSES, "delayed", "quarantined", "total"), 0)
    assert jobs.counts(clock.now()) == empty
    jobs.add([make_job(priority=n, **ago(clock, 1)) for n in range(6)])
    jobs.add([make_job(**later(clock, 60))])
    complete(jobs, claim(jobs, clock), clock)
    fail_for_good(jobs, claim(jobs, clock), clock)
    cancel_me = claim(jobs, clock)
    jobs.move(cancel_me, transitions.cancel_running(cancel_me, "stop", clock.now()))
    claim(jobs, clock)

    assert jobs.counts(clock.now()) == {
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
    assert jobs.counts(clock.now())["delayed"] == 0


# --- oldest_due and next_due --------------------------------------------------------------


def test_oldest_due_is_the_earliest_run_at_of_the_due_pending_jobs(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    assert jobs.oldest_due(clock.now()) is None
    jobs.add([make_job(**later(clock, 10))])
    assert jobs.oldest_due(clock.now()) is None  # deferred jobs are not waiting yet
    oldest, newer = make_job(**ago(clock, 5)), make_job(**ago(clock, 2))
    jobs.add([newer, oldest])

    assert jobs.oldest_due(clock.now()) == oldest.metadata.run_at
    claim(jobs, clock)  # the oldest: a running job waits no more
    assert jobs.oldest_due(clock.now()) == newer.metadata.run_at
    clock.advance(10)
    assert jobs.oldest_due(clock.now()) == newer.metadata.run_at


def test_next_due_is_none_without_pending_jobs(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    assert jobs.next_due() is None
    jobs.add([make_job()])
    complete(jobs, claim(jobs, clock), clock)

    assert jobs.next_due() is None


def test_after_a_claim_finds_nothing_next_due_says_when_to_wake(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    """What a worker does: claim, find nothing due, sleep until ``next_due``."""
    soon, email = make_job(**later(clock, 10)), make_job(type="email", **later(clock, 30))
    jobs.add([email, soon])
    assert jobs.claim(WORKER_A, clock.now()) is None

    assert jobs.next_due() == soon.metadata.run_at
    assert jobs.next_due({"email", "other"}) == email.metadata.run_at
    assert jobs.next_due({"other"}) is None


def test_next_due_sees_deferred_jobs_just_added(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    soon, email = make_job(**later(clock, 10)), make_job(type="email", **later(clock, 30))
    jobs.add([email, soon])

    assert jobs.next_due() == soon.metadata.run_at
    assert jobs.next_due({"email"}) == email.metadata.run_at
    assert jobs.next_due({"other"}) is None


def test_next_due_counts_due_jobs_too(jobs: JobStore, make_job: MakeJob, clock: FakeClock) -> None:
    due = make_job(**ago(clock, 1))
    jobs.add([make_job(**later(clock, 30)), due])

    assert jobs.next_due() == due.metadata.run_at  # the only due one: its run_at


# --- recover and flush --------------------------------------------------------------------


def snapshot(jobs: JobStore, clock: FakeClock) -> tuple[list[Job], dict[str, int]]:
    return list(jobs.scan(STATUSES)), dict(jobs.counts(clock.now()))


def test_recover_and_flush_leave_a_healthy_store_as_it_was(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs = backend.jobs
    keyed = [make_job(unique_key=f"k{n}") for n in range(5)]
    jobs.add(keyed)
    jobs.add([make_job(**later(clock, 9))])
    complete(jobs, claim(jobs, clock), clock)
    fail_for_good(jobs, claim(jobs, clock), clock)
    stopping = claim(jobs, clock)
    backend.cancels.request(stopping, "stop", clock.now())
    before = snapshot(jobs, clock)

    for _ in range(2):
        jobs.recover()
        jobs.flush()

    assert snapshot(jobs, clock) == before
    assert backend.cancels.get(stopping.metadata.id) is not None
    assert claim(jobs, clock).metadata.unique_key == "k3"
    assert jobs.add([make_job(unique_key="k4")]) == [keyed[4]]  # the keys are still held
