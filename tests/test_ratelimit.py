"""RateLimit: the sliding-log windows as pure functions, its checks, a limited job deferred
(never failed) under each kind of key, burst mode waiting out the limit, and one limit
held by two worker processes on one data directory.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START, FakeClock
from monitoring import wait_for
from worker_runs import FAST, burst, running

from jobqueue import (
    CompleteJob,
    HandlerWorker,
    InvalidJob,
    JobContext,
    JobQueue,
    PendingJob,
    RateLimit,
    RetryPolicy,
    RunningJob,
)
from jobqueue.ratelimit import next_slot

RATE_WORKER = Path(__file__).parent / "workers" / "rate_worker.py"


# --- windows and next_slot, pure --------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "windows"),
    [
        (RateLimit(max_per_second=5), [(1.0, 5)]),
        (RateLimit(max_per_minute=120), [(60.0, 120)]),
        (RateLimit(max_per_second=0.5), [(2.0, 1)]),  # one start every 2 s
        (RateLimit(max_per_second=1.5), [(1 / 1.5, 1)]),  # evenly spaced, not rounded down
        (RateLimit(max_per_minute=0.5), [(120.0, 1)]),
        (RateLimit(max_per_second=10, max_per_minute=30), [(1.0, 10), (60.0, 30)]),
    ],
)
def test_windows(limit: RateLimit, windows: list[tuple[float, int]]) -> None:
    assert limit.windows() == windows


def greedy_starts(limit: RateLimit, seconds: float) -> list[float]:
    """Start times, from 0, of jobs that start as soon as the limit lets them."""
    history: list[float] = []
    now = 0.0
    while now < seconds:
        slot = next_slot(history, now, limit.windows())
        if slot is None:
            history.append(now)
        else:
            assert slot > now
            now = slot
    return history


def most_in_a_window(starts: list[float], window: float) -> int:
    return max(sum(1 for t in starts if s <= t < s + window) for s in starts)


def test_per_second_admits_five_at_once_then_waits_for_the_window() -> None:
    starts = greedy_starts(RateLimit(max_per_second=5), 3.0)
    assert starts == [0.0] * 5 + [1.0] * 5 + [2.0] * 5
    assert most_in_a_window(starts, 1.0) == 5


def test_per_minute() -> None:
    starts = greedy_starts(RateLimit(max_per_minute=3), 180.0)
    assert starts == [0.0] * 3 + [60.0] * 3 + [120.0] * 3


def test_a_fractional_rate_spaces_starts_evenly() -> None:
    assert greedy_starts(RateLimit(max_per_second=0.5), 7.0) == [0.0, 2.0, 4.0, 6.0]
    starts = greedy_starts(RateLimit(max_per_second=1.5), 9.9)
    assert len(starts) == 15  # 1.5/s, not rounded down to 1/s
    assert most_in_a_window(starts, 1.0) == 2


def test_both_limits_hold() -> None:
    starts = greedy_starts(RateLimit(max_per_second=10, max_per_minute=30), 120.0)
    assert starts == [float(second) for second in (0, 1, 2, 60, 61, 62) for _ in range(10)]
    assert most_in_a_window(starts, 1.0) == 10
    assert most_in_a_window(starts, 60.0) == 30


def test_next_slot() -> None:
    windows = [(1.0, 2)]
    assert next_slot([], 10.0, windows) is None
    assert next_slot([9.5], 10.0, windows) is None
    assert next_slot([9.5, 9.8], 10.0, windows) == pytest.approx(10.5)  # the older leaves
    assert next_slot([8.0, 9.0], 10.0, windows) is None  # both out of the window
    assert next_slot([9.5, 9.8], 10.0, [(1.0, 2), (60.0, 2)]) == pytest.approx(69.5)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs max_per_second or max_per_minute"),
        ({"max_per_second": 0}, "positive"),
        ({"max_per_minute": -1}, "positive"),
        ({"max_per_second": math.nan}, "positive"),
        ({"max_per_second": math.inf}, "finite"),
        ({"max_per_second": "5"}, "positive numbers"),
        ({"max_per_second": True}, "positive numbers"),
        ({"max_per_second": 5, "key": "user"}, "key must be 'type', 'global' or a function"),
    ],
)
def test_rate_limit_checks_its_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidJob, match=message):
        RateLimit(**options)


# --- in a worker, on the FakeClock ---------------------------------------------------------


def limited(queue: JobQueue, limit: RateLimit, **options: Any) -> HandlerWorker:
    """Serves ``resize`` and ``report`` (each returns its params) behind ``limit``."""
    worker = HandlerWorker(queue, middleware=[limit], **{**FAST, **options})
    for job_type in ("resize", "report"):
        worker.register_handler(job_type, lambda params, ctx: params)
    return worker


def settled(queue: JobQueue, clock: FakeClock, count: int) -> bool:
    """All ``count`` jobs have run, or wait for a later slot: none is due or running.
    (A listing can miss a job that moves while it runs, hence the count.)"""
    jobs = queue.query_jobs()
    return len(jobs) == count and all(
        isinstance(job, CompleteJob)
        or (isinstance(job, PendingJob) and job.metadata.run_at > clock.now())
        for job in jobs
    )


@contextmanager
def working(worker: HandlerWorker, queue: JobQueue, clock: FakeClock) -> Iterator[None]:
    """Run the worker; at the end of the block, wait for every due job to run."""
    count = len(queue.query_jobs())
    with running(worker):
        yield
        wait_for(lambda: settled(queue, clock, count), 5.0, "every due job to run or wait")


def statuses(queue: JobQueue) -> dict[str, str]:
    return {job.metadata.id: job.status for job in queue.query_jobs()}


def test_a_limited_job_is_deferred_to_its_slot_without_counting_an_attempt(
    queue: JobQueue, clock: FakeClock
) -> None:
    jobs = [queue.enqueue("resize", {"n": n}, max_retries=0) for n in range(3)]
    worker = limited(queue, RateLimit(max_per_second=2))
    with working(worker, queue, clock):
        pass
    first, second, third = (queue.get_job(job.metadata.id) for job in jobs)
    assert isinstance(first, CompleteJob) and isinstance(second, CompleteJob)
    assert isinstance(third, PendingJob)  # never failed, though it has no retry left
    assert third.metadata.run_at == START + timedelta(seconds=1)  # when a slot frees
    assert third.metadata.retry_count == 0 and third.attempts == ()
    metrics = queue.metrics()
    assert (metrics["retried"], metrics["failed"]) == (0, 0)  # not a failed attempt

    with working(worker, queue, clock):
        clock.advance(1)
        wait_for(lambda: statuses(queue)[third.metadata.id] == "complete", 5.0, "the slot")
    done = queue.get_job(third.metadata.id)
    assert isinstance(done, CompleteJob) and len(done.attempts) == 1
    assert done.result == {"n": 2} and done.started_at == START + timedelta(seconds=1)


def test_a_deferred_retry_keeps_its_retry_count_and_attempts(
    queue: JobQueue, clock: FakeClock
) -> None:
    def flaky(params: Any, ctx: JobContext) -> str:
        if not ctx.job.attempts:
            raise RuntimeError("the first attempt fails")
        return "ok"

    worker = HandlerWorker(
        queue,
        middleware=[RateLimit(max_per_second=1)],
        retry_policy=RetryPolicy(base=0.5, jitter=0.0),
        **FAST,
    )
    worker.register_handler("resize", flaky)
    job = queue.enqueue("resize", {}, max_retries=1)
    with working(worker, queue, clock):
        pass  # the first attempt failed at START: due again at START + 0.5 s
    with working(worker, queue, clock):
        clock.advance(0.5)  # due, but the first attempt holds the second's only slot
    again = queue.get_job(job.metadata.id)
    assert isinstance(again, PendingJob)
    assert again.metadata.run_at == START + timedelta(seconds=1)
    assert again.metadata.retry_count == 1 and len(again.attempts) == 1  # as they were

    with working(worker, queue, clock):
        clock.advance(0.5)
        wait_for(lambda: statuses(queue)[job.metadata.id] == "complete", 5.0, "the slot")
    done = queue.get_job(job.metadata.id)
    assert isinstance(done, CompleteJob) and done.metadata.retry_count == 1
    assert len(done.attempts) == 2


def test_a_limited_job_is_deferred_under_process_isolation(
    queue: JobQueue, clock: FakeClock
) -> None:
    jobs = [queue.enqueue("resize", {}) for _ in range(2)]
    with working(limited(queue, RateLimit(max_per_minute=1), isolation="process"), queue, clock):
        pass
    later = queue.get_job(jobs[1].metadata.id)
    assert statuses(queue)[jobs[0].metadata.id] == "complete"
    assert isinstance(later, PendingJob) and later.attempts == ()
    assert later.metadata.run_at == START + timedelta(minutes=1)


def test_key_type_limits_each_type_apart(queue: JobQueue, clock: FakeClock) -> None:
    for job_type in ("resize", "resize", "report", "report"):
        queue.enqueue(job_type, {})
    with working(limited(queue, RateLimit(max_per_minute=1)), queue, clock):
        pass
    done = Counter(j.metadata.type for j in queue.query_jobs(status="complete"))
    assert done == {"resize": 1, "report": 1}


def test_key_global_limits_all_types_together(queue: JobQueue, clock: FakeClock) -> None:
    for job_type in ("resize", "resize", "report", "report"):
        queue.enqueue(job_type, {})
    with working(limited(queue, RateLimit(max_per_minute=1, key="global")), queue, clock):
        pass
    assert len(queue.query_jobs(status="complete")) == 1
    assert len(queue.query_jobs(status="pending")) == 3


def test_a_key_function_limits_each_of_its_values_apart(queue: JobQueue, clock: FakeClock) -> None:
    def user(job: RunningJob) -> str:
        return str(job.params["user"])

    for name in ("ann", "ann", "bob", "bob", "bob"):
        queue.enqueue("resize", {"user": name})
    with working(limited(queue, RateLimit(max_per_minute=1, key=user)), queue, clock):
        pass
    done = Counter(j.params["user"] for j in queue.query_jobs(status="complete"))
    assert done == {"ann": 1, "bob": 1}


def test_the_limit_follows_the_worker_clock_not_the_queue_clock(
    data_dir: Path, clock: FakeClock
) -> None:
    queue = JobQueue(data_dir, durable=False)  # the system clock; the worker's is fake
    jobs = [queue.enqueue("resize", {}) for _ in range(2)]
    with working(limited(queue, RateLimit(max_per_minute=1), clock=clock), queue, clock):
        pass
    later = queue.get_job(jobs[1].metadata.id)
    assert isinstance(later, PendingJob)
    assert later.metadata.run_at == START + timedelta(minutes=1)


# --- on the real clock ---------------------------------------------------------------------


def test_burst_waits_out_the_limit_instead_of_leaving_jobs_behind(data_dir: Path) -> None:
    queue = JobQueue(data_dir, durable=False)
    queue.enqueue_many("resize", [{"n": n} for n in range(6)])
    took = burst(limited(queue, RateLimit(max_per_second=4)), timeout=10)
    assert queue.stats()["complete"] == 6
    assert took >= 0.9  # the last two waited a second for their slots


#: The start log is written just after each admission; on a busy machine a line can be
#: late by a few milliseconds, so a window is checked 50 ms (5 %) short of a second.
LOG_SLACK = 0.05


def test_two_worker_processes_share_one_limit(data_dir: Path, tmp_path: Path) -> None:
    queue = JobQueue(data_dir, durable=False)
    jobs = queue.enqueue_many("tick", [{} for _ in range(40)])
    log = tmp_path / "starts.log"
    command = [sys.executable, str(RATE_WORKER), str(data_dir), str(log), "--max-per-second", "5"]
    workers = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        wait_for(lambda: queue.stats()["complete"] == 40, 30.0, "40 jobs to complete")
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=10)[1] for proc in workers]
    assert [proc.returncode for proc in workers] == [0, 0], outputs

    lines = [line.split() for line in log.read_text().splitlines()]
    assert sorted(job_id for _, job_id, _ in lines) == sorted(j.metadata.id for j in jobs)
    for job in queue.query_jobs():
        assert isinstance(job, CompleteJob) and len(job.attempts) == 1  # once, never retried
    assert len({pid for _, _, pid in lines}) == 2  # both processes took their share

    starts = sorted(float(at) for at, _, _ in lines)
    assert most_in_a_window(starts, 1.0 - LOG_SLACK) <= 5
    # 40 starts at 5/s fill 8 one-second windows: the first at starts[0], the last
    # ending a second after starts[-1]. Within 10 % of 5/s means at least 4.5/s.
    rate = len(starts) / (starts[-1] - starts[0] + 1.0)
    print(f"two processes started {rate:.2f} jobs/s under a 5/s limit")
    assert 4.5 <= rate <= 5.5
