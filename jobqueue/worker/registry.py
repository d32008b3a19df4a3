"""A worker's own record in the backend's worker registry (``WorkerRecord``).

The worker joins when it starts, beats from its LeaseKeeper's periodic callback and
leaves when it stops cleanly, so ``queue.workers()`` lists exactly the workers that are
up. A beat comes every keeper tick but writes only when a heartbeat is due or the set of
running jobs changed: ``jobqueue workers`` shows a new job within a tick, at the cost of
one small write per job start and end.

A killed worker cannot leave: its record turns stale (``jobqueue.health``) and is
forgotten by the next worker that joins or beats once it has been silent for
``FORGET_AFTER``, so health stops reporting a crash that long ago.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from ..backend import WorkerRecord, WorkerRegistry
from ..clock import Clock
from ..errors import StoreError
from ..health import worker_states
from ..job import WorkerInfo
from ..process import hostname
from .lease import LeaseKeeper

log = logging.getLogger(__name__)

FORGET_AFTER = timedelta(minutes=10)
_PRUNE_EVERY = timedelta(minutes=1)


class Registration:
    """One worker's record: written on ``join``, refreshed by ``beat``, removed by ``leave``."""

    def __init__(
        self,
        registry: WorkerRegistry,
        info: WorkerInfo,
        keeper: LeaseKeeper,
        clock: Clock,
        *,
        concurrency: Callable[[], int],
        heartbeat_interval: float,
        stale_after: float,
        types: tuple[str, ...] = (),
    ) -> None:
        self.registry = registry
        self.info = info
        self.keeper = keeper
        self.clock = clock
        #: Read at each write: ``set_concurrency`` changes it while the worker runs.
        self.concurrency = concurrency
        self.heartbeat = timedelta(seconds=heartbeat_interval)
        self.stale_after = stale_after
        self.types = types
        self.started_at = clock.now()
        self._written: tuple[datetime, tuple[str, ...]] | None = None
        self._pruned_at: datetime | None = None
        self._left = False
        #: A beat racing a leave must not write the record back after it was removed.
        self._lock = threading.Lock()

    def join(self) -> Registration:
        """Write the first record and prune long-dead ones; a store error is only logged."""
        now = self.clock.now()
        self._write(now, self._running())
        self._prune(now)
        return self

    def beat(self, now: datetime) -> None:
        """Rewrite the record if a heartbeat is due or the running jobs changed."""
        with self._lock:
            if self._left:
                return
            running = self._running()
            written = self._written
            if written is None or running != written[1] or now - written[0] >= self.heartbeat:
                self._write(now, running)
        if self._pruned_at is None or now - self._pruned_at >= _PRUNE_EVERY:
            self._prune(now)

    def leave(self) -> None:
        """Remove the record (clean stop); no beat writes it back after this."""
        with self._lock:
            self._left = True
            try:
                self.registry.remove(self.info.name)
            except StoreError as e:
                log.warning("could not remove the record of worker %s: %s", self.info.name, e)

    def _running(self) -> tuple[str, ...]:
        return tuple(sorted(lease.job.metadata.id for lease in self.keeper.leases()))

    def record(self, now: datetime, running: tuple[str, ...]) -> WorkerRecord:
        """The record as of ``now``; ``concurrency`` is read afresh (it may have changed)."""
        return WorkerRecord(
            name=self.info.name,
            host=self.info.host,
            pid=self.info.pid,
            pid_started=self.info.pid_started,
            started_at=self.started_at,
            heartbeat_at=now,
            concurrency=self.concurrency(),
            running=running,
            stale_after=self.stale_after,
            types=self.types,
        )

    def _write(self, now: datetime, running: tuple[str, ...]) -> None:
        try:
            self.registry.put(self.record(now, running))
        except StoreError as e:
            log.warning("could not refresh the record of worker %s: %s", self.info.name, e)
            return
        self._written = (now, running)

    def _prune(self, now: datetime) -> None:
        """Forget records of workers that have been stale for FORGET_AFTER."""
        self._pruned_at = now
        try:
            for state in worker_states(self.registry.all(), now, hostname()):
                if state.stale and now - state.record.heartbeat_at >= FORGET_AFTER:
                    log.info("forgetting the record of worker %s", state.record.name)
                    self.registry.remove(state.record.name)
        except StoreError as e:
            log.warning("could not prune worker records: %s", e)
