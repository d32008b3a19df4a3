"""The schedule operations behind ``JobQueue.schedule`` and friends, and the one place
a tick turns into a job.

Each operation is a read-decide-write under the schedule's lock: read the file afresh,
apply a pure rule, enqueue if the rule says so, write the result. That lock is what makes
a tick fire exactly once however many schedulers run: the second one to take the lock
reads the ``next_run_at`` the first one wrote and finds nothing due. The job's
``unique_key`` (``schedule:<name>:<tick>``) is a second guard: a scheduler that crashed
after enqueueing but before writing the file fires the same key again on restart, and
gets the existing job back instead of a duplicate while it is pending or running.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from ..backend import ScheduleStore
from ..clock import Clock
from ..codec import format_time
from ..errors import InvalidJob, ScheduleNotFound
from ..job import Job, PendingJob, RunningJob
from . import rules
from .definition import define
from .model import Schedule, ScheduleSpec

log = logging.getLogger(__name__)

Enqueued = PendingJob | RunningJob


class Enqueuer(Protocol):
    """What a schedule needs of a queue: add its tick's job, and look up its last one."""

    def enqueue(
        self,
        type: str,
        params: Any = None,
        *,
        run_at: datetime | None = None,
        priority: int = 0,
        max_retries: int = 3,
        timeout: float | None = None,
        unique_key: str | None = None,
        user_id: str | None = None,
    ) -> Enqueued:
        """Add the tick's job; a job already holding ``unique_key`` is returned instead."""
        ...

    def get_job(self, id: str) -> Job | None:
        """The schedule's last job, to tell whether it still runs; may raise InvalidJob."""
        ...


def tick_key(name: str, tick: datetime) -> str:
    """The unique key of the job for one tick of one schedule."""
    return f"schedule:{name}:{format_time(tick)}"


class ScheduleBook:
    """The schedules of one backend, and how their ticks become jobs of ``enqueuer``."""

    def __init__(
        self,
        store: ScheduleStore,
        enqueuer: Enqueuer,
        clock: Clock,
        *,
        max_params_bytes: int,
        location: str = "",
    ) -> None:
        self.store = store
        self.enqueuer = enqueuer
        self.clock = clock
        self.max_params_bytes = max_params_bytes
        #: Where the schedules are (for the scheduler's log).
        self.location = location

    def add(self, spec: ScheduleSpec) -> Schedule:
        """Create or replace a schedule (see ``JobQueue.schedule``)."""
        checked = define(spec, self.max_params_bytes)
        with self.store.lock(checked.name):
            old = self._read_for_replace(checked.name)
            now = self.clock.now()
            schedule = rules.redefine(old, checked, now) if old else rules.create(checked, now)
            if old is None and checked.run_on_start and schedule.active:
                schedule, _ = self._fire(schedule, rules.Fire(now, now), now)
            self.store.put(schedule)
        log.debug("schedule %s: %s in %s, next run %s", checked.name, checked.cron,
                  checked.timezone, schedule.next_run_at)  # fmt: skip
        return schedule

    def remove(self, name: str) -> None:
        """Delete the schedule (jobs it already enqueued stay); ScheduleNotFound if none."""
        with self.store.lock(name):
            if not self.store.delete(name):
                raise ScheduleNotFound(name)

    def pause(self, name: str) -> Schedule:
        """Stop firing but keep the schedule and its history; ScheduleNotFound if none."""
        with self.store.lock(name):
            return self._put(rules.pause(self._require(name)))

    def resume(self, name: str) -> Schedule:
        """Fire again from the next tick after now; ticks missed while paused are dropped."""
        with self.store.lock(name):
            return self._put(rules.resume(self._require(name), self.clock.now()))

    def all(self) -> list[Schedule]:
        """Every readable schedule, by name, paused and retired ones included."""
        return self.store.all()

    def next_run_time(self, name: str, after: datetime | None = None) -> datetime | None:
        """See ``rules.next_run_time``; ``after`` must be aware, and the schedule must exist."""
        if after is not None and (not isinstance(after, datetime) or after.utcoffset() is None):
            raise InvalidJob("after must be a timezone-aware datetime")
        return rules.next_run_time(self._require(name), after)

    def fire_if_due(self, name: str, now: datetime) -> tuple[Enqueued | None, Schedule | None]:
        """Fire (or skip) the schedule's tick if it is due at ``now``: the job enqueued, if
        any, and the schedule as it is now (None if it is gone)."""
        with self.store.lock(name):
            schedule = self.store.get(name)
            if schedule is None or not rules.is_due(schedule, now):
                return None, schedule
            running = self._previous_running(schedule)
            job: Enqueued | None = None
            match rules.decide(schedule, now, previous_running=running):
                case rules.Fire() as fire:
                    schedule, job = self._fire(schedule, fire, now)
                case rules.Skip() as skip:
                    log.info("schedule %s: tick %s skipped: %s", name, skip.tick, skip.reason)
                    schedule = rules.skipped(schedule, skip, now)
            self.store.put(schedule)
        return job, schedule

    # --- helpers -------------------------------------------------------------------------

    def _fire(
        self, schedule: Schedule, fire: rules.Fire, now: datetime
    ) -> tuple[Schedule, Enqueued]:
        """Enqueue the tick's job (before the file moves on: see the module docstring)."""
        job = self.enqueuer.enqueue(
            schedule.type,
            schedule.params,
            run_at=fire.run_at,
            priority=schedule.priority,
            max_retries=schedule.max_retries,
            timeout=schedule.timeout,
            unique_key=tick_key(schedule.name, fire.tick),
            user_id=schedule.user_id,
        )
        log.info("schedule %s: enqueued %s for %s", schedule.name, job.metadata.id, fire.tick)
        return rules.fired(schedule, fire, job.metadata.id, now), job

    def _previous_running(self, schedule: Schedule) -> bool:
        if schedule.allow_concurrent or schedule.last_job_id is None:
            return False
        try:
            job = self.enqueuer.get_job(schedule.last_job_id)
        except InvalidJob:  # a corrupt job file (now quarantined) no longer holds the slot
            return False
        return isinstance(job, Enqueued)

    def _require(self, name: str) -> Schedule:
        schedule = self.store.get(name)
        if schedule is None:
            raise ScheduleNotFound(name)
        return schedule

    def _read_for_replace(self, name: str) -> Schedule | None:
        """The schedule being replaced; a corrupt file is replaced like a missing one."""
        try:
            return self.store.get(name)
        except InvalidJob as e:
            log.warning("replacing unreadable schedule %s: %s", name, e)
            return None

    def _put(self, schedule: Schedule) -> Schedule:
        self.store.put(schedule)
        return schedule
