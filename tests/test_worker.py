"""JobWorker and HandlerWorker in one process: outcomes, retries, async jobs, concurrency,
progress, heartbeats, cancellation, timeouts, hooks, store errors and file events.

Workers run in burst mode (bounded by ``burst``) or with ``start()``/``stop()`` (the
``running`` context manager). Tests whose rules depend on time use the FakeClock queue;
tests of real waiting (timeouts, heartbeats, backoff) use ``live_queue``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Assembled, FakeClock, SeqIds
from monitoring import wait_for
from worker_runs import burst, running

from jobqueue import (
    CancelledJob,
    CompleteJob,
    FailedJob,
    HandlerWorker,
    Job,
    JobContext,
    JobQueue,
    JobTimeout,
    JobWorker,
    PendingJob,
    PermanentError,
    Progress,
    RetryLater,
    RetryPolicy,
    RunningJob,
    StoreError,
    WorkerInfo,
)
from jobqueue.backends.file import FileBackend, FileStore
from jobqueue.backends.file.pending_index import PendingIndex
from jobqueue.process import hostname
from jobqueue.worker.base import BURST_ERROR_LIMIT

#: Short intervals so every test finishes in about a second.
FAST: dict[str, Any] = {
    "poll_interval": 0.05,
    "heartbeat_interval": 0.2,
    "shutdown_timeout": 1.0,
    "error_backoff": 0.1,
}
NO_RETRY_WAIT = RetryPolicy(base=60.0, jitter=0.0)  # a retried job stays deferred


# --- helpers -------------------------------------------------------------------------------


def status_of(queue: JobQueue, job_id: str) -> str | None:
    job = queue.get_job(job_id)
    return None if job is None else job.status


def wait_status(queue: JobQueue, job_id: str, status: str, timeout: float = 5.0) -> Job:
    wait_for(lambda: status_of(queue, job_id) == status, timeout, f"{job_id} to be {status}")
    job = queue.get_job(job_id)
    assert job is not None
    return job


class Recorder(HandlerWorker):
    """A HandlerWorker that records every hook call as (hook, job type, job status)."""

    def __init__(self, queue: JobQueue, **options: Any) -> None:
        super().__init__(queue, **{**FAST, **options})
        self.calls: list[tuple[str, str, str]] = []
        self.retry_errors: list[BaseException] = []

    def _note(self, hook: str, job: Job) -> None:
        self.calls.append((hook, job.metadata.type, job.status))

    def on_job_started(self, job: RunningJob) -> None:
        self._note("started", job)

    def on_job_completed(self, job: CompleteJob) -> None:
        self._note("completed", job)

    def on_job_failed(self, job: FailedJob) -> None:
        self._note("failed", job)

    def on_job_retrying(self, job: PendingJob, error: BaseException) -> None:
        self._note("retrying", job)
        self.retry_errors.append(error)

    def on_job_cancelled(self, job: CancelledJob) -> None:
        self._note("cancelled", job)

    def on_cleanup(self, job: RunningJob, ctx: JobContext) -> None:
        self._note("cleanup", job)

    def hooks(self, name: str) -> list[str]:
        """The job types ``name`` was called with, in order."""
        return [job_type for hook, job_type, _ in self.calls if hook == name]


class WrappedStore:
    """A FileStore seen through a wrapper: records every successful move, and can make
    the next few claims, or the next few moves that end an attempt, fail as a broken
    disk would."""

    def __init__(self, inner: FileStore, *, failing_claims: int = 0, failing_ends: int = 0) -> None:
        self.inner = inner
        self.failing_claims = failing_claims
        self.failing_ends = failing_ends  # moves out of running/ (the end of an attempt)
        self.moves: list[tuple[Job, Job]] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def claim(self, *args: Any, **kwargs: Any) -> RunningJob | None:
        if self.failing_claims > 0:
            self.failing_claims -= 1
            raise StoreError("cannot read jobs/pending: Input/output error")
        return self.inner.claim(*args, **kwargs)

    def move(self, old: Job, new: Job) -> None:
        if self.failing_ends > 0 and _running(old) and not _running(new):
            self.failing_ends -= 1
            raise StoreError("cannot write jobs/complete: No space left on device")
        self.inner.move(old, new)
        with self._lock:
            self.moves.append((old, new))

    def running_writes(self) -> list[RunningJob]:
        """The running -> running writes (heartbeats and progress), in order."""
        with self._lock:
            return [n for o, n in self.moves if isinstance(o, RunningJob) and _running(n)]


def _running(job: Job) -> bool:
    return isinstance(job, RunningJob)


@pytest.fixture
def live_queue(data_dir: Path) -> JobQueue:
    """A queue on the real clock, for tests that wait for real time to pass."""
    return JobQueue(data_dir, durable=False, new_id=SeqIds())


def wrapped_queue(data_dir: Path, **options: Any) -> tuple[JobQueue, WrappedStore]:
    """A queue whose jobs part is a WrappedStore around the real file store."""
    backend = FileBackend(data_dir, durable=False)
    store = WrappedStore(backend.jobs, **options)
    return JobQueue(Assembled.of(backend, jobs=store), new_id=SeqIds()), store


class Echo(JobWorker):
    """Returns its params; serves only ``echo``."""

    job_types = frozenset({"echo"})

    def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
        return job.params


# --- outcomes ------------------------------------------------------------------------------


def test_a_returned_value_is_stored_as_normalised_json(
    queue: JobQueue, clock: FakeClock, data_dir: Path
) -> None:
    class Shapes(JobWorker):
        def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
            return {"pair": (1, 2), "at": datetime(2030, 1, 2, tzinfo=UTC), "n": 1.5}

    job = queue.enqueue("shapes", {"path": "a.png"})
    burst(Shapes(queue, **FAST))
    done = queue.get_job(job.metadata.id)
    assert isinstance(done, CompleteJob)
    assert done.result == {"pair": [1, 2], "at": "2030-01-02T00:00:00+00:00", "n": 1.5}
    assert done.completed_at == clock.now()
    assert [a.error for a in done.attempts] == [None]
    on_disk = json.loads((data_dir / "jobs" / "complete" / f"{job.metadata.id}.json").read_text())
    assert on_disk["status"] == "complete"
    assert on_disk["result"] == done.result


def test_a_failure_with_retries_left_goes_back_to_pending_after_the_policy_delay(
    queue: JobQueue, clock: FakeClock
) -> None:
    worker = Recorder(queue, retry_policy=RetryPolicy(base=2.0, factor=3.0, jitter=0.0))

    @worker.handler("boom")
    def boom(params: Any, ctx: JobContext) -> None:
        raise ValueError("disk is lava")

    job = queue.enqueue("boom", max_retries=3)
    burst(worker)
    again = queue.get_job(job.metadata.id)
    assert isinstance(again, PendingJob)
    assert again.metadata.retry_count == 1
    assert again.metadata.run_at == clock.now() + timedelta(seconds=2)  # base * factor**0
    (attempt,) = again.attempts
    assert attempt.error is not None
    assert (attempt.error.type, attempt.error.message) == ("ValueError", "disk is lava")
    assert attempt.error.traceback is not None
    assert "Traceback" in attempt.error.traceback
    assert 'raise ValueError("disk is lava")' in attempt.error.traceback

    clock.advance(2)
    burst(worker)
    again = queue.get_job(job.metadata.id)
    assert isinstance(again, PendingJob)
    assert again.metadata.retry_count == 2
    assert again.metadata.run_at == clock.now() + timedelta(seconds=6)  # base * factor**1
    assert len(again.attempts) == 2
    assert worker.hooks("retrying") == ["boom", "boom"]


def test_a_job_whose_retries_are_used_up_ends_in_failed(
    queue: JobQueue, clock: FakeClock, data_dir: Path
) -> None:
    worker = Recorder(queue, retry_policy=RetryPolicy(base=1.0, jitter=0.0))
    worker.register_handler("boom", lambda params, ctx: 1 / 0)
    job = queue.enqueue("boom", max_retries=1)
    burst(worker)
    clock.advance(1)
    burst(worker)
    failed = queue.get_job(job.metadata.id)
    assert isinstance(failed, FailedJob)
    assert failed.error.type == "ZeroDivisionError"
    assert failed.failed_at == clock.now()
    assert [a.error.type for a in failed.attempts if a.error] == ["ZeroDivisionError"] * 2
    assert (data_dir / "jobs" / "failed" / f"{job.metadata.id}.json").exists()
    assert worker.hooks("failed") == ["boom"]


def test_permanent_error_fails_at_once_whatever_retries_are_left(queue: JobQueue) -> None:
    worker = Recorder(queue)

    @worker.handler("bad-input")
    def bad_input(params: Any, ctx: JobContext) -> None:
        raise PermanentError("no such image: a.png")

    job = queue.enqueue("bad-input", max_retries=5)
    burst(worker)
    failed = queue.get_job(job.metadata.id)
    assert isinstance(failed, FailedJob)
    assert (failed.error.type, failed.error.message) == ("PermanentError", "no such image: a.png")
    assert len(failed.attempts) == 1
    assert failed.metadata.retry_count == 0
    assert worker.hooks("retrying") == []


@pytest.mark.parametrize(("max_retries", "expected"), [(3, "pending"), (0, "failed")])
def test_retry_later_asks_for_its_own_delay(
    queue: JobQueue, clock: FakeClock, max_retries: int, expected: str
) -> None:
    worker = Recorder(queue)  # the default policy (1s ± 25%) must not be used

    @worker.handler("rate-limited")
    def rate_limited(params: Any, ctx: JobContext) -> None:
        raise RetryLater(42, "the API said 429")

    job = queue.enqueue("rate-limited", max_retries=max_retries)
    burst(worker)
    after = queue.get_job(job.metadata.id)
    assert after is not None and after.status == expected
    assert after.attempts[-1].error is not None
    assert after.attempts[-1].error.message == "the API said 429"
    if isinstance(after, PendingJob):
        assert after.metadata.run_at == clock.now() + timedelta(seconds=42)
        assert after.metadata.retry_count == 1


def test_a_result_that_is_not_json_fails_the_attempt_and_the_worker_goes_on(
    queue: JobQueue,
) -> None:
    worker = Recorder(queue)
    worker.register_handler("opaque", lambda params, ctx: object())
    worker.register_handler("plain", lambda params, ctx: "fine")
    bad = queue.enqueue("opaque", max_retries=0)
    good = queue.enqueue("plain")
    burst(worker)
    failed = queue.get_job(bad.metadata.id)
    assert isinstance(failed, FailedJob)
    assert failed.error.type == "InvalidJob"
    assert failed.error.message == "result is not JSON: object at result"
    done = queue.get_job(good.metadata.id)
    assert isinstance(done, CompleteJob) and done.result == "fine"


def test_a_worker_never_claims_a_job_type_it_does_not_serve(
    queue: JobQueue, data_dir: Path
) -> None:
    other = queue.enqueue("other", {"x": 1})
    mine = queue.enqueue("echo", {"y": 2})
    path = data_dir / "jobs" / "pending" / f"{other.metadata.id}.json"
    before, stat = path.read_bytes(), path.stat()
    burst(Echo(queue, **FAST))
    assert path.read_bytes() == before
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert status_of(queue, mine.metadata.id) == "complete"


def test_burst_returns_while_only_deferred_jobs_remain(queue: JobQueue) -> None:
    later = queue.enqueue("echo", {"n": 1}, delay=60)
    now = queue.enqueue("echo", {"n": 2})
    took = burst(Echo(queue, **FAST))
    assert took < 2
    assert status_of(queue, now.metadata.id) == "complete"
    assert status_of(queue, later.metadata.id) == "pending"


def test_a_job_refused_by_can_process_job_is_handed_back_and_does_not_block_others(
    queue: JobQueue,
) -> None:
    class Picky(JobWorker):
        def can_process_job(self, job: PendingJob | RunningJob) -> bool:
            return bool(job.params.get("ok"))  # type: ignore[union-attr]

        def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
            return "done"

    refused = queue.enqueue("x", {"ok": False})  # the oldest: claimed first
    accepted = queue.enqueue("x", {"ok": True})
    burst(Picky(queue, **FAST))
    assert status_of(queue, accepted.metadata.id) == "complete"
    back = queue.get_job(refused.metadata.id)
    assert isinstance(back, PendingJob)
    assert back.attempts == () and back.metadata.retry_count == 0


def test_a_short_real_backoff_retries_and_completes_on_the_second_attempt(
    live_queue: JobQueue,
) -> None:
    worker = Recorder(live_queue, retry_policy=RetryPolicy(base=0.05, jitter=0.0))

    @worker.handler("flaky")
    def flaky(params: Any, ctx: JobContext) -> str:
        if not ctx.job.attempts:
            raise ConnectionError("first try fails")
        return "second try works"

    job = live_queue.enqueue("flaky")
    with running(worker):
        done = wait_status(live_queue, job.metadata.id, "complete")
    assert isinstance(done, CompleteJob) and done.result == "second try works"
    first, second = done.attempts
    assert first.error is not None and first.error.type == "ConnectionError"
    assert second.error is None
    assert second.started_at - first.ended_at >= timedelta(seconds=0.05)


def test_a_job_of_a_dead_worker_is_reaped_when_a_worker_starts(queue: JobQueue) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    dead = WorkerInfo(name="dead", host=hostname(), pid=int(gone.stdout), pid_started=None)
    job = queue.enqueue("echo", {"a": 1})
    assert queue.backend.jobs.claim(dead, queue.clock.now()) is not None
    burst(Echo(queue, **FAST))
    done = queue.get_job(job.metadata.id)
    assert isinstance(done, CompleteJob)
    lost, ok = done.attempts
    assert lost.error is not None and lost.error.type == "WorkerLost"
    assert ok.error is None


# --- async jobs and handlers ---------------------------------------------------------------


class Gauge:
    """Counts handlers inside a block at once, the most ever seen, and the time from the
    first entry to the last exit."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.peak = 0
        self.times: list[float] = []

    @contextmanager
    def visit(self) -> Iterator[None]:
        with self.lock:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            self.times.append(time.monotonic())
        try:
            yield
        finally:
            with self.lock:
                self.inside -= 1
                self.times.append(time.monotonic())

    def span(self) -> float:
        return max(self.times) - min(self.times)


def test_async_execute_job_results_and_errors(queue: JobQueue) -> None:
    class AsyncEcho(JobWorker):
        async def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:  # type: ignore[override]
            await asyncio.sleep(0.01)
            if job.params.get("fail"):  # type: ignore[union-attr]
                raise ValueError("async boom")
            return {"echo": job.params["x"]}  # type: ignore[call-overload]

    ok = queue.enqueue("aecho", {"x": 7})
    bad = queue.enqueue("aecho", {"fail": True}, max_retries=0)
    burst(AsyncEcho(queue, **FAST))
    done = queue.get_job(ok.metadata.id)
    assert isinstance(done, CompleteJob) and done.result == {"echo": 7}
    failed = queue.get_job(bad.metadata.id)
    assert isinstance(failed, FailedJob)
    assert (failed.error.type, failed.error.message) == ("ValueError", "async boom")


def test_async_handlers_share_one_event_loop_and_overlap(live_queue: JobQueue) -> None:
    worker = Recorder(live_queue, concurrency=3)
    loops: set[int] = set()
    gauge = Gauge()

    @worker.handler("nap")
    async def nap(params: Any, ctx: JobContext) -> int:
        loops.add(id(asyncio.get_running_loop()))
        with gauge.visit():
            await asyncio.sleep(0.3)
        return int(params["n"])

    jobs = [live_queue.enqueue("nap", {"n": n}) for n in range(3)]
    burst(worker)
    assert gauge.peak == 3, "the three async naps did not overlap"
    assert len(loops) == 1
    results = [live_queue.get_job(j.metadata.id) for j in jobs]
    assert [r.result for r in results if isinstance(r, CompleteJob)] == [0, 1, 2]


def test_a_cancelled_async_handler_is_cancelled(live_queue: JobQueue) -> None:
    worker = Recorder(live_queue)

    @worker.handler("sleepy")
    async def sleepy(params: Any, ctx: JobContext) -> None:
        await asyncio.sleep(30)

    job = live_queue.enqueue("sleepy")
    with running(worker):
        wait_status(live_queue, job.metadata.id, "running")
        assert live_queue.cancel(job.metadata.id, reason="no longer needed")
        cancelled = wait_status(live_queue, job.metadata.id, "cancelled", timeout=3)
    assert isinstance(cancelled, CancelledJob) and cancelled.reason == "no longer needed"
    assert worker.hooks("cleanup") == ["sleepy"]


# --- HandlerWorker -------------------------------------------------------------------------


def test_handlers_by_decorator_and_by_register_handler(queue: JobQueue) -> None:
    worker = HandlerWorker(queue, **FAST)

    @worker.handler("send_email")
    def send_email(params: Any, ctx: JobContext) -> str:
        return f"sent to {params['to']} (job {ctx.job_id})"

    worker.register_handler("shout", lambda params, ctx: params["text"].upper())
    email = queue.enqueue("send_email", {"to": "ada@example.com"})
    shout = queue.enqueue("shout", {"text": "hi"})
    unknown = queue.enqueue("unknown")
    burst(worker)
    sent = queue.get_job(email.metadata.id)
    assert isinstance(sent, CompleteJob)
    assert sent.result == f"sent to ada@example.com (job {email.metadata.id})"
    shouted = queue.get_job(shout.metadata.id)
    assert isinstance(shouted, CompleteJob) and shouted.result == "HI"
    assert status_of(queue, unknown.metadata.id) == "pending"


def test_spread_passes_list_params_as_arguments_and_dict_params_as_keywords(
    queue: JobQueue,
) -> None:
    worker = HandlerWorker(queue, **FAST)

    @worker.handler("add", spread=True)
    def add(a: int, b: int) -> int:
        return a - b  # not commutative: shows which argument went where

    @worker.handler("tag", spread=True)
    def tag(name: str, ctx: JobContext) -> str:
        return f"{name}@{ctx.metadata.type}"

    as_list = queue.enqueue("add", [5, 2])
    as_dict = queue.enqueue("add", {"b": 5, "a": 2})
    with_ctx = queue.enqueue("tag", {"name": "v1"})
    burst(worker)
    results = {}
    for job in (as_list, as_dict, with_ctx):
        done = queue.get_job(job.metadata.id)
        assert isinstance(done, CompleteJob), done
        results[job.metadata.id] = done.result
    assert list(results.values()) == [3, -3, "v1@tag"]


# --- concurrency ---------------------------------------------------------------------------


def test_jobs_overlap_up_to_the_concurrency_and_never_beyond(live_queue: JobQueue) -> None:
    worker = Recorder(live_queue, concurrency=3)
    gauge = Gauge()

    @worker.handler("nap")
    def nap(params: Any, ctx: JobContext) -> None:
        with gauge.visit():
            time.sleep(0.2)

    live_queue.enqueue_many("nap", [{}] * 7)
    burst(worker)
    assert gauge.peak == 3
    assert gauge.span() < 1.0, f"7 naps of 0.2s on 3 slots took {gauge.span():.2f}s"
    assert live_queue.stats()["complete"] == 7


def test_set_concurrency_takes_effect_while_running(live_queue: JobQueue) -> None:
    worker = Recorder(live_queue, concurrency=1)
    gauge, release = Gauge(), threading.Event()

    @worker.handler("hold")
    def hold(params: Any, ctx: JobContext) -> None:
        with gauge.visit():
            release.wait(10)

    live_queue.enqueue_many("hold", [{}] * 4)
    with running(worker):
        try:
            wait_for(lambda: gauge.inside == 1, what="one job to start")
            time.sleep(0.3)
            assert gauge.peak == 1
            worker.set_concurrency(3)
            wait_for(lambda: gauge.inside == 3, timeout=2, what="three jobs at once")
            time.sleep(0.2)
            assert gauge.peak == 3
        finally:
            release.set()
        wait_for(lambda: live_queue.stats()["complete"] == 4, what="all four to complete")


# --- progress and heartbeats ---------------------------------------------------------------


def test_progress_is_visible_in_the_running_file_within_a_second(live_queue: JobQueue) -> None:
    worker = Recorder(live_queue, heartbeat_interval=5.0)
    reported, release = threading.Event(), threading.Event()
    reported_at: list[float] = []

    @worker.handler("resize")
    def resize(params: Any, ctx: JobContext) -> None:
        ctx.report_progress(40, stage="resizing", message="a.png")
        reported_at.append(time.monotonic())
        reported.set()
        release.wait(10)

    job = live_queue.enqueue("resize")
    with running(worker):
        try:
            assert reported.wait(5)
            seen = wait_for(
                lambda: _progress(live_queue, job.metadata.id), timeout=2, what="progress"
            )
            latency = time.monotonic() - reported_at[0]
        finally:
            release.set()
        wait_status(live_queue, job.metadata.id, "complete")
    assert seen == Progress(percentage=40.0, stage="resizing", message="a.png")
    assert latency < 1.0


def _progress(queue: JobQueue, job_id: str) -> Progress | None:
    job = queue.get_job(job_id)
    return job.progress if isinstance(job, RunningJob) else None


def test_a_tight_progress_loop_costs_a_handful_of_writes_and_the_last_value_is_written(
    data_dir: Path,
) -> None:
    queue, store = wrapped_queue(data_dir)
    worker = Recorder(queue, heartbeat_interval=5.0)
    calls = 20_000

    @worker.handler("tight")
    def tight(params: Any, ctx: JobContext) -> str:
        for i in range(calls + 1):
            ctx.report_progress(100 * i / calls, stage="counting", message=f"step {i}")
        return "counted"

    job = queue.enqueue("tight")
    burst(worker)
    writes = store.running_writes()
    assert 1 <= len(writes) <= 10, f"{calls} progress reports made {len(writes)} writes"
    last = Progress(percentage=100.0, stage="counting", message=f"step {calls}")
    assert writes[-1].progress == last
    old, new = store.moves[-1]
    assert isinstance(new, CompleteJob) and new.metadata.id == job.metadata.id
    assert isinstance(old, RunningJob) and old.progress == last  # left running with it


def test_heartbeats_continue_while_a_cpu_bound_handler_spins(data_dir: Path) -> None:
    queue, store = wrapped_queue(data_dir)
    worker = Recorder(queue, heartbeat_interval=0.2)

    @worker.handler("spin")
    def spin(params: Any, ctx: JobContext) -> int:
        ends, n = time.monotonic() + 1.2, 0
        while time.monotonic() < ends:
            n += 1
        return n

    job = queue.enqueue("spin")
    burst(worker)
    beats = [w.heartbeat_at for w in store.running_writes()]
    assert len(beats) >= 3, f"only {len(beats)} heartbeats in 1.2s at a 0.2s interval"
    assert beats == sorted(beats)
    done = queue.get_job(job.metadata.id)
    assert isinstance(done, CompleteJob)
    assert beats[-1] - done.started_at >= timedelta(seconds=0.6)


# --- cancellation --------------------------------------------------------------------------

CANCEL_SCRIPT = (
    "import sys; from jobqueue import JobQueue; "
    "q = JobQueue(sys.argv[1], durable=False); "
    "sys.exit(0 if q.cancel(sys.argv[2], reason=sys.argv[3]) else 1)"
)


def cancel_from_another_process(data_dir: Path, job_id: str, reason: str) -> None:
    command = [sys.executable, "-c", CANCEL_SCRIPT, str(data_dir), job_id, reason]
    subprocess.run(command, check=True, timeout=30)


def _stops_by_progress(ctx: JobContext) -> None:
    for i in range(1000):
        ctx.report_progress(i / 10)  # raises JobCancelled once a cancel was asked
        time.sleep(0.01)


def _stops_by_check(ctx: JobContext) -> None:
    for _ in range(1000):
        ctx.raise_if_cancelled()
        time.sleep(0.01)


def _stops_with_another_error(ctx: JobContext) -> None:
    ctx.wait(10)
    raise OSError("connection reset while stopping")


@pytest.mark.parametrize(
    "stop",
    [_stops_by_progress, _stops_by_check, _stops_with_another_error],
    ids=lambda f: f.__name__,
)
def test_a_cancel_from_another_process_stops_the_job_for_good(
    live_queue: JobQueue, data_dir: Path, stop: Callable[[JobContext], None]
) -> None:
    worker = Recorder(live_queue)
    seen: list[tuple[bool, str | None, str]] = []

    @worker.handler("long")
    def long(params: Any, ctx: JobContext) -> str:
        try:
            stop(ctx)
        except Exception as e:
            seen.append((ctx.cancelled, ctx.cancel_reason, type(e).__name__))
            raise
        return "finished anyway"

    job = live_queue.enqueue("long", max_retries=3)
    with running(worker):
        wait_status(live_queue, job.metadata.id, "running")
        cancel_from_another_process(data_dir, job.metadata.id, "changed my mind")
        cancelled = wait_status(live_queue, job.metadata.id, "cancelled", timeout=3)
        time.sleep(0.2)  # long enough for a wrong retry to start
    raised = "OSError" if stop is _stops_with_another_error else "JobCancelled"
    assert seen == [(True, "changed my mind", raised)]
    assert isinstance(cancelled, CancelledJob)
    assert cancelled.reason == "changed my mind"
    assert cancelled.metadata.retry_count == 0
    (attempt,) = cancelled.attempts
    assert attempt.error is not None and attempt.error.type == "JobCancelled"
    assert status_of(live_queue, job.metadata.id) == "cancelled"
    assert Counter(h for h, _, _ in worker.calls) == {"started": 1, "cleanup": 1, "cancelled": 1}


def test_a_handler_that_ignores_a_cancel_and_returns_completes(live_queue: JobQueue) -> None:
    worker = Recorder(live_queue)

    @worker.handler("stubborn")
    def stubborn(params: Any, ctx: JobContext) -> dict[str, bool]:
        ctx.wait(10)  # wakes on the cancel, then finishes the work anyway
        return {"done": True}

    job = live_queue.enqueue("stubborn")
    with running(worker):
        wait_status(live_queue, job.metadata.id, "running")
        assert live_queue.cancel(job.metadata.id)
        done = wait_status(live_queue, job.metadata.id, "complete", timeout=3)
    assert isinstance(done, CompleteJob) and done.result == {"done": True}
    assert worker.hooks("cleanup") == []
    assert worker.hooks("completed") == ["stubborn"]


# --- timeouts ------------------------------------------------------------------------------


def _raises_on_timeout(ctx: JobContext) -> Any:
    ctx.wait(10)
    ctx.raise_if_cancelled()


def _returns_on_timeout(ctx: JobContext) -> Any:
    ctx.wait(10)
    return "too late"


@pytest.mark.parametrize(
    "handler", [_raises_on_timeout, _returns_on_timeout], ids=lambda f: f.__name__
)
def test_a_soft_timeout_fails_the_attempt_with_job_timeout(
    live_queue: JobQueue, handler: Callable[[JobContext], Any]
) -> None:
    worker = Recorder(live_queue, retry_policy=NO_RETRY_WAIT)
    reasons: list[str | None] = []

    @worker.handler("slow")
    def slow(params: Any, ctx: JobContext) -> Any:
        try:
            return handler(ctx)
        finally:
            reasons.append(ctx.cancel_reason)

    job = live_queue.enqueue("slow", timeout=0.3, max_retries=1)
    took = burst(worker)
    assert took < 3
    again = live_queue.get_job(job.metadata.id)
    assert isinstance(again, PendingJob)
    assert again.metadata.retry_count == 1
    (attempt,) = again.attempts
    assert attempt.error is not None and attempt.error.type == "JobTimeout"
    assert "0.3s" in attempt.error.message
    assert reasons == ["timeout"]
    (error,) = worker.retry_errors
    assert isinstance(error, JobTimeout)


def test_a_hard_timeout_kills_a_stuck_job_under_process_isolation(live_queue: JobQueue) -> None:
    worker = Recorder(live_queue, isolation="process")
    worker.register_handler("stuck", lambda params, ctx: time.sleep(1000))
    job = live_queue.enqueue("stuck", timeout=0.5, max_retries=0)
    took = burst(worker, timeout=15)
    assert took < 6
    failed = live_queue.get_job(job.metadata.id)
    assert isinstance(failed, FailedJob)
    assert failed.error.type == "JobTimeout"


def test_cancelling_a_stuck_job_under_process_isolation_kills_it(live_queue: JobQueue) -> None:
    worker = Recorder(live_queue, isolation="process")
    worker.register_handler("stuck", lambda params, ctx: time.sleep(1000))
    job = live_queue.enqueue("stuck")
    with running(worker):
        wait_status(live_queue, job.metadata.id, "running")
        asked = time.monotonic()
        assert live_queue.cancel(job.metadata.id, reason="stuck")
        cancelled = wait_status(live_queue, job.metadata.id, "cancelled", timeout=8)
        took = time.monotonic() - asked
    assert took < 6
    assert isinstance(cancelled, CancelledJob) and cancelled.reason == "stuck"
    assert worker.hooks("cleanup") == ["stuck"]


def test_process_isolation_relays_result_progress_and_errors(data_dir: Path) -> None:
    queue, store = wrapped_queue(data_dir)
    worker = Recorder(queue, isolation="process")

    @worker.handler("where")
    def where(params: Any, ctx: JobContext) -> int:
        ctx.report_progress(50, stage="half")
        return os.getpid()

    @worker.handler("refuse")
    def refuse(params: Any, ctx: JobContext) -> None:
        raise PermanentError("nope")

    ok = queue.enqueue("where")
    bad = queue.enqueue("refuse", max_retries=3)
    burst(worker, timeout=15)
    done = queue.get_job(ok.metadata.id)
    assert isinstance(done, CompleteJob)
    assert isinstance(done.result, int) and done.result != os.getpid()
    assert store.running_writes()[-1].progress == Progress(percentage=50.0, stage="half")
    failed = queue.get_job(bad.metadata.id)
    assert isinstance(failed, FailedJob) and failed.error.type == "PermanentError"
    assert len(failed.attempts) == 1


# --- hooks ---------------------------------------------------------------------------------


def test_each_hook_is_called_once_per_event_with_the_job_in_its_new_state(
    queue: JobQueue, clock: FakeClock
) -> None:
    worker = Recorder(queue, retry_policy=RetryPolicy(base=1.0, jitter=0.0))
    worker.register_handler("ok", lambda params, ctx: "fine")

    @worker.handler("flaky")
    def flaky(params: Any, ctx: JobContext) -> str:
        if not ctx.job.attempts:
            raise TimeoutError("upstream slow")
        return "fine"

    @worker.handler("bad")
    def bad(params: Any, ctx: JobContext) -> None:
        raise PermanentError("bad input")

    @worker.handler("halt")
    def halt(params: Any, ctx: JobContext) -> None:
        queue.cancel(ctx.job_id, reason="halt")
        ctx.wait(5)
        ctx.raise_if_cancelled()

    for job_type in ("ok", "flaky", "bad", "halt"):
        queue.enqueue(job_type)
    burst(worker)
    clock.advance(1)
    burst(worker)
    assert Counter(worker.calls) == {
        ("started", "ok", "running"): 1,
        ("started", "flaky", "running"): 2,
        ("started", "bad", "running"): 1,
        ("started", "halt", "running"): 1,
        ("completed", "ok", "complete"): 1,
        ("retrying", "flaky", "pending"): 1,
        ("completed", "flaky", "complete"): 1,
        ("failed", "bad", "failed"): 1,
        ("cleanup", "halt", "running"): 1,
        ("cancelled", "halt", "cancelled"): 1,
    }
    (error,) = worker.retry_errors
    assert isinstance(error, TimeoutError) and str(error) == "upstream slow"


def test_a_hook_that_raises_is_logged_and_the_worker_keeps_going(
    queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    class Clumsy(Echo):
        def on_job_started(self, job: RunningJob) -> None:
            raise RuntimeError("hook bug")

        def on_job_completed(self, job: CompleteJob) -> None:
            raise RuntimeError("hook bug")

    jobs = [queue.enqueue("echo", {"n": n}) for n in range(2)]
    with caplog.at_level(logging.ERROR, logger="jobqueue"):
        burst(Clumsy(queue, **FAST))
    assert [status_of(queue, j.metadata.id) for j in jobs] == ["complete", "complete"]
    raised = [r.getMessage() for r in caplog.records if r.exc_info]
    assert raised.count("hook on_job_started raised") == 2
    assert raised.count("hook on_job_completed raised") == 2


# --- store errors --------------------------------------------------------------------------


def test_a_store_error_on_claim_is_logged_then_the_worker_backs_off_and_goes_on(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue, _ = wrapped_queue(data_dir, failing_claims=BURST_ERROR_LIMIT - 1)
    job = queue.enqueue("echo", {"a": 1})
    with caplog.at_level(logging.WARNING, logger="jobqueue"):
        took = burst(Echo(queue, **{**FAST, "error_backoff": 0.2}))
    assert status_of(queue, job.metadata.id) == "complete"
    assert took >= (BURST_ERROR_LIMIT - 1) * 0.2
    errors = [r.getMessage() for r in caplog.records if "store error" in r.getMessage()]
    assert len(errors) == 1 and "Input/output error" in errors[0]  # once per streak
    back = f"the store is back after {BURST_ERROR_LIMIT - 1} failed claim(s)"
    assert back in [r.getMessage() for r in caplog.records]


def test_a_store_error_when_recording_the_end_is_retried_not_left_in_running(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    queue, _ = wrapped_queue(data_dir, failing_ends=2)
    job = queue.enqueue("echo", {"a": 1})
    with caplog.at_level(logging.ERROR, logger="jobqueue"):
        took = burst(Echo(queue, **{**FAST, "error_backoff": 0.2}))
    done = queue.get_job(job.metadata.id)
    assert isinstance(done, CompleteJob) and done.result == {"a": 1}
    assert took >= 2 * 0.2
    assert sum("No space left on device" in r.getMessage() for r in caplog.records) == 2


# --- shutdown in one process ---------------------------------------------------------------


def test_stop_lets_short_jobs_finish_and_hands_long_ones_back(live_queue: JobQueue) -> None:
    worker = Recorder(live_queue, concurrency=2, shutdown_timeout=0.5)
    worker.register_handler("short", lambda params, ctx: time.sleep(0.2))

    @worker.handler("long")
    def long(params: Any, ctx: JobContext) -> None:
        while True:
            ctx.raise_if_cancelled()
            time.sleep(0.01)

    short = live_queue.enqueue("short")
    long_job = live_queue.enqueue("long")
    worker.start()
    wait_for(lambda: live_queue.stats()["running"] == 2, what="both jobs to run")
    began = time.monotonic()
    worker.stop(timeout=10)
    assert time.monotonic() - began < 3
    assert status_of(live_queue, short.metadata.id) == "complete"
    back = live_queue.get_job(long_job.metadata.id)
    assert isinstance(back, PendingJob)
    assert back.attempts == () and back.metadata.retry_count == 0
    assert live_queue.stats()["running"] == 0
    assert worker.hooks("cleanup") == [] and worker.hooks("cancelled") == []


def test_stop_now_hands_back_a_job_that_ignores_the_shutdown(live_queue: JobQueue) -> None:
    worker = Recorder(live_queue, shutdown_timeout=30)
    release = threading.Event()
    worker.register_handler("deaf", lambda params, ctx: release.wait(10))
    job = live_queue.enqueue("deaf")
    try:
        worker.start()
        wait_status(live_queue, job.metadata.id, "running")
        began = time.monotonic()
        worker.stop(now=True, timeout=10)
        assert time.monotonic() - began < 2
    finally:
        release.set()
    back = live_queue.get_job(job.metadata.id)
    assert isinstance(back, PendingJob) and back.attempts == ()


# --- file events ---------------------------------------------------------------------------


def start_latency(
    data_dir: Path,
    idle: float,
    *,
    rescan_interval: float,
    during: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> float:
    """Seconds from enqueue to start of a job given to a worker with a 10 s poll interval
    after ``idle`` seconds without work (``during`` wraps the enqueue).

    ``rescan_interval=0`` makes an empty claim list pending/ (FileStore's fallback for
    files its index missed); the index-line race has a test of its own below."""
    backend = FileBackend(data_dir, durable=False, rescan_interval=rescan_interval)
    queue = JobQueue(backend, new_id=SeqIds())
    worker = Recorder(queue, poll_interval=10.0)
    started: dict[str, float] = {}
    worker.register_handler("ping", lambda p, ctx: started.setdefault(ctx.job_id, time.monotonic()))
    with running(worker):
        first = queue.enqueue("ping")  # proves the loop runs, whenever it started
        wait_status(queue, first.metadata.id, "complete")
        time.sleep(idle)
        enqueued = time.monotonic()
        with during():
            second = queue.enqueue("ping")
        wait_status(queue, second.metadata.id, "complete", timeout=2)
    return started[second.metadata.id] - enqueued


def test_an_idle_worker_wakes_on_a_file_event_not_its_poll_interval(data_dir: Path) -> None:
    latency = start_latency(data_dir, idle=0.7, rescan_interval=0.0)
    assert latency < 0.25, f"an idle worker took {latency:.2f}s to start a new job"


def test_a_job_enqueued_just_after_another_starts_at_once(data_dir: Path) -> None:
    latency = start_latency(data_dir, idle=0.05, rescan_interval=0.0)
    assert latency < 0.25, f"an idle worker took {latency:.2f}s to start a new job"


@contextmanager
def late_index_line() -> Iterator[None]:
    """The enqueuer is descheduled between linking the job file and appending its line."""
    append = PendingIndex.append

    def late_append(self: PendingIndex, entries: Any) -> None:
        time.sleep(0.3)
        append(self, entries)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PendingIndex, "append", late_append)
        yield


def test_a_worker_woken_before_the_index_line_is_written_still_starts_the_job(
    data_dir: Path,
) -> None:
    start_latency(data_dir, idle=0.7, rescan_interval=60.0, during=late_index_line)
