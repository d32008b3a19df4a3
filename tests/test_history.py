"""jobqueue.history: bucketed series on a fake clock, on the file and memory stores: bucket
boundaries, counts, latency, what the event log no longer covers, and the cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import START, WORKER_A, FakeClock, SeqIds

from jobqueue import ErrorInfo, InvalidJob, JobQueue, transitions
from jobqueue.history import (
    SPANS,
    Bucket,
    History,
    Span,
    bucket_starts,
    floor_time,
)

S = timedelta(seconds=1)
BOOM = ErrorInfo(type="RuntimeError", message="boom")


@pytest.fixture(params=["file", "memory"])
def hq(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[JobQueue]:
    store = tmp_path / "data" if request.param == "file" else "memory://"
    queue = JobQueue(store, durable=False if request.param == "file" else None, clock=clock,
                     new_id=SeqIds())  # fmt: skip
    yield queue
    queue.close()


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def run(queue: JobQueue, clock: FakeClock, job_type: str, *, start: float, end: float,
        ok: bool = True, retry: bool = False) -> None:  # fmt: skip
    """Claim the due job of ``job_type`` at ``start`` and end its attempt at ``end``."""
    clock.current = at(start)
    running = queue.backend.jobs.claim(WORKER_A, clock.now(), {job_type})
    assert running is not None
    clock.current = at(end)
    if ok:
        new = transitions.complete(running, None, clock.now())
    else:
        new = transitions.fail(running, BOOM, clock.now(), timedelta(seconds=5) if retry else None)
    queue.backend.jobs.move(running, new)


def enqueue(queue: JobQueue, clock: FakeClock, job_type: str, *, when: float, delay: float = 0,
            max_retries: int = 3) -> None:  # fmt: skip
    clock.current = at(when)
    queue.enqueue(job_type, delay=delay or None, max_retries=max_retries)


def by_start(buckets: tuple[Bucket, ...]) -> dict[datetime, Bucket]:
    return {b.start: b for b in buckets}


# --- bucket arithmetic -----------------------------------------------------------------------


def test_buckets_are_aligned_to_their_width() -> None:
    now = START + timedelta(hours=12, seconds=45)
    starts = bucket_starts(SPANS["1h"], now)
    assert len(starts) == 60
    assert starts[-1] == START + timedelta(hours=12)  # holds now
    assert starts[0] == START + timedelta(hours=11, minutes=1)
    assert all(b - a == timedelta(minutes=1) for a, b in pairwise(starts))
    width = timedelta(seconds=30)
    assert floor_time(at(30), width) == at(30)  # a boundary starts the next bucket
    assert floor_time(at(30) - timedelta(microseconds=1), width) == at(0)
    assert bucket_starts(SPANS["7d"], START + timedelta(hours=4))[-1] == START + timedelta(hours=3)


def test_a_span_must_have_buckets_and_a_known_name() -> None:
    with pytest.raises(InvalidJob, match="unknown history window '2h'"):
        History(JobQueue("memory://")).series("2h")
    with pytest.raises(InvalidJob):
        Span("bad", timedelta(0), 10)
    with pytest.raises(InvalidJob):
        Span("bad", timedelta(seconds=1), 0)


# --- what is counted where -------------------------------------------------------------------


def test_each_job_counts_in_the_bucket_it_finished_in(hq: JobQueue, clock: FakeClock) -> None:
    enqueue(hq, clock, "a", when=0)
    run(hq, clock, "a", start=0, end=10)  # bucket [0, 30): 10 s
    enqueue(hq, clock, "b", when=10)
    run(hq, clock, "b", start=10, end=30)  # ends on the boundary: bucket [30, 60), 20 s
    enqueue(hq, clock, "c", when=30, max_retries=1)
    run(hq, clock, "c", start=30, end=33, ok=False, retry=True)  # retried at 33, due 38
    run(hq, clock, "c", start=38, end=48, ok=False)  # failed for good at 48: 10 s
    clock.current = at(50)
    series = History(hq).series("15m")
    assert len(series.buckets) == 30 and series.now == at(50)
    buckets = by_start(series.buckets)
    first, second = buckets[at(0)], buckets[at(30)]
    assert (first.finished, first.failed, first.retried, first.p95_duration_s) == (1, 0, 0, 10.0)
    assert first.throughput_per_minute == 2.0  # one job in a closed half minute
    assert (second.finished, second.failed, second.retried) == (2, 1, 1)
    assert (second.error_rate, second.p95_duration_s) == (0.5, 20.0)
    assert second.throughput_per_minute == pytest.approx(2 / (20 / 60))  # open: 20 s elapsed
    earlier = [b for b in series.buckets if b.start < at(0)]
    assert len(earlier) == 28
    assert {(b.finished, b.p95_duration_s, b.covered) for b in earlier} == {(0, None, True)}


def test_latency_is_the_wait_from_due_to_start(hq: JobQueue, clock: FakeClock) -> None:
    enqueue(hq, clock, "x", when=0)
    enqueue(hq, clock, "y", when=0, delay=10)  # due at 10
    enqueue(hq, clock, "z", when=5)
    run(hq, clock, "x", start=4, end=6)  # waited 4 s
    run(hq, clock, "y", start=12, end=13)  # waited 2 s (not 12: it was due at 10)
    run(hq, clock, "z", start=40, end=45, ok=False, retry=True)  # waited 35 s; due again at 50
    run(hq, clock, "z", start=53, end=54)  # a retry waits from its own due time: 3 s
    clock.current = at(59)
    buckets = by_start(History(hq).latency("15m").buckets)
    first, second = buckets[at(0)], buckets[at(30)]
    assert (first.started, first.p50_s, first.p95_s) == (2, 2.0, 4.0)
    # z's first attempt ended in a retry: its wait is not known from the samples
    assert (second.started, second.p50_s, second.p95_s) == (1, 3.0, 3.0)
    assert {(b.started, b.p50_s) for b in buckets.values() if b.start < at(0)} == {(0, None)}


def test_a_finished_attempt_counts_where_it_started(hq: JobQueue, clock: FakeClock) -> None:
    """Its sample is written when it ends; the wait goes to the bucket of its start."""
    enqueue(hq, clock, "long", when=25)
    run(hq, clock, "long", start=27, end=44)  # started in [0, 30), ended in [30, 60)
    clock.current = at(59)
    buckets = by_start(History(hq).latency("15m").buckets)
    assert (buckets[at(0)].started, buckets[at(0)].p50_s) == (1, 2.0)
    assert buckets[at(30)].started == 0


# --- what the event log no longer holds --------------------------------------------------------


def test_buckets_older_than_the_log_keeps_are_not_covered(hq: JobQueue, clock: FakeClock) -> None:
    day = 86400
    enqueue(hq, clock, "old", when=6 * day + 2 * 3600)
    run(hq, clock, "old", start=6 * day + 2 * 3600, end=6 * day + 2 * 3600 + 60)
    enqueue(hq, clock, "new", when=6 * day + 4 * 3600)
    run(hq, clock, "new", start=6 * day + 4 * 3600, end=6 * day + 4 * 3600 + 60)
    clock.current = at(8 * day + 3600)  # the log is trusted back to 6d 02:00
    series = History(hq).series("7d")
    covered = [b for b in series.buckets if b.covered]
    assert len(series.buckets) == 56 and len(covered) == 16  # 6d 03:00 ... 8d 00:00
    assert series.covered_from == at(6 * day + 3 * 3600)
    assert sum(b.finished or 0 for b in covered) == 1  # "new"; "old" is in a partial bucket
    gone = [b for b in series.buckets if not b.covered]
    assert {(b.finished, b.error_rate, b.throughput_per_minute) for b in gone} == {(None,) * 3}
    assert not [b for b in History(hq).latency("7d").buckets if not b.covered and b.started]


# --- the cache ---------------------------------------------------------------------------------


def test_settled_buckets_are_cached_and_no_longer_read(hq: JobQueue, clock: FakeClock) -> None:
    enqueue(hq, clock, "a", when=0)
    run(hq, clock, "a", start=0, end=10)
    clock.current = at(0)
    for job_type in ("late", "later"):
        hq.enqueue(job_type)
    running = [hq.backend.jobs.claim(WORKER_A, at(t), {name})
               for t, name in ((19, "late"), (69, "later"))]  # fmt: skip
    clock.current = at(100)  # the buckets that ended by 40 s are settled (a minute)
    history = History(hq)
    before = by_start(history.series("15m").buckets)
    assert history.cached() == 27  # from -13 min to the one ending at 30 s
    # Their ends are written only now: one in a cached bucket (at 20 s) is not seen,
    # that bucket is final; one in a bucket not settled yet (at 70 s) is.
    for job, end in zip(running, (20, 70), strict=True):
        assert job is not None
        hq.backend.jobs.move(job, transitions.complete(job, None, at(end)))
    after = by_start(history.series("15m").buckets)
    assert after[at(0)] == before[at(0)] and after[at(0)].finished == 1
    assert after[at(60)].finished == 1
    assert by_start(History(hq).series("15m").buckets)[at(0)].finished == 2


def test_a_bucket_is_cached_only_once_it_settled(hq: JobQueue, clock: FakeClock) -> None:
    history = History(hq, settle=timedelta(minutes=5))
    clock.current = at(600)
    history.series("15m")
    assert history.cached() == 19  # -270 s ... 270 s: those that ended by 300 s


def test_a_warm_history_agrees_with_a_fresh_one(hq: JobQueue, clock: FakeClock) -> None:
    history = History(hq)
    for n in range(12):  # a job every 20 s, each taking n seconds; every third fails
        enqueue(hq, clock, "t", when=n * 20)
        run(hq, clock, "t", start=n * 20 + 1, end=n * 20 + 1 + n, ok=n % 3 != 0)
        if n % 4 == 3:  # each read of the latency replays events: keep them few
            for span in ("15m", "1h"):
                assert history.series(span) == History(hq).series(span)
                assert history.latency(span) == History(hq).latency(span)
    assert history.cached() > 0


def test_the_cache_forgets_what_no_window_shows(hq: JobQueue, clock: FakeClock) -> None:
    history = History(hq)
    for hour in range(30):
        clock.current = at(hour * 3600)
        history.series("15m")
        history.series("1h")
        # The buckets of each window asked for, no older than the longest one.
        assert 0 < history.cached() <= 30 + 60
