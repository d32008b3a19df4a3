"""The jobs part's contract, batch claims: ``claim_many`` takes what ``claim`` would
take one job after another, and each job still goes to exactly one claimer (claims
racing in threads: ``test_contract_jobs``); and a worker on any backend claims as many
jobs as it has free slots in one call, handing back what it refuses and what it has
not started when it stops.

Only protocol methods are used here, so a new backend passes or fails this file as is.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import pytest
from conftest import WORKER_A, WORKER_B, FakeClock

from jobqueue import HandlerWorker, JobQueue
from jobqueue.backend import Backend, JobStore
from jobqueue.job import PendingJob, RunningJob, WorkerInfo

from .helpers import MakeJob, ago, claim, complete, ids

IDLE = 0.3  # the idle_timeout of a follow that should have found every event by then


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


class RaisesOnSecond(HandlerWorker):
    def can_process_job(self, job: PendingJob | RunningJob) -> bool:
        if job.params.get("n") == 1:
            raise RuntimeError("can_process_job failed")
        return True


def test_a_raising_can_process_job_hands_back_every_job_of_the_batch(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    """The one it raised on and the ones after it too: none stays running for a worker
    that will never run it (a live worker's jobs are never reaped)."""
    added = [make_job({"n": n}, type="echo", **ago(clock, 3 - n)) for n in range(3)]
    backend.jobs.add(added)

    with pytest.raises(RuntimeError, match="can_process_job failed"):
        echo_worker(backend, clock, RaisesOnSecond).run(burst=True, handle_signals=False)

    assert [backend.jobs.get(j.metadata.id) for j in added] == added
