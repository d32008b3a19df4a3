"""Pure schedule transitions: what a tick does, what pause and resume change.

No files and no clock: each function takes the schedule and ``now`` and returns the
new schedule (or a decision), so every rule is tested without sleeping.

Ticks and misses: a tick is *on time* while it is at most ``MISFIRE_GRACE`` old when a
scheduler looks at it, and then fires one job due at the tick. Older ticks were *missed*
(no scheduler ran): with ``catch_up="once"`` all of them together fire one job, due now;
with ``"skip"`` none fires. Either way the schedule moves on to the first tick that is
not missed, so downtime never produces a burst of jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .cron import first_tick_from, next_tick
from .model import Schedule

#: How late a scheduler may notice a tick and still fire it as on time (a busy machine,
#: a slow disk); ticks older than this count as missed during downtime.
MISFIRE_GRACE = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class Fire:
    """Enqueue one job for the tick ``tick`` (the schedule's ``next_run_at``)."""

    tick: datetime
    #: When the job is due: the tick itself, or now for missed ticks caught up.
    run_at: datetime


@dataclass(frozen=True, slots=True)
class Skip:
    """Let the tick ``tick`` pass without a job."""

    tick: datetime
    reason: str


def create(spec: Schedule, now: datetime) -> Schedule:
    """A new schedule: its first tick is the first one after ``now``."""
    return _settle(spec, next_tick(spec.cron, spec.timezone, now))


def redefine(old: Schedule, spec: Schedule, now: datetime) -> Schedule:
    """Replace ``old`` by the definition ``spec``, keeping its history and pause.

    With the same cron and timezone the pending tick is kept, so an application that
    declares its schedules at every start still catches up the ticks it was down for.
    """
    kept = replace(
        spec,
        paused=old.paused,
        run_count=old.run_count,
        last_run_at=old.last_run_at,
        last_job_id=old.last_job_id,
    )
    same_times = (old.cron, old.timezone) == (spec.cron, spec.timezone)
    if same_times and old.next_run_at is not None:
        return _settle(kept, old.next_run_at)
    return _settle(kept, next_tick(spec.cron, spec.timezone, now))


def is_due(schedule: Schedule, now: datetime) -> bool:
    """A tick is waiting at ``now``; never for a paused or retired schedule."""
    at = schedule.next_run_at
    return schedule.active and at is not None and at <= now


def decide(schedule: Schedule, now: datetime, *, previous_running: bool) -> Fire | Skip:
    """What the due tick (``next_run_at``) does. ``previous_running``: the schedule's
    last job is still pending or running."""
    tick = schedule.next_run_at
    if tick is None:
        raise ValueError(f"schedule {schedule.name!r} has no tick due")
    missed = now - tick > MISFIRE_GRACE
    if missed and schedule.catch_up == "skip":
        return Skip(tick, "ticks missed while no scheduler ran (catch_up='skip')")
    if previous_running and not schedule.allow_concurrent:
        return Skip(tick, "the previous job is still pending or running (allow_concurrent=False)")
    return Fire(tick, now if missed else tick)


def fired(schedule: Schedule, fire: Fire, job_id: str, now: datetime) -> Schedule:
    """After ``fire`` enqueued the job ``job_id``: count it, then move to the next tick."""
    counted = replace(
        schedule,
        run_count=schedule.run_count + 1,
        last_run_at=fire.run_at,
        last_job_id=job_id,
    )
    return _settle(counted, _following(schedule, fire.tick, now))


def skipped(schedule: Schedule, skip: Skip, now: datetime) -> Schedule:
    """After ``skip``: move to the next tick; ``run_count`` and the last job stay as they were."""
    return _settle(schedule, _following(schedule, skip.tick, now))


def pause(schedule: Schedule) -> Schedule:
    """No tick is pending while paused (``next_run_at`` None); ``resume`` picks a new one."""
    return replace(schedule, paused=True, next_run_at=None)


def resume(schedule: Schedule, now: datetime) -> Schedule:
    """Ticks that passed while paused are not caught up: the next one is after ``now``."""
    unpaused = replace(schedule, paused=False)
    return _settle(unpaused, next_tick(schedule.cron, schedule.timezone, now))


def next_run_time(schedule: Schedule, after: datetime | None) -> datetime | None:
    """The next tick (after ``after`` if given); None when paused, retired or past end_date."""
    if not schedule.active:
        return None
    if after is None:
        return schedule.next_run_at
    at = next_tick(schedule.cron, schedule.timezone, after)
    return None if _past_end(schedule, at) else at


def _following(schedule: Schedule, tick: datetime, now: datetime) -> datetime:
    """The tick after ``tick`` that was not missed by ``now``: missed ones went with it."""
    start = max(tick + timedelta(microseconds=1), now - MISFIRE_GRACE)
    return first_tick_from(schedule.cron, schedule.timezone, start)


def _settle(schedule: Schedule, upcoming: datetime) -> Schedule:
    """Set the next tick, or retire the schedule when it has no run left."""
    runs_left = schedule.max_runs is None or schedule.run_count < schedule.max_runs
    if not runs_left or _past_end(schedule, upcoming):
        return replace(schedule, retired=True, next_run_at=None)
    return replace(schedule, retired=False, next_run_at=None if schedule.paused else upcoming)


def _past_end(schedule: Schedule, at: datetime) -> bool:
    return schedule.end_date is not None and at > schedule.end_date
