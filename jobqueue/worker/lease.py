"""Leases: a running job's file stays fresh while its worker lives.

One ``LeaseKeeper`` thread per worker (not per job, and never the handler's thread, so a
CPU-bound handler still heartbeats) visits every running job a few times a second:
it picks up cancel requests, cancels a job past its deadline, writes coalesced
progress within a second, and refreshes ``heartbeat_at`` every ``heartbeat_interval``.
All writes of one job, including its final move, go through its ``Lease`` under one
lock, each a compare-and-set on the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from .. import transitions
from ..backend import CancelRequests, JobStore
from ..clock import Clock
from ..errors import StaleJob, StoreError
from ..job import Job, RunningJob
from .context import JobContext

log = logging.getLogger(__name__)


class Lease:
    """The worker's hold on one running job: the only writer of its file."""

    def __init__(self, store: JobStore, job: RunningJob, ctx: JobContext) -> None:
        self.store = store
        self.job = job
        self.ctx = ctx
        self.lost = False
        self.finished = False
        #: The end whose write raised a StoreError: it may have committed all the same.
        self._unsure: Job | None = None
        self._lock = threading.Lock()

    def beat(self, now: datetime, *, force: bool = False) -> None:
        """Write new progress, or a heartbeat when one is due (``force``)."""
        with self._lock:
            if self.finished or self.lost:
                return
            progress = self.ctx.take_progress()
            if progress is None and not force:
                return
            self._write(transitions.heartbeat(self.job, now, progress))

    def _write(self, new: RunningJob) -> None:
        try:
            self.store.move(self.job, new)
        except StaleJob:
            self._mark_lost()
            return
        self.job = new

    def _mark_lost(self) -> None:
        self.lost = True
        log.warning("job %s changed under its worker (reaped or cancelled)", self.job.metadata.id)
        self.ctx.cancel("the job was taken from this worker", "lost")

    def finish(self, make: Callable[[RunningJob], Job], now: datetime) -> Job | None:
        """Write the last progress, then move the job to ``make(job)``; None if stale.

        A retry after a StoreError writes the same end again (``make`` may draw a random
        retry delay), and when that is refused because the first write did commit (its
        answer was lost with the connection), the job is ours and finished, not lost."""
        with self._lock:
            if self.lost or self.finished:
                return None
            progress = self.ctx.take_progress()
            if progress is not None:
                self._write(transitions.heartbeat(self.job, now, progress))
                if self.lost:
                    return None
            new = self._unsure or make(self.job)
            try:
                self.store.move(self.job, new)
            except StaleJob:
                if self._unsure is None or self.store.get(new.metadata.id) != new:
                    self._mark_lost()
                    return None
            except StoreError:
                self._unsure = new
                raise
            self.finished = True
            return new


class LeaseKeeper:
    """The thread that keeps every lease of one worker fresh (see the module docstring)."""

    def __init__(
        self,
        store: JobStore,
        cancels: CancelRequests,
        clock: Clock,
        *,
        heartbeat_interval: float,
        tick: float = 0.25,
        periodic: Callable[[datetime], None] | None = None,
    ) -> None:
        self.store = store
        self.cancels = cancels
        self.clock = clock
        self.heartbeat = timedelta(seconds=heartbeat_interval)
        self.tick = min(tick, heartbeat_interval)
        self.periodic = periodic
        self._leases: dict[str, tuple[Lease, datetime]] = {}
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the daemon thread; a stopped keeper may be started again."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="jobqueue-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating; waits at most 5 s for the thread. Leases still tracked go stale."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def track(self, lease: Lease) -> None:
        """Keep ``lease`` fresh; its first heartbeat is due one interval from now."""
        with self._mutex:
            self._leases[lease.job.metadata.id] = (lease, self.clock.now())

    def untrack(self, lease: Lease) -> None:
        """Stop visiting ``lease`` (its attempt ended); unknown leases are ignored."""
        with self._mutex:
            self._leases.pop(lease.job.metadata.id, None)

    def leases(self) -> list[Lease]:
        """A snapshot of the tracked leases, safe to iterate while others are untracked."""
        with self._mutex:
            return [lease for lease, _ in self._leases.values()]

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            now = self.clock.now()
            for lease in self.leases():
                self._visit(lease, now)
            if self.periodic is not None:
                _guarded(self.periodic, now)

    def _visit(self, lease: Lease, now: datetime) -> None:
        try:
            self._check_cancel(lease, now)
            with self._mutex:
                entry = self._leases.get(lease.job.metadata.id)
            due = entry is not None and now - entry[1] >= self.heartbeat
            lease.beat(now, force=due)
            if due:
                with self._mutex:
                    self._leases[lease.job.metadata.id] = (lease, now)
        except StoreError as e:
            log.warning("could not refresh job %s: %s", lease.job.metadata.id, e)

    def _check_cancel(self, lease: Lease, now: datetime) -> None:
        ctx = lease.ctx
        if ctx.cancelled:
            return
        request = self.cancels.get(lease.job.metadata.id)
        if request is not None:
            ctx.cancel(request.reason, "user")
        elif ctx.deadline is not None and now >= ctx.deadline:
            ctx.cancel("timeout", "timeout")


def _guarded(fn: Callable[[datetime], None], now: datetime) -> None:
    try:
        fn(now)
    except Exception:
        log.exception("periodic worker task failed")
