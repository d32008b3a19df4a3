"""queue.metrics(): a known set of jobs, run on a fake clock, gives exact numbers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from conftest import START, WORKER_A, FakeClock

from jobqueue import ErrorInfo, JobQueue, PendingJob, transitions
from jobqueue.events import JobEvent
from jobqueue.metrics import percentile, summarize

BOOM = ErrorInfo(type="RuntimeError", message="boom")


def run(queue: JobQueue, clock: FakeClock, job_type: str, *durations: float) -> None:
    """Enqueue one job and run an attempt per duration: all but the last fail (retried
    at once); the last completes, or fails for good when ``max_retries`` is used up."""
    job = queue.enqueue(job_type, max_retries=len(durations) - 1)
    for n, seconds in enumerate(durations, 1):
        running = queue.backend.jobs.claim(WORKER_A, clock.now(), {job_type})
        assert running is not None and running.metadata.id == job.metadata.id
        clock.advance(seconds)
        if n < len(durations) or job_type == "fails":
            delay = timedelta(0) if n < len(durations) else None
            new = transitions.fail(running, BOOM, clock.now(), delay)
        else:
            new = transitions.complete(running, None, clock.now())
        queue.backend.jobs.move(running, new)


@pytest.fixture
def known(queue: JobQueue, clock: FakeClock) -> JobQueue:
    """resize: 1 s, 2 s and 3 s, all complete; fails: a 4 s attempt retried, then a 5 s
    attempt that fails for good; one cancelled job (counted nowhere)."""
    for seconds in (1, 2, 3):
        run(queue, clock, "resize", seconds)
    run(queue, clock, "fails", 4, 5)
    cancelled = queue.enqueue("resize")
    assert queue.cancel(cancelled.metadata.id)
    clock.advance(1)
    return queue


def test_metrics_of_a_known_set_of_jobs(known: JobQueue) -> None:
    m = known.metrics()
    by_type = m.pop("by_type")
    assert m == {
        "finished": 4,
        "succeeded": 3,
        "failed": 1,
        "retried": 1,
        "throughput_per_minute": 4 / 60,
        "avg_duration_s": (1 + 2 + 3 + 5) / 4,  # the last attempt of each finished job
        "p95_duration_s": 5.0,
        "error_rate": 0.25,
    }
    assert by_type["resize"] == {
        "finished": 3, "succeeded": 3, "failed": 0, "retried": 0,
        "throughput_per_minute": 3 / 60, "avg_duration_s": 2.0, "p95_duration_s": 3.0,
        "error_rate": 0.0,
    }  # fmt: skip
    assert by_type["fails"] == {
        "finished": 1, "succeeded": 0, "failed": 1, "retried": 1,
        "throughput_per_minute": 1 / 60, "avg_duration_s": 5.0, "p95_duration_s": 5.0,
        "error_rate": 1.0,
    }  # fmt: skip


def test_the_window_moves_with_the_clock(known: JobQueue, clock: FakeClock) -> None:
    # The resize jobs ended at START+1, +3 and +6 s; the failing one at +15 s.
    assert clock.now() == START + timedelta(seconds=16)
    clock.current = START + timedelta(hours=1, seconds=3)  # the window starts at +3 s: inclusive
    m = known.metrics()
    assert (m["succeeded"], m["failed"], m["retried"]) == (2, 1, 1)
    clock.current = START + timedelta(seconds=16)
    m = known.metrics(window=timedelta(seconds=10))  # starts at +6 s
    assert (m["succeeded"], m["failed"], m["throughput_per_minute"]) == (1, 1, 2 / (10 / 60))
    clock.current = START + timedelta(hours=2)
    empty = known.metrics()
    assert empty["finished"] == 0 and empty["by_type"] == {}
    assert (empty["avg_duration_s"], empty["p95_duration_s"], empty["error_rate"]) == (
        None, None, 0.0,
    )  # fmt: skip


def test_a_manual_retry_is_not_a_retried_attempt(known: JobQueue) -> None:
    failed = known.query_jobs(status="failed")[0]
    known.retry(failed.metadata.id)
    assert known.metrics()["retried"] == 1


def test_summarize_counts_both_edges_of_the_window(known: JobQueue, clock: FakeClock) -> None:
    events = list(known.events(START, idle_timeout=0))  # the history, decoded
    done = [e for e in events if e.event == "completed"]
    now, window = done[2].at, done[2].at - done[0].at
    tick = timedelta(microseconds=1)

    def succeeded(now_: datetime, window_: timedelta) -> int:
        return int(summarize(done, now_, window_)["succeeded"])

    assert succeeded(now, window) == 3  # both edges count
    assert succeeded(now - tick, window) == 2  # the last one is after the window
    assert succeeded(now, window - tick) == 2  # the first one is before it
    assert summarize(events, clock.now(), timedelta(hours=1)) == known.metrics()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], None),
        ([7.0], 7.0),
        ([float(n) for n in range(1, 21)], 19.0),  # rank ceil(0.95 * 20) = 19
        ([float(n) for n in range(1, 22)], 20.0),  # rank ceil(19.95) = 20 of 21 values
        ([float(n) for n in range(100, 0, -1)], 95.0),  # order does not matter
    ],
)
def test_p95_is_the_nearest_rank(values: list[float], expected: float | None) -> None:
    assert percentile(values, 95) == expected


def test_a_retrying_event_of_a_new_job_is_not_counted(queue: JobQueue, clock: FakeClock) -> None:
    job = queue.enqueue("a")
    assert isinstance(job, PendingJob)
    event = JobEvent("retrying", job.metadata.id, "a", clock.now(), job)
    assert summarize([event], clock.now(), timedelta(hours=1))["retried"] == 0
