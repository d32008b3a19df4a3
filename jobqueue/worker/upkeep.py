"""A worker's periodic chores, run from its lease keeper's thread: reaping lost jobs,
its registry heartbeat, retention cleanup, and (``with_scheduler``) cron schedules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from .. import reaper
from ..clock import Clock
from ..durations import format_duration, to_timedelta
from ..errors import InvalidOption, StoreError
from ..job import ENDED, Status
from ..queue import JobQueue
from ..schedules.scheduler import Scheduler
from .registry import Registration

log = logging.getLogger(__name__)

RETENTION_EVERY = timedelta(minutes=1)
#: How long an ended job is kept: seconds, a timedelta or a duration string ("30d").
Age = timedelta | float | str
#: Per ended status, an age (None: keep that status forever).
Retention = Mapping[str, Age | None]

#: What a worker deletes when not told otherwise. Results are read soon after a job ends
#: (RQ keeps them 500 s, Celery a day); failures are what someone may still look into (RQ
#: keeps them a year). Without a default, 20,000 small jobs took 89 MB and kept growing.
DEFAULT_RETENTION: Mapping[Status, timedelta] = MappingProxyType(
    {"complete": timedelta(days=7), "failed": timedelta(days=30), "cancelled": timedelta(days=30)}
)
#: ``retention=KEEP_ALL``: never delete an ended job (``jobqueue worker --retention none``).
KEEP_ALL: Retention = MappingProxyType({"complete": None, "failed": None, "cancelled": None})


def check_retention(retention: Mapping[str, Age] | None) -> dict[Status, timedelta]:
    """``{"complete": timedelta(days=1), "failed": "30d"}`` -> checked timedeltas (only
    the statuses named: see ``resolve_retention`` for what a worker applies)."""
    return {
        _ended(status): to_timedelta(age, f"retention for {status}")
        for status, age in (retention or {}).items()
    }


def resolve_retention(retention: Retention | None) -> dict[Status, timedelta | None]:
    """What a worker applies, for every ended status: ``DEFAULT_RETENTION`` with the
    statuses ``retention`` names replaced, as RQ's ``result_ttl`` and ``failure_ttl`` are
    set one at a time. ``retention=None`` and ``{}`` both mean the defaults; a status
    given None is kept forever, so ``KEEP_ALL`` deletes nothing."""
    ages: dict[Status, timedelta | None] = dict(DEFAULT_RETENTION)
    for status, age in (retention or {}).items():
        ages[_ended(status)] = None if age is None else to_timedelta(age, f"retention for {status}")
    return ages


def _ended(status: str) -> Status:
    if status not in ENDED:
        raise InvalidOption(f"retention is for complete, failed or cancelled, not {status!r}")
    return status


def describe_retention(ages: Mapping[Status, timedelta | None]) -> str:
    """``complete 7d, failed 30d, cancelled kept forever``: for the worker's start line."""
    return ", ".join(
        f"{status} {'kept forever' if age is None else format_duration(age.total_seconds())}"
        for status, age in ages.items()
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Chores:
    """What a worker asks its upkeep to do."""

    registration: Registration
    stale_after: float
    #: None: never delete jobs of that status.
    retention: Mapping[Status, timedelta | None]
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
        log.info("retention: %s", describe_retention(self.chores.retention))
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
            if age is None:
                continue
            removed = self.queue.cleanup(older_than=age, statuses=[status])
            if removed:
                shown = format_duration(age.total_seconds())
                log.info("retention: removed %d %s jobs older than %s", removed, status, shown)


def _guarded(chore: str, run: Callable[[], object]) -> None:
    """A chore that fails (a bad disk moment, a database restart) is logged; the worker
    carries on."""
    try:
        run()
    except StoreError as e:
        log.error("%s failed: %s", chore, e)
