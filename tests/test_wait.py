"""queue.wait(id, timeout=): the ended job as soon as it ends, woken by the event log.

On the file and the memory backend. The waits here are real (a wait is about real time),
each bounded by a timeout of a few seconds; the jobs end from another thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path

import pytest
from conftest import START, FakeClock, SeqIds

from jobqueue import (
    CancelledJob,
    CompleteJob,
    FailedJob,
    HandlerWorker,
    InvalidJob,
    Job,
    JobEvent,
    JobNotFound,
    JobQueue,
    PendingJob,
    PermanentError,
)
from jobqueue.waiting import slices


@pytest.fixture(params=["file", "memory"])
def queue(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[JobQueue]:
    store = tmp_path / "data" if request.param == "file" else "memory://"
    queue = JobQueue(store, durable=None if request.param == "memory" else False, clock=clock)
    yield queue
    queue.close()


@pytest.fixture
def worker(queue: JobQueue, clock: FakeClock) -> HandlerWorker:
    worker = HandlerWorker(queue, clock=clock)
    worker.register_handler("ok", lambda params, ctx: {"n": params["n"]})
    worker.register_handler("bad", _fail)
    return worker


def _fail(params: object, ctx: object) -> None:
    raise PermanentError("no")


def later(seconds: float, action: Callable[[], object]) -> threading.Thread:
    """Run ``action`` in a thread after ``seconds`` (the test joins it)."""
    thread = threading.Thread(target=lambda: (time.sleep(seconds), action()))
    thread.start()
    return thread


def count_calls(queue: JobQueue) -> list[str]:
    """Record every ``queue.get_job`` call from now on (the ids read)."""
    calls: list[str] = []
    original = queue.get_job

    def get_job(id: str) -> Job | None:
        calls.append(id)
        return original(id)

    queue.get_job = get_job  # type: ignore[method-assign]
    return calls


def test_an_ended_job_is_returned_at_once(queue: JobQueue, worker: HandlerWorker) -> None:
    ok, bad = queue.enqueue("ok", {"n": 1}), queue.enqueue("bad")
    cancelled = queue.enqueue("ok", {"n": 2})
    queue.cancel(cancelled.metadata.id)
    worker.run(burst=True)
    began = time.monotonic()
    assert isinstance(done := queue.wait(ok.metadata.id, timeout=5), CompleteJob)
    assert done.result == {"n": 1}
    assert isinstance(queue.wait(bad.metadata.id, timeout=5), FailedJob)
    assert isinstance(queue.wait(cancelled.metadata.id, timeout=5), CancelledJob)
    assert time.monotonic() - began < 1.0


def test_wait_returns_when_the_job_ends_woken_by_its_event(
    queue: JobQueue, worker: HandlerWorker
) -> None:
    job = queue.enqueue("ok", {"n": 7})
    calls = count_calls(queue)
    thread = later(0.1, lambda: worker.run(burst=True))
    began = time.monotonic()
    done = queue.wait(job.metadata.id, timeout=10)
    took = time.monotonic() - began
    thread.join(10)
    assert isinstance(done, CompleteJob) and done.result == {"n": 7}
    assert took < 0.9  # well before the waiting thread's first idle re-read (1 s)
    assert calls == [job.metadata.id]  # one read before waiting; the end came as an event


def test_an_end_right_after_the_first_read_is_not_missed(
    queue: JobQueue, worker: HandlerWorker
) -> None:
    """The race: wait reads the job (pending), the job ends, wait starts waiting. The
    log is followed from before the read, so the end's event is seen."""
    job = queue.enqueue("ok", {"n": 1})
    original = queue.get_job

    def read_then_end(id: str) -> Job | None:
        seen = original(id)
        worker.run(burst=True)  # the job ends after we read it
        return seen

    queue.get_job = read_then_end  # type: ignore[method-assign]
    began = time.monotonic()
    assert isinstance(queue.wait(job.metadata.id, timeout=0.8), CompleteJob)
    assert time.monotonic() - began < 0.8


def test_timeout_raises_timeout_error(queue: JobQueue) -> None:
    job = queue.enqueue("ok", {"n": 1})
    began = time.monotonic()
    with pytest.raises(TimeoutError, match=r"did not end within 0\.3s"):
        queue.wait(job.metadata.id, timeout=0.3)
    assert 0.3 <= time.monotonic() - began < 2.0


def test_unknown_and_malformed_ids(queue: JobQueue) -> None:
    with pytest.raises(JobNotFound):
        queue.wait("20300101T000000000000Z-00000000", timeout=5)
    with pytest.raises(InvalidJob):
        queue.wait("../escape", timeout=5)
    with pytest.raises(InvalidJob):
        queue.wait(queue.enqueue("ok").metadata.id, timeout=-1)


def test_a_cancelled_pending_job_ends_the_wait(queue: JobQueue) -> None:
    job = queue.enqueue("ok", {"n": 1})
    thread = later(0.1, lambda: queue.cancel(job.metadata.id, reason="changed my mind"))
    done = queue.wait(job.metadata.id, timeout=10)
    thread.join(10)
    assert isinstance(done, CancelledJob) and done.reason == "changed my mind"


def test_a_job_deleted_while_waited_for_is_not_found(queue: JobQueue) -> None:
    """No event tells of a deletion: the waiting thread's idle re-read finds it gone."""
    job = queue.enqueue("ok", {"n": 1})
    thread = later(0.1, lambda: queue.remove_jobs("ok"))
    with pytest.raises(JobNotFound):
        queue.wait(job.metadata.id, timeout=10)
    thread.join(10)


def test_many_waiters_share_one_thread(queue: JobQueue, worker: HandlerWorker) -> None:
    jobs = queue.enqueue_many("ok", [{"n": n} for n in range(20)])
    results: dict[str, Job] = {}
    before = set(threading.enumerate())  # earlier tests' waiting threads end on their own
    waiters = [
        threading.Thread(target=lambda id=j.metadata.id: results.update({id: queue.wait(id, 10)}))
        for j in jobs
    ]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.2)  # let every waiter subscribe (real threads: nothing to fake here)
    following = [t for t in set(threading.enumerate()) - before if t.name == "jobqueue-wait"]
    worker.run(burst=True)
    for waiter in waiters:
        waiter.join(10)
    assert len(following) == 1
    assert sorted(r.metadata.id for r in results.values()) == [j.metadata.id for j in jobs]
    assert all(isinstance(r, CompleteJob) for r in results.values())


def test_wait_works_with_sequential_ids_too(tmp_path: Path, clock: FakeClock) -> None:
    """Nothing in wait depends on the id format (the test fixtures use job-000001)."""
    queue = JobQueue(tmp_path / "data", durable=False, clock=clock, new_id=SeqIds())
    job = queue.enqueue("ok", {"n": 3})
    worker = HandlerWorker(queue, clock=clock)
    worker.register_handler("ok", lambda params, ctx: params["n"])
    thread = later(0.05, lambda: worker.run(burst=True))
    assert queue.wait(job.metadata.id, timeout=10).status == "complete"
    thread.join(10)


class ScriptedLog:
    """An EventLog whose follows end at once when idle, running ``after_idle`` (if any)
    right after their last look: what a real log can do between one follow's end and
    the next follow's start."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.after_idle: list[Callable[[], None]] = []

    def follow(
        self, since: object = None, *, idle_timeout: float | None = None
    ) -> Iterator[JobEvent]:
        return self._from(len(self.events))  # positioned at the call, as the protocol says

    def _from(self, position: int) -> Iterator[JobEvent]:
        while position < len(self.events):
            yield self.events[position]
            position += 1
        if self.after_idle:
            self.after_idle.pop(0)()

    def samples(self, since: object, until: object = None) -> Iterator[object]:
        return iter(())


def test_following_in_slices_loses_and_repeats_nothing(make_job: Callable[..., PendingJob]) -> None:
    log = ScriptedLog()
    e1, e2 = (JobEvent("created", f"job-{n}", "t", START, make_job()) for n in (1, 2))
    followed = slices(log, idle=0.01)  # type: ignore[arg-type]
    log.events.append(e1)  # seen by the first follow, and by the standby positioned with it
    log.after_idle.append(lambda: log.events.append(e2))  # after the first follow's last look
    assert list(islice(followed, 4)) == [e1, None, e2, None]
