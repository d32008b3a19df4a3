"""The scheduler loop: fire due schedules, sleep until the next tick, repeat.

Run it alone (``jobqueue scheduler``), in a thread of any process (``start()`` /
``stop()``, as ``jobqueue worker --with-scheduler`` does), or drive it by hand with
``tick(now)`` in tests. Any number may run on one data directory: each tick still fires
once (see ``book``). The loop sleeps until the next tick but at most ``max_sleep``
seconds, so schedules added, paused or removed by other processes are noticed quickly.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from types import TracebackType
from typing import Self

from ..clock import Clock
from . import rules
from .book import Enqueued, ScheduleBook
from .model import Schedule

log = logging.getLogger(__name__)


class Scheduler:
    """Fires the schedules of one book (``JobQueue.scheduler()`` builds one)."""

    def __init__(
        self, book: ScheduleBook, *, clock: Clock | None = None, max_sleep: float = 1.0
    ) -> None:
        self.book = book
        self.clock: Clock = clock or book.clock
        self.max_sleep = max_sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Scheduler({self.book.location!r})"

    def tick(self, now: datetime | None = None) -> list[Enqueued]:
        """Fire every schedule due at ``now`` (default: the clock's); the jobs enqueued."""
        fired, _ = self._pass(self.clock.now() if now is None else now)
        return fired

    def run(self, stop: threading.Event | None = None) -> None:
        """Fire schedules until ``stop`` is set (default: until ``stop()`` is called)."""
        stop = self._stop if stop is None else stop
        log.info("scheduler running on %s", self.book.location)
        while not stop.is_set():
            stop.wait(self._run_once())
        log.info("scheduler stopped")

    def start(self) -> Self:
        """Run in a daemon thread (for embedding, e.g. in a worker); returns self."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name="jobqueue-scheduler", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        """Ask the loop to end and wait for the thread (a tick in progress completes)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- one pass ----------------------------------------------------------------------

    def _run_once(self) -> float:
        """One pass; how long to sleep before the next one."""
        try:
            _, wake = self._pass(self.clock.now())
        except Exception:  # the loop must outlive a bad disk moment; log and retry later
            log.exception("scheduler pass failed")
            return self.max_sleep
        if wake is None:
            return self.max_sleep
        seconds = (wake - self.clock.now()).total_seconds()
        return min(self.max_sleep, max(0.0, seconds))

    def _pass(self, now: datetime) -> tuple[list[Enqueued], datetime | None]:
        """Fire what is due; the jobs, and the earliest next tick among active schedules."""
        fired: list[Enqueued] = []
        wake: datetime | None = None
        for schedule in self.book.all():
            current: Schedule | None = schedule
            if rules.is_due(schedule, now):
                try:
                    current = self._fire_due(schedule.name, now, fired)
                except Exception:  # one broken schedule must not stop the others
                    log.exception("schedule %s: tick failed", schedule.name)
                    continue
            at = None if current is None else current.next_run_at
            if at is not None and (wake is None or at < wake):
                wake = at
        return fired, wake

    def _fire_due(self, name: str, now: datetime, fired: list[Enqueued]) -> Schedule | None:
        """Fire until nothing of this schedule is due: after downtime, the job for the
        missed ticks, then the ticks still on time. Appends the jobs to ``fired``."""
        for _ in range(_MAX_FIRES_PER_PASS):
            job, schedule = self.book.fire_if_due(name, now)
            if job is not None:
                fired.append(job)
            if schedule is None or not rules.is_due(schedule, now):
                return schedule
        return schedule


# Ticks still on time after downtime are at most MISFIRE_GRACE / (one second) + 1;
# the bound only guards against a rule bug turning into a busy loop.
_MAX_FIRES_PER_PASS = 100
