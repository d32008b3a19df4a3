"""A worker's periodic chores, run from its lease keeper's thread: reaping lost jobs,
its registry heartbeat, retention cleanup, and (``with_scheduler``) cron schedules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import reaper
from ..durations import to_timedelta
from ..errors import InvalidJob, JobQueueError
from ..job import ENDED, Status
from .lease import LeaseKeeper
from .registry import Registration

if TYPE_CHECKING:
    from ..schedules.scheduler import Scheduler
    from .base import JobWorker

log = logging.getLogger(__name__)

RETENTION_EVERY = timedelta(minutes=1)
Retention = Mapping[str, timedelta | float | str]


def check_retention(retention: Retention | None) -> dict[Status, timedelta]:
    """``{"complete": timedelta(days=1), "failed": "30d"}`` -> checked timedeltas."""
    checked: dict[Status, timedelta] = {}
    for status, age in (retention or {}).items():
        if status not in ENDED:
            raise InvalidJob(f"retention is for complete, failed or cancelled, not {status!r}")
        checked[status] = to_timedelta(age, f"retention for {status}")
    return checked


class Upkeep:
    def __init__(self, worker: JobWorker, keeper: LeaseKeeper) -> None:
        self.worker = worker
        self.registration = Registration(worker, keeper)
        self._last: dict[str, datetime] = {}
        self._scheduler: Scheduler | None = None

    def start(self, now: datetime) -> None:
        """On start: join the registry, reap, apply retention and fire due schedules at
        once, before the first claim (so a burst run also runs what its schedules owed)."""
        self.registration.join()
        self.tick(now)
        if self.worker.with_scheduler:
            from ..schedules.scheduler import Scheduler

            scheduler = Scheduler(self.worker.queue, clock=self.worker.clock)
            _guarded("schedules", lambda: scheduler.tick(now))
            self._scheduler = scheduler.start()

    def tick(self, now: datetime) -> None:
        stale = timedelta(seconds=self.worker.stale_after)
        reap_every = timedelta(seconds=max(1.0, min(self.worker.stale_after / 3, 10.0)))
        self._every("reap", reap_every, now, lambda: self._reap(now, stale))
        self._every("retention", RETENTION_EVERY, now, self._apply_retention)
        self.registration.beat(now)

    def stop(self) -> None:
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
        for job in reaper.reap(self.worker.store, now, stale):
            log.warning("returned lost job %s to %s", job.metadata.id, job.status)

    def _apply_retention(self) -> None:
        for status, age in self.worker.retention.items():
            removed = self.worker.queue.cleanup(older_than=age, statuses=[status])
            if removed:
                log.info("retention: removed %d %s jobs older than %s", removed, status, age)


def _guarded(chore: str, run: Callable[[], object]) -> None:
    """A chore that fails (a bad disk moment) is logged; the worker carries on."""
    try:
        run()
    except (JobQueueError, OSError) as e:
        log.error("%s failed: %s", chore, e)
