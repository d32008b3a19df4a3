"""How a worker claims: the best due jobs it accepts, as many as it has free slots, in
one round trip where the store allows (``JobStore.claim_many``), looking past the ones
its ``can_process_job`` refuses, and counting failed claims so that a store that is down
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

    def claim(self, worker: WorkerInfo, wanted: int = 1) -> list[RunningJob] | NoJob:
        """Up to ``wanted`` of the best due jobs this worker accepts, or why there is none.
        A store error after some were claimed hands those over (they are ours to run)
        and is left for the next claim to report; any other error (a raising
        ``can_process_job``) hands every claimed job back before it propagates."""
        accepted: list[RunningJob] = []
        refused: list[RunningJob] = []
        try:
            self._take(worker, wanted, accepted, refused)
        except StoreError as e:
            if accepted:
                return accepted
            self._failed(e)
            return "error"
        except BaseException:
            self.hand_back(accepted)
            raise
        finally:
            self.hand_back(refused)
        if self.errors:
            log.warning("the store is back after %d failed claim(s)", self.errors)
            self.errors = 0
        if accepted:
            return accepted
        return "refused" if refused else "none"

    def _failed(self, error: StoreError) -> None:
        if not self.errors:
            every = format_duration(self.error_backoff)
            log.error("store error, retrying every %s: %s", every, error)
        self.errors += 1
        self.last_error = error

    def _take(
        self,
        worker: WorkerInfo,
        wanted: int,
        accepted: list[RunningJob],
        refused: list[RunningJob],
    ) -> None:
        """Claim until ``wanted`` jobs are accepted. The store only filters by type, so
        refused jobs stay claimed (in ``refused``) until they are handed back: each next
        claim then looks past them instead of taking the same jobs again."""
        while len(accepted) < wanted and len(refused) < LOOKAHEAD:
            asked = wanted - len(accepted)
            batch = self._claim(worker, asked)
            for n, job in enumerate(batch):
                try:
                    taken = self.accept(job)
                except BaseException:
                    refused.extend(batch[n:])  # undecided: handed back with the refused
                    raise
                (accepted if taken else refused).append(job)
            if len(batch) < asked:
                return  # nothing more is due

    def _claim(self, worker: WorkerInfo, n: int) -> list[RunningJob]:
        """One claim: ``claim`` for one job (every store's simplest path), ``claim_many``
        for more."""
        now, types = self.clock.now(), self.types()
        if n == 1:
            job = self.jobs.claim(worker, now, types)
            return [] if job is None else [job]
        return self.jobs.claim_many(worker, now, n, types)

    def hand_back(self, jobs: list[RunningJob]) -> None:
        """Put claimed jobs that will not run here back in pending, untouched."""
        for job in jobs:
            try:
                self.jobs.move(job, transitions.release(job))
            except StoreError as e:
                log.warning("could not hand back %s: %s", job.metadata.id, e)
