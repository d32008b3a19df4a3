"""How a worker claims: the best due job it accepts, looking past the ones its
``can_process_job`` refuses, and counting failed claims so that a store that is down
for a minute is logged once, not at every back-off."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from .. import transitions
from ..backend import JobStore
from ..clock import Clock
from ..durations import format_duration
from ..errors import StoreError
from ..job import PendingJob, RunningJob, WorkerInfo

log = logging.getLogger(__name__)

#: Why a claim brought no job: none due, every due one refused, or the store failed.
NoJob = Literal["none", "refused", "error"]
#: How many jobs refused by can_process_job one claim looks past before it gives up.
LOOKAHEAD = 8


class Claimer:
    """One worker's claims. ``errors`` counts the failed ones in a row; ``types`` is
    asked at each claim (a handler registered while the worker runs counts at once)."""

    def __init__(
        self,
        jobs: JobStore,
        clock: Clock,
        *,
        types: Callable[[], frozenset[str] | None],
        accept: Callable[[PendingJob | RunningJob], bool],
        error_backoff: float,
    ) -> None:
        self.jobs = jobs
        self.clock = clock
        self.types = types
        self.accept = accept
        self.error_backoff = error_backoff
        self.errors = 0
        self.last_error = StoreError("the store failed")

    def claim(self, worker: WorkerInfo) -> RunningJob | NoJob:
        """The best due job this worker accepts, or why there is none."""
        refused: list[RunningJob] = []
        try:
            found = self._accepted(worker, refused)
        except StoreError as e:
            self._failed(e)
            return "error"
        finally:
            self._hand_back(refused)
        if self.errors:
            log.warning("the store is back after %d failed claim(s)", self.errors)
            self.errors = 0
        return found

    def _failed(self, error: StoreError) -> None:
        if not self.errors:
            every = format_duration(self.error_backoff)
            log.error("store error, retrying every %s: %s", every, error)
        self.errors += 1
        self.last_error = error

    def _accepted(self, worker: WorkerInfo, refused: list[RunningJob]) -> RunningJob | NoJob:
        """Claim until ``accept`` takes a job. The store only filters by type, so refused
        jobs stay claimed (in ``refused``) until they are handed back: each next claim
        then looks past them instead of taking the same job again."""
        while len(refused) < LOOKAHEAD:
            job = self.jobs.claim(worker, self.clock.now(), self.types())
            if job is None:
                break
            if self.accept(job):
                return job
            refused.append(job)
        return "refused" if refused else "none"

    def _hand_back(self, refused: list[RunningJob]) -> None:
        """Put refused jobs back in pending, untouched."""
        for job in refused:
            try:
                self.jobs.move(job, transitions.release(job))
            except StoreError as e:
                log.warning("could not hand back %s: %s", job.metadata.id, e)
