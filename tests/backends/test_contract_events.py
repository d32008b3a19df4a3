"""The events part's contract: ``follow`` yields every job event as any handle records
it (from the call on, or replayed from ``since``) and ends once idle; ``samples`` reads
the completed, failed and retrying events of a window, as metrics need them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

from conftest import START, FakeClock

from jobqueue import transitions
from jobqueue.backend import Backend
from jobqueue.events import JobEvent
from jobqueue.job import Progress
from jobqueue.metrics import Sample

from .conftest import Opener
from .helpers import BOOM, WAIT, MakeJob, claim, complete, fail_for_good

#: The idle_timeout of a follow that should have found every event by then.
IDLE = 0.3


def names(events: Iterable[JobEvent]) -> list[tuple[str, str]]:
    return [(e.event, e.job_id) for e in events]


# --- follow -------------------------------------------------------------------------------


def test_follow_starts_at_the_call_not_at_the_first_next(
    backend: Backend, make_job: MakeJob
) -> None:
    before, after = make_job(), make_job()
    backend.jobs.add([before])
    follow = backend.events.follow(idle_timeout=IDLE)
    backend.jobs.add([after])  # recorded before the first next(): not lost

    assert names(follow) == [("created", after.metadata.id)]


def test_follow_since_replays_the_events_from_that_time(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    old = make_job()
    backend.jobs.add([old])
    clock.advance(10)
    new = make_job()
    backend.jobs.add([new])

    replayed = backend.events.follow(since=clock.now(), idle_timeout=IDLE)
    everything = backend.events.follow(since=START, idle_timeout=IDLE)

    assert names(replayed) == [("created", new.metadata.id)]
    assert names(everything) == [("created", old.metadata.id), ("created", new.metadata.id)]


def test_follow_ends_after_idle_timeout(backend: Backend) -> None:
    started = time.monotonic()

    assert list(backend.events.follow(idle_timeout=0.2)) == []
    assert 0.2 <= time.monotonic() - started < WAIT


def test_a_follower_is_woken_by_an_event_another_handle_records(
    open_handle: Opener, make_job: MakeJob
) -> None:
    follower, writer = open_handle(), open_handle()
    job = make_job()
    follow = follower.events.follow(idle_timeout=WAIT)
    adding = threading.Timer(0.1, writer.jobs.add, args=([job],))  # while next() waits
    adding.start()

    first = next(follow)

    adding.join(timeout=WAIT)
    assert (first.event, first.job) == ("created", job)


def test_every_change_records_its_event(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs, (a, b, c, d) = backend.jobs, [make_job(max_retries=1) for _ in range(4)]
    follow = backend.events.follow(idle_timeout=IDLE)
    jobs.add([a, b, c, d])
    running = claim(jobs, clock)  # a
    beat = transitions.heartbeat(running, clock.now())
    jobs.move(running, beat)  # a heartbeat alone is no event
    jobs.move(beat, halfway := transitions.heartbeat(beat, clock.now(), Progress(percentage=50.0)))
    jobs.move(halfway, transitions.fail(halfway, BOOM, clock.now(), timedelta(seconds=1)))
    complete(jobs, claim(jobs, clock), clock)  # b
    failed = fail_for_good(jobs, claim(jobs, clock), clock)  # c
    stopping = claim(jobs, clock)  # d
    backend.cancels.request(stopping, "stop", clock.now())
    jobs.move(stopping, transitions.cancel_running(stopping, "stop", clock.now()))
    jobs.move(failed, retried := transitions.retry(failed, clock.now()))  # c, by hand
    jobs.move(retried, transitions.cancel_pending(retried, None, clock.now()))

    events = list(follow)

    a_, b_, c_, d_ = (j.metadata.id for j in (a, b, c, d))
    assert names(events) == [
        ("created", a_), ("created", b_), ("created", c_), ("created", d_),
        ("started", a_), ("progress", a_), ("retrying", a_),
        ("started", b_), ("completed", b_),
        ("started", c_), ("failed", c_),
        ("started", d_), ("cancelling", d_), ("cancelled", d_),
        ("retrying", c_), ("cancelled", c_),
    ]  # fmt: skip
    last = {e.job_id: e.job for e in events}  # each event carries the job as it left it
    assert last == {job_id: jobs.get(job_id) for job_id in (a_, b_, c_, d_)}
    assert all(e.job_type == e.job.metadata.type == "resize" for e in events)


# --- samples ------------------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def when(sample: Sample) -> datetime:
    return sample.at


def test_samples_are_the_completed_failed_and_retrying_events_of_the_window(
    backend: Backend, make_job: MakeJob, clock: FakeClock
) -> None:
    jobs, (a, b, c) = backend.jobs, [make_job(max_retries=1) for _ in range(3)]
    jobs.add([a, b, c])  # created at 0: not sampled
    retried = claim(jobs, clock)  # a, started at 0: not sampled
    clock.advance(3)
    jobs.move(retried, transitions.fail(retried, BOOM, clock.now(), timedelta(seconds=1)))
    done = claim(jobs, clock)  # b
    clock.advance(2)
    complete(jobs, done, clock)  # at 5, after 2 s
    failing = claim(jobs, clock)  # c
    clock.advance(1)
    fail_for_good(jobs, failing, clock)  # at 6, after 1 s
    stopping = claim(jobs, clock)  # a again
    backend.cancels.request(stopping, None, clock.now())
    clock.advance(2)
    jobs.move(stopping, transitions.cancel_running(stopping, None, clock.now()))  # at 8

    window = sorted(backend.events.samples(at(3), at(6)), key=when)

    assert window == [
        Sample("retrying", "resize", at(3), 1, None),
        Sample("completed", "resize", at(5), 0, 2.0, 3.0),  # due at 0, started at 3
    ]
    assert [s.event for s in sorted(backend.events.samples(at(5)), key=when)] == [
        "completed",
        "failed",
    ]
