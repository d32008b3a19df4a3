"""The schedules part's contract: schedule records round-trip exactly, and ``lock(name)``
makes a read-decide-write exclusive, so each tick fires once however many schedulers
race on the same store."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

from conftest import START, FakeClock

from jobqueue import JobQueue
from jobqueue.backend import Backend
from jobqueue.job import STATUSES
from jobqueue.schedules.book import Enqueued, tick_key
from jobqueue.schedules.model import Schedule
from jobqueue.schedules.scheduler import Scheduler

from .conftest import Opener
from .helpers import WAIT, run_together

PARIS = timezone(timedelta(hours=1))


def schedule(name: str, **fields: Any) -> Schedule:
    """A schedule with every field set unlike its default."""
    fields.setdefault("cron", "30 3 * * 1-5")
    fields.setdefault("type", "report")
    fields.setdefault("params", {"to": ["ops@example.com"], "full": True, "n": 1.5})
    fields.setdefault("timezone", "Europe/Paris")
    fields.setdefault("paused", True)
    fields.setdefault("retired", False)
    fields.setdefault("run_count", 7)
    fields.setdefault("last_run_at", START.astimezone(PARIS))
    fields.setdefault("next_run_at", START + timedelta(days=1, microseconds=3))
    fields.setdefault("max_runs", 10)
    fields.setdefault("end_date", START + timedelta(days=365))
    fields.setdefault("allow_concurrent", False)
    fields.setdefault("catch_up", "skip")
    fields.setdefault("run_on_start", True)
    fields.setdefault("priority", -2)
    fields.setdefault("max_retries", 5)
    fields.setdefault("timeout", 30.5)
    fields.setdefault("user_id", "user-1")
    fields.setdefault("last_job_id", "job-000007")
    return Schedule(name=name, **fields)


# --- records ------------------------------------------------------------------------------


def test_a_schedule_reads_back_equal_through_another_handle(open_handle: Opener) -> None:
    writer, reader = open_handle(), open_handle()
    nightly = schedule("nightly")

    with writer.schedules.lock("nightly"):
        writer.schedules.put(nightly)

    assert reader.schedules.get("nightly") == nightly
    assert reader.schedules.all() == [nightly]


def test_a_schedule_with_defaults_reads_back_equal(backend: Backend) -> None:
    plain = Schedule(name="plain", cron="* * * * *", type="ping", params=[])

    backend.schedules.put(plain)

    assert backend.schedules.get("plain") == plain


def test_get_of_an_unknown_schedule_is_none(backend: Backend) -> None:
    assert backend.schedules.get("nope") is None
    assert backend.schedules.all() == []


def test_all_is_sorted_by_name(backend: Backend) -> None:
    for name in ["b", "c", "a"]:
        backend.schedules.put(schedule(name))

    assert [s.name for s in backend.schedules.all()] == ["a", "b", "c"]


def test_put_replaces_the_schedule_of_that_name(backend: Backend) -> None:
    backend.schedules.put(schedule("nightly"))
    resumed = schedule("nightly", paused=False, run_count=8)

    backend.schedules.put(resumed)

    assert backend.schedules.all() == [resumed]


def test_delete_removes_and_says_whether_there_was_one(open_handle: Opener) -> None:
    writer, deleter = open_handle(), open_handle()
    writer.schedules.put(schedule("nightly"))
    writer.schedules.put(schedule("weekly"))

    assert deleter.schedules.delete("nightly") is True
    assert deleter.schedules.delete("nightly") is False
    assert deleter.schedules.delete("never-added") is False
    assert writer.schedules.get("nightly") is None
    assert [s.name for s in writer.schedules.all()] == ["weekly"]


# --- the lock -----------------------------------------------------------------------------


def take_in_a_thread(backend: Backend, name: str) -> threading.Event:
    """Takes (and at once releases) ``name``'s lock in a daemon thread; the event is set
    once it was taken."""
    taken = threading.Event()

    def take() -> None:
        with backend.schedules.lock(name):
            taken.set()

    threading.Thread(target=take, daemon=True).start()
    return taken


def test_a_held_lock_makes_another_holder_wait(open_handle: Opener) -> None:
    first, second = open_handle(), open_handle()

    with first.schedules.lock("nightly"):
        taken = take_in_a_thread(second, "nightly")
        assert not taken.wait(0.2)

    assert taken.wait(WAIT)


def test_the_locks_of_two_schedules_are_independent(open_handle: Opener) -> None:
    first, second = open_handle(), open_handle()

    with first.schedules.lock("nightly"):
        assert take_in_a_thread(second, "weekly").wait(WAIT)


# --- exactly once -------------------------------------------------------------------------


class SlowQueue(JobQueue):
    """Enqueues a tick's job slowly: a scheduler that did not hold the schedule's lock
    would let the others read the same due tick meanwhile (without this, threads of
    one process rarely interleave there, and a lock that excludes nothing would pass)."""

    def enqueue(self, *args: Any, **options: Any) -> Enqueued:
        time.sleep(0.01)
        return super().enqueue(*args, **options)


def fire_together(schedulers: list[Scheduler], tick: datetime) -> list[Enqueued]:
    """Every scheduler ticks at once, each in its own thread; the jobs they enqueued."""
    fired: list[Enqueued] = []

    def fire(scheduler: Scheduler) -> None:
        fired.extend(scheduler.tick(tick))

    run_together([partial(fire, scheduler) for scheduler in schedulers])
    return fired


def test_each_tick_fires_once_however_many_schedulers_race(
    open_handle: Opener, clock: FakeClock
) -> None:
    queues = [SlowQueue(open_handle(), clock=clock) for _ in range(2)]
    queues[0].schedule("every-minute", "* * * * *", "ping")
    schedulers = [queues[n % 2].scheduler() for n in range(4)]
    ticks = [START + timedelta(minutes=n) for n in (1, 2, 3)]

    for tick in ticks:
        fired = fire_together(schedulers, tick)
        assert len(fired) == 1, f"tick {tick} fired {len(fired)} times"

    jobs = list(queues[1].backend.jobs.scan(STATUSES))
    assert sorted(j.metadata.unique_key or "" for j in jobs) == [
        tick_key("every-minute", t) for t in ticks
    ]
    assert queues[1].get_schedules()[0].run_count == len(ticks)
