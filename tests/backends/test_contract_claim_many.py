"""The jobs part's contract, batch claims: ``claim_many`` takes what ``claim`` would
take one job after another, and each job still goes to exactly one claimer; and a
worker on any backend claims as many jobs as it has free slots in one call, handing
back what it refuses and what it has not started when it stops.

Only protocol methods are used here, so a new backend passes or fails this file as is.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import partial

import pytest
from conftest import WORKER_A, WORKER_B, FakeClock

from jobqueue import HandlerWorker, JobQueue
from jobqueue.backend import Backend, JobStore
from jobqueue.job import PendingJob, RunningJob, WorkerInfo

from .conftest import Opener
from .helpers import MakeJob, ago, claim, complete, ids, later, run_together

IDLE = 0.3  # the idle_timeout of a follow that should have found every event by then


def test_a_batch_is_the_best_due_jobs_in_claim_order(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    late_low = make_job(priority=1, **ago(clock, 100))
    recent = make_job(priority=0, **ago(clock, 1))
    older = make_job(priority=0, **ago(clock, 5))
    urgent = make_job(priority=-1, **ago(clock, 0))
    deferred = make_job(priority=-5, **later(clock, 1))
    jobs.add([deferred, urgent, recent, older, late_low])

    first = jobs.claim_many(WORKER_A, clock.now(), 3)
    rest = jobs.claim_many(WORKER_A, clock.now(), 10)

    assert ids(first) == ids([urgent, older, recent])
    assert ids(rest) == ids([late_low])  # fewer than asked: the deferred one is not due
    assert jobs.claim_many(WORKER_A, clock.now(), 10) == []
    assert jobs.get(deferred.metadata.id) == deferred


def test_each_job_of_a_batch_runs_for_the_worker_as_a_claim_would(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    added = [make_job({"n": n}, **ago(clock, 5 - n)) for n in range(3)]
    jobs.add(added)
    clock.advance(1)

    claimed = jobs.claim_many(WORKER_B, clock.now(), 3)

    assert claimed == [
        RunningJob(
            metadata=job.metadata,
            params=job.params,
            started_at=clock.now(),
            heartbeat_at=clock.now(),
            worker=WORKER_B,
        )
        for job in added
    ]
    assert [jobs.get(j.metadata.id) for j in claimed] == claimed
    assert jobs.claim(WORKER_A, clock.now()) is None


def test_a_batch_takes_only_the_types_asked_for(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    emails = [make_job(type="email", priority=5) for _ in range(2)]
    resize = make_job(type="resize", priority=0, **ago(clock, 10))
    jobs.add([*emails, resize])

    assert jobs.claim_many(WORKER_A, clock.now(), 5, set()) == []
    assert ids(jobs.claim_many(WORKER_A, clock.now(), 5, {"email", "other"})) == ids(emails)
    assert jobs.get(resize.metadata.id) == resize
    assert ids(jobs.claim_many(WORKER_A, clock.now(), 5, {"resize"})) == ids([resize])


def test_a_batch_of_none_claims_nothing(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    job = make_job()
    jobs.add([job])

    assert jobs.claim_many(WORKER_A, clock.now(), 0) == []
    assert jobs.get(job.metadata.id) == job


def test_a_job_of_a_batch_ends_like_any_claimed_job(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs.add([make_job() for _ in range(2)])
    first, second = jobs.claim_many(WORKER_A, clock.now(), 2)

    done = complete(jobs, first, clock)

    assert jobs.get(first.metadata.id) == done
    assert jobs.get(second.metadata.id) == second


def test_every_job_of_a_batch_records_its_start(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    added = [make_job() for _ in range(3)]
    backend.jobs.add(added)
    follow = backend.events.follow(idle_timeout=IDLE)

    claimed = backend.jobs.claim_many(WORKER_A, clock.now(), 3)

    events = list(follow)
    assert [(e.event, e.job_id) for e in events] == [("started", i) for i in ids(added)]
    assert [e.job for e in events] == claimed


def test_batches_and_single_claims_of_two_handles_share_no_job(
    open_handle: Opener, make_job: MakeJob, clock: FakeClock
) -> None:
    first, second = open_handle().jobs, open_handle().jobs
    added = [make_job() for _ in range(20)]
    first.add(added)
    second.counts(clock.now())  # both have seen every job before they take turns

    claimed: list[str] = []
    for turn in range(30):
        if turn % 2:
            claimed += ids(first.claim_many(WORKER_A, clock.now(), 3))
        elif (job := second.claim(WORKER_B, clock.now())) is not None:
            claimed.append(job.metadata.id)

    assert sorted(claimed) == ids(added)


def test_concurrent_batch_claims_never_share_a_job(
    open_handle: Opener, make_job: MakeJob, clock: FakeClock
) -> None:
    handles = [open_handle().jobs, open_handle().jobs]
    added = [make_job() for _ in range(200)]
    handles[0].add(added)
    claimed: list[list[str]] = [[] for _ in range(4)]

    def claim_all(n: int) -> None:
        jobs, worker = handles[n % 2], WorkerInfo(name=f"w{n}", host="test-host", pid=n + 1)
        while batch := jobs.claim_many(worker, clock.now(), 7):
            claimed[n] += ids(batch)

    run_together([partial(claim_all, n) for n in range(4)])

    all_claimed = [job_id for got in claimed for job_id in got]
    assert sorted(all_claimed) == ids(added)  # no duplicate, none missing


def test_a_claim_after_a_batch_takes_the_next_best(
    jobs: JobStore, make_job: MakeJob, clock: FakeClock
) -> None:
    added = [make_job(**ago(clock, 10 - n)) for n in range(4)]
    jobs.add(added)

    batch = jobs.claim_many(WORKER_A, clock.now(), 2)
    clock.advance(1)

    assert ids(batch) == ids(added[:2])
    assert claim(jobs, clock).metadata.id == added[2].metadata.id


# --- the worker's batch claims -------------------------------------------------------------


def record_batches(jobs: JobStore, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(limit, jobs returned) of each ``claim_many`` call on ``jobs`` from now on."""
    calls: list[tuple[int, int]] = []
    real = jobs.claim_many

    def claim_many(
        worker: WorkerInfo, now: datetime, limit: int, types: Collection[str] | None = None
    ) -> list[RunningJob]:
        got = real(worker, now, limit, types)
        calls.append((limit, len(got)))
        return got

    monkeypatch.setattr(jobs, "claim_many", claim_many)
    return calls


def echo_worker(
    backend: Backend, clock: FakeClock, cls: type[HandlerWorker] = HandlerWorker
) -> HandlerWorker:
    worker = cls(JobQueue(backend, clock=clock), concurrency=3, poll_interval=0.05)
    worker.register_handler("echo", lambda params, ctx: params)
    return worker


def status_of(jobs: JobStore, job: PendingJob) -> str | None:
    found = jobs.get(job.metadata.id)
    return None if found is None else found.status


def test_a_worker_claims_as_many_jobs_as_it_has_free_slots_in_one_call(
    backend: Backend, make_job: MakeJob, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = [make_job({"n": n}, type="echo") for n in range(5)]
    backend.jobs.add(added)
    batches = record_batches(backend.jobs, monkeypatch)

    echo_worker(backend, clock).run(burst=True, handle_signals=False)

    assert batches[0] == (3, 3)  # three free slots: three jobs, one call
    assert [status_of(backend.jobs, j) for j in added] == ["complete"] * 5


class Picky(HandlerWorker):
    def can_process_job(self, job: PendingJob | RunningJob) -> bool:
        return bool(job.params.get("ok", True))


def test_the_jobs_of_a_batch_a_worker_refuses_go_back_untouched(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    refused = make_job({"ok": False}, type="echo", priority=-1)  # the first of the batch
    fine = [make_job({"n": n}, type="echo") for n in range(2)]
    backend.jobs.add([refused, *fine])

    echo_worker(backend, clock, Picky).run(burst=True, handle_signals=False)

    assert backend.jobs.get(refused.metadata.id) == refused
    assert [status_of(backend.jobs, j) for j in fine] == ["complete", "complete"]


class StopAtFirstStart(HandlerWorker):
    def on_job_started(self, job: RunningJob) -> None:
        self.stop()


def test_a_worker_stopping_mid_batch_hands_back_the_jobs_it_did_not_start(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    added = [make_job({"n": n}, type="echo", **ago(clock, 3 - n)) for n in range(3)]
    backend.jobs.add(added)
    worker = echo_worker(backend, clock, StopAtFirstStart)

    worker.run(handle_signals=False)

    assert status_of(backend.jobs, added[0]) == "complete"  # started: it ran to its end
    assert [backend.jobs.get(j.metadata.id) for j in added[1:]] == added[1:]
