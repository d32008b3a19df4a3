"""The storage seam: what the queue, the worker and the reaper need from a store.

Operations are at the level of the domain (claim a job, move it to a new state), not of
files or SQL, so a PostgreSQL store can implement the same promises. Every method is
atomic with respect to other threads and processes using the same store.

Compare-and-set: ``move`` and ``delete`` name the state they expect (``old``) and raise
``StaleJob`` when the stored job is no longer that state, so a worker whose job was
cancelled or reaped can never overwrite the newer state.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from ..events import JobEvent
from ..job import Job, PendingJob, RunningJob, Status, WorkerInfo
from ..metrics import Sample

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Someone asked a running job to stop."""

    reason: str | None
    at: datetime


class JobStore(Protocol):
    """Where jobs live. Each method is atomic with respect to other processes."""

    def add(self, jobs: Sequence[PendingJob]) -> list[Job]:
        """Store new pending jobs, all or nothing, behind one durable write barrier.

        A job whose ``unique_key`` is held by a pending or running job is not stored:
        its place in the returned list holds that job instead.
        InvalidJob if an id is already taken.
        """
        ...

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None. InvalidJob (after quarantine) if its file is corrupt."""
        ...

    def claim(
        self, worker: WorkerInfo, now: datetime, types: Collection[str] | None = None
    ) -> RunningJob | None:
        """Take the best due pending job (lowest priority, then run_at, then id) of one of
        ``types`` (None: any) and mark it running for ``worker``. Exactly one claimer wins."""
        ...

    def move(self, old: Job, new: Job) -> None:
        """Replace ``old`` by ``new`` (same id). StaleJob if ``old`` is not what is stored."""
        ...

    def delete(self, job: Job) -> None:
        """Remove ``job``. StaleJob if it is not what is stored."""
        ...

    def scan(self, statuses: Collection[Status], job_type: str | None = None) -> Iterator[Job]:
        """Jobs in these statuses, oldest id first; corrupt files are quarantined and skipped."""
        ...

    def counts(self, now: datetime) -> Mapping[str, int]:
        """pending, delayed, running, complete, failed, cancelled, quarantined, total."""
        ...

    def request_cancel(self, job: RunningJob, reason: str | None, now: datetime) -> bool:
        """Ask the worker running ``job`` to stop; False if that attempt already ended."""
        ...

    def cancel_requested(self, job_id: str) -> CancelRequest | None:
        """The pending cancel request for a running job, if any (cheap: called per heartbeat)."""
        ...

    def events(
        self, since: datetime | None = None, *, idle_timeout: float | None = None
    ) -> Iterator[JobEvent]:
        """Job events as any process records them; replays from ``since`` first. Blocks
        waiting for more; ends after ``idle_timeout`` seconds without one (None: never)."""
        ...

    def events_between(self, since: datetime, until: datetime | None = None) -> Iterator[JobEvent]:
        """The recorded events in ``[since, until)``, oldest first."""
        ...

    def metric_samples(self, since: datetime, until: datetime | None = None) -> Iterator[Sample]:
        """The completed, failed and retrying events in ``[since, until)`` reduced to what
        metrics need (``metrics.sample_of`` of ``events_between``, but cheaper)."""
        ...

    def oldest_due(self, now: datetime) -> datetime | None:
        """The earliest ``run_at`` among pending jobs due at ``now`` (None: none is due)."""
        ...

    def register_worker(self, doc: Mapping[str, Any]) -> None:
        """Write (or replace) the registry record of worker ``doc["name"]``."""
        ...

    def unregister_worker(self, name: str) -> None:
        """Remove that worker's record; nothing happens if there is none."""
        ...

    def worker_records(self) -> list[dict[str, Any]]:
        """Every readable worker record, live or not (judged by ``jobqueue.health``)."""
        ...

    def update_shared(self, name: str, fn: Callable[[bytes | None], tuple[bytes, T]]) -> T:
        """Call ``fn`` with the named state's bytes (None at first), store the bytes it
        returns and hand back its answer, atomically across processes (rate limits)."""
        ...

    def recover(self) -> None:
        """Repair what a crash left behind (idempotent; safe while other processes run)."""
        ...
