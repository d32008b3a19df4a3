"""A worker's own record in the store's worker registry (see ``store.workers``).

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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import codec
from ..errors import JobQueueError
from ..health import worker_states
from ..process import hostname
from .lease import LeaseKeeper

if TYPE_CHECKING:
    from .base import JobWorker

log = logging.getLogger(__name__)

FORGET_AFTER = timedelta(minutes=10)
_PRUNE_EVERY = timedelta(minutes=1)


class Registration:
    """One worker's record: written on ``join``, refreshed by ``beat``, removed by ``leave``."""

    def __init__(self, worker: JobWorker, keeper: LeaseKeeper) -> None:
        assert worker.info is not None, "register a worker once it has started"
        self.worker = worker
        self.info = worker.info
        self.keeper = keeper
        self.started_at = worker.clock.now()
        self._written: tuple[datetime, list[str]] | None = None
        self._pruned_at: datetime | None = None
        self._left = False
        #: A beat racing a leave must not write the record back after it was removed.
        self._lock = threading.Lock()

    def join(self) -> Registration:
        now = self.worker.clock.now()
        self._write(now, self._running())
        self._prune(now)
        return self

    def beat(self, now: datetime) -> None:
        """Rewrite the record if a heartbeat is due or the running jobs changed."""
        with self._lock:
            if self._left:
                return
            running = self._running()
            due = timedelta(seconds=self.worker.heartbeat_interval)
            written = self._written
            if written is None or running != written[1] or now - written[0] >= due:
                self._write(now, running)
        if self._pruned_at is None or now - self._pruned_at >= _PRUNE_EVERY:
            self._prune(now)

    def leave(self) -> None:
        with self._lock:
            self._left = True
            try:
                self.worker.store.unregister_worker(self.info.name)
            except (JobQueueError, OSError) as e:
                log.warning("could not remove the record of worker %s: %s", self.info.name, e)

    def _running(self) -> list[str]:
        return sorted(lease.job.metadata.id for lease in self.keeper.leases())

    def document(self, now: datetime, running: list[str]) -> dict[str, Any]:
        """The record: INTERFACE's keys, plus what a reader needs to judge staleness."""
        return {
            "name": self.info.name,
            "host": self.info.host,
            "pid": self.info.pid,
            "pid_started": self.info.pid_started,
            "started_at": codec.format_time(self.started_at),
            "heartbeat_at": codec.format_time(now),
            "concurrency": self.worker.concurrency,
            "running": running,
            "stale_after": self.worker.stale_after,
        }

    def _write(self, now: datetime, running: list[str]) -> None:
        try:
            self.worker.store.register_worker(self.document(now, running))
        except (JobQueueError, OSError) as e:
            log.warning("could not refresh the record of worker %s: %s", self.info.name, e)
            return
        self._written = (now, running)

    def _prune(self, now: datetime) -> None:
        """Forget records of workers that have been stale for FORGET_AFTER."""
        self._pruned_at = now
        store = self.worker.store
        try:
            for state in worker_states(store.worker_records(), now, hostname()):
                heartbeat = state.record["heartbeat_at"]
                if state.stale and (heartbeat is None or now - heartbeat >= FORGET_AFTER):
                    log.info("forgetting the record of worker %s", state.record["name"])
                    store.unregister_worker(str(state.record["name"]))
        except (JobQueueError, OSError) as e:
            log.warning("could not prune worker records: %s", e)
