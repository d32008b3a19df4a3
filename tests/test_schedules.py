"""Cron schedules with a fake clock: ticks, DST, downtime, pause, retirement, overlap.

The scheduler is driven by hand: ``drive`` moves the clock to each next tick and calls
``Scheduler.tick``, as a perfectly punctual scheduler would; downtime is the clock
jumping ahead with no tick in between.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import WORKER_A, FakeClock

from jobqueue import (
    CronPatterns,
    InvalidJob,
    JobQueue,
    PendingJob,
    Schedule,
    ScheduleNotFound,
    transitions,
)
from jobqueue.schedules.book import tick_key
from jobqueue.schedules.rules import MISFIRE_GRACE
from jobqueue.schedules.scheduler import Scheduler

PARIS = "Europe/Paris"
INTERFACE_KEYS = {
    "name", "cron", "type", "params", "timezone", "paused", "retired", "run_count",
    "last_run_at", "next_run_at", "max_runs", "end_date", "allow_concurrent",
}  # fmt: skip


@pytest.fixture
def scheduler(queue: JobQueue) -> Scheduler:
    return queue.scheduler()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def drive(queue: JobQueue, scheduler: Scheduler, clock: FakeClock, until: datetime) -> list[Any]:
    """Jump from tick to tick up to ``until``, firing each; the jobs, in order."""
    fired = []
    while True:
        upcoming = [s.next_run_at for s in queue.get_schedules() if s.next_run_at is not None]
        if not upcoming or min(upcoming) > until:
            break
        clock.current = max(clock.current, min(upcoming))
        fired += scheduler.tick()
    clock.current = until
    return fired


def run_ats(jobs: list[Any]) -> list[datetime]:
    return [job.metadata.run_at for job in jobs]


def only(queue: JobQueue, name: str) -> Schedule:
    [schedule] = [s for s in queue.get_schedules() if s.name == name]
    return schedule


# --- definition and storage ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (CronPatterns.EVERY_MINUTE, "* * * * *"),
        (CronPatterns.EVERY_5_MINUTES, "*/5 * * * *"),
        (CronPatterns.EVERY_15_MINUTES, "*/15 * * * *"),
        (CronPatterns.EVERY_30_MINUTES, "*/30 * * * *"),
        (CronPatterns.EVERY_HOUR, "0 * * * *"),
        (CronPatterns.EVERY_6_HOURS, "0 */6 * * *"),
        (CronPatterns.EVERY_12_HOURS, "0 */12 * * *"),
        (CronPatterns.DAILY_MIDNIGHT, "0 0 * * *"),
        (CronPatterns.DAILY_NOON, "0 12 * * *"),
        (CronPatterns.WEEKLY_MONDAY, "0 0 * * 1"),
        (CronPatterns.MONTHLY_FIRST, "0 0 1 * *"),
    ],
)
def test_cron_patterns(queue: JobQueue, pattern: str, expected: str) -> None:
    assert pattern == expected
    assert queue.schedule("p", pattern, "report").cron == expected


def test_first_ticks_of_the_patterns(queue: JobQueue) -> None:
    """From 2030-01-01 00:00 UTC, a Tuesday."""
    expected = {
        CronPatterns.EVERY_MINUTE: utc(2030, 1, 1, 0, 1),
        CronPatterns.EVERY_6_HOURS: utc(2030, 1, 1, 6),
        CronPatterns.DAILY_NOON: utc(2030, 1, 1, 12),
        CronPatterns.WEEKLY_MONDAY: utc(2030, 1, 7),
        CronPatterns.MONTHLY_FIRST: utc(2030, 2, 1),
    }
    for n, (pattern, first) in enumerate(expected.items()):
        assert queue.schedule(f"s{n}", pattern, "report").next_run_at == first


def test_a_schedule_is_one_pretty_json_file(queue: JobQueue, data_dir: Path) -> None:
    queue.schedule("nightly", "0 3 * * *", "report", {"kind": "daily"}, timezone=PARIS)
    path = data_dir / "schedules" / "nightly.json"
    doc = orjson.loads(path.read_bytes())
    assert doc.keys() >= INTERFACE_KEYS
    assert doc["params"] == {"kind": "daily"} and doc["timezone"] == PARIS
    assert doc["next_run_at"] == "2030-01-01T02:00:00.000000Z"  # 03:00 in Paris, in winter
    assert path.read_text().startswith('{\n  "name": "nightly",')
    visible = [n for n in os.listdir(data_dir / "schedules") if not n.startswith(".")]
    assert visible == ["nightly.json"]


def test_get_schedules_reads_back_what_was_written(queue: JobQueue) -> None:
    made = queue.schedule(
        "b", "*/5 * * * *", "ping", [1, 2], max_runs=5, allow_concurrent=False,
        priority=-1, max_retries=0, timeout=30, user_id="ops",
    )  # fmt: skip
    queue.schedule("a", CronPatterns.DAILY_NOON, "report")
    assert [s.name for s in queue.get_schedules()] == ["a", "b"]
    assert only(queue, "b") == made
    assert (made.priority, made.max_retries, made.timeout, made.user_id) == (-1, 0, 30.0, "ops")


def test_a_tick_enqueues_one_job_due_at_the_tick(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    queue.schedule("nightly", "0 3 * * *", "report", {"kind": "daily"}, priority=2)
    assert scheduler.tick() == []
    clock.current = utc(2030, 1, 1, 3, 0, 0, 400_000)  # noticed 0.4 s late
    [job] = scheduler.tick()
    assert isinstance(job, PendingJob)
    assert job.metadata.run_at == utc(2030, 1, 1, 3)
    assert job.metadata.type == "report" and job.params == {"kind": "daily"}
    assert job.metadata.priority == 2
    assert job.metadata.unique_key == "schedule:nightly:2030-01-01T03:00:00.000000Z"
    assert scheduler.tick() == []
    s = only(queue, "nightly")
    assert (s.run_count, s.last_run_at, s.last_job_id) == (1, utc(2030, 1, 1, 3), job.metadata.id)
    assert s.next_run_at == utc(2030, 1, 2, 3)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"cron": "61 * * * *"}, "invalid cron expression"),
        ({"cron": "every day"}, "invalid cron expression"),
        ({"cron": "0 0 30 2 *"}, "never matches"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"timezone": "../../etc/passwd"}, "unknown timezone"),
        ({"name": "../escape"}, "invalid schedule name"),
        ({"name": ""}, "schedule name"),
        ({"type": "a/b"}, "invalid job type"),
        ({"max_runs": 0}, "max_runs"),
        ({"end_date": datetime(2031, 1, 1)}, "timezone-aware"),
        ({"catch_up": "always"}, "catch_up"),
        ({"params": "text"}, "params"),
        ({"run_at": utc(2031, 1, 1)}, "sets run_at itself"),
        ({"unique_key": "k"}, "sets unique_key itself"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_definitions_are_refused(
    queue: JobQueue, data_dir: Path, kwargs: dict[str, Any], fragment: str
) -> None:
    args: dict[str, Any] = {"name": "s", "cron": "* * * * *", "type": "report", **kwargs}
    with pytest.raises(InvalidJob, match=fragment):
        queue.schedule(**args)
    assert queue.get_schedules() == []


def test_unknown_names_raise_schedule_not_found(queue: JobQueue) -> None:
    for call in (queue.unschedule, queue.pause, queue.resume, queue.next_run_time):
        with pytest.raises(ScheduleNotFound, match="no schedule named 'ghost'"):
            call("ghost")
    with pytest.raises(InvalidJob):
        queue.pause("../ghost")


def test_unschedule_deletes_the_file_and_keeps_the_jobs(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock, data_dir: Path
) -> None:
    queue.schedule("s", "* * * * *", "ping")
    jobs = drive(queue, scheduler, clock, utc(2030, 1, 1, 0, 2))
    queue.unschedule("s")
    assert queue.get_schedules() == []
    assert not (data_dir / "schedules" / "s.json").exists()
    assert len(queue.query_jobs()) == len(jobs) == 2
    assert drive(queue, scheduler, clock, utc(2030, 1, 1, 0, 5)) == []


# --- replacing -----------------------------------------------------------------------------


def test_an_existing_name_is_replaced(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    queue.schedule("s", "* * * * *", "ping")
    drive(queue, scheduler, clock, utc(2030, 1, 1, 0, 1))
    replaced = queue.schedule("s", "0 * * * *", "pong", {"v": 2}, timezone=PARIS)
    assert queue.get_schedules() == [replaced]
    assert (replaced.cron, replaced.type, replaced.params) == ("0 * * * *", "pong", {"v": 2})
    assert replaced.run_count == 1  # the name's history is kept
    assert replaced.next_run_at == utc(2030, 1, 1, 1)
    [job] = drive(queue, scheduler, clock, utc(2030, 1, 1, 1, 30))
    assert job.metadata.type == "pong"


def test_redeclaring_at_startup_keeps_the_missed_tick(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    """An app that declares its schedules at every start must still catch up downtime."""
    queue.schedule("nightly", "0 3 * * *", "report")
    clock.current = utc(2030, 1, 3, 12)  # down over two ticks
    queue.schedule("nightly", "0 3 * * *", "report")
    [job] = scheduler.tick()
    assert job.metadata.unique_key == tick_key("nightly", utc(2030, 1, 1, 3))


# --- downtime ------------------------------------------------------------------------------


@pytest.mark.parametrize("catch_up", ["once", "skip"])
def test_downtime(queue: JobQueue, scheduler: Scheduler, clock: FakeClock, catch_up: str) -> None:
    queue.schedule("nightly", "0 3 * * *", "report", catch_up=catch_up)  # type: ignore[arg-type]
    drive(queue, scheduler, clock, utc(2030, 1, 1, 4))
    clock.current = utc(2030, 1, 4, 8)  # no scheduler ran for three ticks
    fired = scheduler.tick()
    if catch_up == "once":
        assert run_ats(fired) == [clock.current]  # one job for all of them, due now
        assert only(queue, "nightly").run_count == 2
    else:
        assert fired == []
        assert only(queue, "nightly").run_count == 1
    assert only(queue, "nightly").next_run_at == utc(2030, 1, 5, 3)
    assert scheduler.tick() == []
    assert run_ats(drive(queue, scheduler, clock, utc(2030, 1, 5, 4))) == [utc(2030, 1, 5, 3)]


def test_a_tick_within_the_grace_is_on_time_even_with_skip(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    queue.schedule("s", "0 * * * *", "ping", catch_up="skip")
    clock.current = utc(2030, 1, 1, 1) + MISFIRE_GRACE
    assert run_ats(scheduler.tick()) == [utc(2030, 1, 1, 1)]


def test_after_downtime_the_ticks_still_on_time_fire_too(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    """An every-second schedule after an hour down: one job for the missed hour, then one
    per tick of the last MISFIRE_GRACE seconds, which are not missed, only late."""
    queue.schedule("fast", "* * * * * *", "ping")
    clock.current = utc(2030, 1, 1, 1, 0, 0, 500_000)
    fired = scheduler.tick()
    assert len(fired) == 1 + MISFIRE_GRACE.seconds
    assert run_ats(fired)[0] == clock.current
    first_on_time = utc(2030, 1, 1, 0, 59, 51)  # now - MISFIRE_GRACE, rounded up
    assert run_ats(fired)[1:] == [first_on_time + timedelta(seconds=n) for n in range(10)]


# --- daylight saving time (Europe/Paris, 2030: Mar 31 and Oct 27) --------------------------


def test_spring_forward_a_daily_tick_in_the_gap_fires_once_after_it(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    clock.current = utc(2030, 3, 29, 12)
    queue.schedule("s", "0 2 * * *", "ping", timezone=PARIS)
    fired = drive(queue, scheduler, clock, utc(2030, 4, 1, 12))
    assert run_ats(fired) == [
        utc(2030, 3, 30, 1),  # 02:00 CET
        utc(2030, 3, 31, 1),  # 02:00 does not exist: 03:00 CEST, at the end of the gap
        utc(2030, 4, 1, 0),  # 02:00 CEST
    ]


def test_spring_forward_an_hourly_schedule_has_one_hour_less(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    clock.current = utc(2030, 3, 30, 23, 30)
    queue.schedule("s", CronPatterns.EVERY_HOUR, "ping", timezone=PARIS)
    fired = drive(queue, scheduler, clock, utc(2030, 3, 31, 2, 30))
    assert run_ats(fired) == [utc(2030, 3, 31, 0), utc(2030, 3, 31, 1), utc(2030, 3, 31, 2)]


def test_fall_back_a_daily_tick_in_the_repeated_hour_fires_once(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    clock.current = utc(2030, 10, 25, 12)
    queue.schedule("s", "30 2 * * *", "ping", timezone=PARIS)
    fired = drive(queue, scheduler, clock, utc(2030, 10, 29))
    assert run_ats(fired) == [
        utc(2030, 10, 26, 0, 30),  # 02:30 CEST
        utc(2030, 10, 27, 0, 30),  # 02:30 CEST, first pass; not again at 02:30 CET
        utc(2030, 10, 28, 1, 30),  # 02:30 CET
    ]


def test_fall_back_a_daily_tick_before_the_change_is_25_hours_from_the_next(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    clock.current = utc(2030, 10, 25, 12)
    queue.schedule("s", "30 1 * * *", "ping", timezone=PARIS)
    fired = drive(queue, scheduler, clock, utc(2030, 10, 29))
    assert run_ats(fired) == [
        utc(2030, 10, 25, 23, 30),  # 01:30 CEST
        utc(2030, 10, 26, 23, 30),  # 01:30 CEST on the day of the change
        utc(2030, 10, 28, 0, 30),  # 01:30 CET
    ]


def test_fall_back_an_hourly_schedule_runs_in_both_passes(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    clock.current = utc(2030, 10, 26, 22, 30)
    queue.schedule("s", CronPatterns.EVERY_HOUR, "ping", timezone=PARIS)
    fired = drive(queue, scheduler, clock, utc(2030, 10, 27, 2, 30))
    # 01:00 CEST, 02:00 CEST, 02:00 CET, 03:00 CET: every real hour, once
    assert run_ats(fired) == [utc(2030, 10, 26, 23), *(utc(2030, 10, 27, h) for h in range(3))]


# --- run_on_start, pause, retirement, overlap ----------------------------------------------


def test_run_on_start_fires_once_at_creation(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    made = queue.schedule("s", "0 3 * * *", "report", run_on_start=True)
    [job] = queue.query_jobs()
    assert job.metadata.run_at == clock.current and made.run_count == 1
    queue.schedule("s", "0 3 * * *", "report", run_on_start=True)  # declared again at startup
    assert queue.scheduler().tick() == [] and scheduler.tick() == []
    assert len(queue.query_jobs()) == 1
    assert run_ats(drive(queue, scheduler, clock, utc(2030, 1, 1, 4))) == [utc(2030, 1, 1, 3)]


def test_pause_and_resume(queue: JobQueue, scheduler: Scheduler, clock: FakeClock) -> None:
    queue.schedule("s", "0 * * * *", "ping")
    paused = queue.pause("s")
    assert paused.paused and queue.next_run_time("s") is None
    clock.current = utc(2030, 1, 1, 5, 30)
    assert scheduler.tick() == []
    resumed = queue.resume("s")
    assert not resumed.paused
    assert queue.next_run_time("s") == utc(2030, 1, 1, 6)  # ticks passed while paused are gone
    assert scheduler.tick() == []
    assert run_ats(drive(queue, scheduler, clock, utc(2030, 1, 1, 6, 30))) == [utc(2030, 1, 1, 6)]


def test_max_runs_retires_the_schedule(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock, data_dir: Path
) -> None:
    queue.schedule("s", "* * * * *", "ping", max_runs=2)
    assert len(drive(queue, scheduler, clock, utc(2030, 1, 1, 1))) == 2
    s = only(queue, "s")
    assert s.retired and s.run_count == 2 and s.next_run_at is None
    assert queue.next_run_time("s") is None
    assert orjson.loads((data_dir / "schedules" / "s.json").read_bytes())["retired"] is True
    assert queue.resume("s").retired  # a retired schedule stays retired


def test_end_date_retires_the_schedule(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    queue.schedule("s", "* * * * *", "ping", end_date=utc(2030, 1, 1, 0, 2, 30))
    assert run_ats(drive(queue, scheduler, clock, utc(2030, 1, 1, 1))) == [
        utc(2030, 1, 1, 0, 1),
        utc(2030, 1, 1, 0, 2),
    ]
    assert only(queue, "s").retired and queue.next_run_time("s") is None


def test_an_end_date_already_past_makes_a_retired_schedule(queue: JobQueue) -> None:
    made = queue.schedule("s", "* * * * *", "ping", end_date=utc(2029, 1, 1), run_on_start=True)
    assert made.retired and queue.query_jobs() == []


def test_no_overlap_skips_ticks_while_the_last_job_is_pending_or_running(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    queue.schedule("s", "* * * * *", "ping", allow_concurrent=False)
    assert len(drive(queue, scheduler, clock, utc(2030, 1, 1, 0, 1))) == 1
    assert drive(queue, scheduler, clock, utc(2030, 1, 1, 0, 2)) == []  # still pending
    running = queue.backend.jobs.claim(WORKER_A, clock.now())
    assert running is not None
    assert drive(queue, scheduler, clock, utc(2030, 1, 1, 0, 3)) == []  # running
    queue.backend.jobs.move(running, transitions.complete(running, None, clock.now()))
    assert run_ats(drive(queue, scheduler, clock, utc(2030, 1, 1, 0, 4))) == [utc(2030, 1, 1, 0, 4)]
    assert only(queue, "s").run_count == 2


def test_overlap_is_allowed_by_default(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    queue.schedule("s", "* * * * *", "ping")
    assert len(drive(queue, scheduler, clock, utc(2030, 1, 1, 0, 3))) == 3


def test_next_run_time_after(queue: JobQueue) -> None:
    queue.schedule("s", "0 3 * * *", "report", timezone=PARIS)
    assert queue.next_run_time("s") == utc(2030, 1, 1, 2)
    assert queue.next_run_time("s", after=utc(2030, 7, 1)) == utc(2030, 7, 1, 1)  # CEST
    with pytest.raises(InvalidJob):
        queue.next_run_time("s", after=datetime(2030, 7, 1))


# --- exactly once ---------------------------------------------------------------------------


def test_two_schedulers_on_one_directory_fire_a_tick_once(
    queue: JobQueue, clock: FakeClock, data_dir: Path
) -> None:
    other = JobQueue(data_dir, durable=False, clock=clock)
    queue.schedule("s", "* * * * *", "ping")
    first, second = queue.scheduler(), other.scheduler()
    for _ in range(5):
        clock.advance(60)
        assert len(first.tick()) + len(second.tick()) == 1
    assert len(queue.query_jobs()) == 5


def test_the_tick_key_guards_against_a_crash_before_the_file_was_written(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock
) -> None:
    """Enqueued, then killed before next_run_at moved: the restart finds the same key."""
    queue.schedule("s", "0 * * * *", "ping")
    held = queue.enqueue("ping", {}, unique_key=tick_key("s", utc(2030, 1, 1, 1)))
    clock.current = utc(2030, 1, 1, 1)
    assert scheduler.tick() == [held]
    assert len(queue.query_jobs()) == 1


def test_a_corrupt_schedule_file_does_not_stop_the_others(
    queue: JobQueue, scheduler: Scheduler, clock: FakeClock, data_dir: Path
) -> None:
    queue.schedule("good", "* * * * *", "ping")
    queue.schedule("bad", "* * * * *", "ping")
    (data_dir / "schedules" / "bad.json").write_text("{not json")
    assert [s.name for s in queue.get_schedules()] == ["good"]
    clock.advance(60)
    assert len(scheduler.tick()) == 1
    queue.schedule("bad", "* * * * *", "ping")  # replacing repairs it
    assert len(queue.get_schedules()) == 2


# --- the loop on the real clock -------------------------------------------------------------


def test_start_and_stop_run_the_loop_in_a_thread(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path / "data", durable=False)
    queue.schedule("fast", "* * * * * *", "ping")  # every second
    scheduler = queue.scheduler(max_sleep=0.2).start()
    deadline = time.monotonic() + 5
    while not queue.query_jobs() and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler.stop(timeout=5)
    assert queue.query_jobs(), "no tick fired within 5 s"
    assert not any(t.name == "jobqueue-scheduler" for t in threading.enumerate())


def test_run_returns_when_the_stop_event_is_set(queue: JobQueue) -> None:
    stop = threading.Event()
    stop.set()
    queue.scheduler().run(stop)  # returns at once


def test_the_interface_keys_are_the_dataclass_fields_first() -> None:
    fields = list(Schedule.__dataclass_fields__)
    assert set(fields[: len(INTERFACE_KEYS)]) == INTERFACE_KEYS
    assert timedelta(seconds=1) < MISFIRE_GRACE <= timedelta(minutes=1)
