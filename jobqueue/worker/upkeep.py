"""A worker's periodic chores, run from its lease keeper's thread: reaping lost jobs,
its registry heartbeat, retention cleanup, and (``with_scheduler``) cron schedules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from .. import reaper
from ..clock import Clock
from ..durations import to_timedelta
from ..errors import InvalidOption, StoreError
from ..job import ENDED, Status
from ..queue import JobQueue
from ..schedules.scheduler import Scheduler
from .registry import Registration

log = logging.getLogger(__name__)

RETENTION_EVERY = timedelta(minutes=1)
Retention = Mapping[str, timedelta | float | str]


def check_retention(retention: Retention | None) -> dict[Status, timedelta]:
    """``{"complete": timedelta(days=1), "failed": "30d"}`` -> checked timedeltas."""
    checked: dict[Status, timedelta] = {}
    for status, age in (retention or {}).items():
        if status not in ENDED:
            raise InvalidOption(f"retention is for complete, failed or cancelled, not {status!r}")
        checked[status] = to_timedelta(age, f"retention for {status}")
    return checked


@dataclass(frozen=True, slots=True, kw_only=True)
class Chores:
    """What a worker asks its upkeep to do."""

    registration: Registration
    stale_after: float
    retention: Mapping[Status, timedelta]
    with_scheduler: bool


class Upkeep:
    """Runs ``Chores`` from the lease keeper's thread; a chore's StoreError is only logged."""

    def __init__(self, chores: Chores, queue: JobQueue, clock: Clock) -> None:
        self.chores = chores
        self.registration = chores.registration
        self.queue = queue
        self.clock = clock
        self._last: dict[str, datetime] = {}
        self._scheduler: Scheduler | None = None

    def start(self, now: datetime) -> None:
        """On start: join the registry, reap, apply retention and fire due schedules at
        once, before the first claim (so a burst run also runs what its schedules owed)."""
        self.registration.join()
        self.tick(now)
        if self.chores.with_scheduler:
            scheduler = self.queue.scheduler(clock=self.clock)
            _guarded("schedules", lambda: scheduler.tick(now))
            self._scheduler = scheduler.start()

    def tick(self, now: datetime) -> None:
        """Called every keeper tick: each chore runs only when its own interval has passed."""
        stale_after = self.chores.stale_after
        stale = timedelta(seconds=stale_after)
        reap_every = timedelta(seconds=max(1.0, min(stale_after / 3, 10.0)))
        self._every("reap", reap_every, now, lambda: self._reap(now, stale))
        self._every("retention", RETENTION_EVERY, now, self._apply_retention)
        self.registration.beat(now)

    def stop(self) -> None:
        """Stop the scheduler thread, if any, then leave the registry (a clean stop)."""
        if self._scheduler is not None:
            self._scheduler.stop()
        self.registration.leave()

    def _every(
        self, chore: str, every: timedelta, now: datetime, run: Callable[[], object]
    ) -> None:
        last = self._last.get(chore)
        if last is not None and now - last < every:
            return
        self._last[chore] = now
        _guarded(chore, run)

    def _reap(self, now: datetime, stale: timedelta) -> None:
        backend = self.queue.backend
        for job in reaper.reap(backend.jobs, backend.cancels, now, stale):
            log.warning("returned lost job %s to %s", job.metadata.id, job.status)

    def _apply_retention(self) -> None:
        for status, age in self.chores.retention.items():
            removed = self.queue.cleanup(older_than=age, statuses=[status])
            if removed:
                log.info("retention: removed %d %s jobs older than %s", removed, status, age)


def _guarded(chore: str, run: Callable[[], object]) -> None:
    """A chore that fails (a bad disk moment, a database restart) is logged; the worker
    carries on."""
    try:
        run()
    except StoreError as e:
        log.error("%s failed: %s", chore, e)
