"""``MemoryBackend``: the whole store in this process's memory (``memory://``).

It is for users' tests (``JobQueue("memory://")``, like huey's ``MemoryHuey``): no data
directory to create or clean up, and wake-ups are instant. It is also the second
implementation of ``jobqueue.backend.Backend``, the one that proves the seam does not
lean on files. So it keeps the file backend's semantics exactly: compare-and-set moves,
unique keys held while a job is pending or running, the same events at the same times.

Nothing touches disk and nothing is shared with another process (``process_local``): a
forked job or a worker in another process cannot see it. One re-entrant lock guards all
the state, which makes every method atomic with respect to every other thread.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from itertools import islice
from typing import TypeVar

from .. import transitions
from ..backend import CancelRequest, WorkerRecord, refuse_running
from ..clock import Clock, SystemClock
from ..errors import StaleJob
from ..events import EventName, JobEvent, event_name, event_time
from ..ids import check_id, check_schedule_name
from ..job import STATUSES, Job, PendingJob, RunningJob, Status, WorkerInfo
from ..metrics import Sample, sample_of
from ..schedules.model import Schedule
from .batch import dedupe

T = TypeVar("T")

log = logging.getLogger(__name__)

#: Events kept, like the file log's hour files: older ones are dropped...
RETENTION = timedelta(hours=48)
#: ...and so are the oldest beyond this many, to bound memory in a long test run.
MAX_EVENTS = 100_000

#: A pending job's place in the claim order: (priority, run_at, id).
_Rank = tuple[int, datetime, str]


def _rank(job: PendingJob) -> _Rank:
    return (job.metadata.priority, job.metadata.run_at, job.metadata.id)


def _held_key(job: Job | None) -> str | None:
    """The unique key ``job`` holds: only a pending or running job holds one."""
    if isinstance(job, PendingJob | RunningJob):
        return job.metadata.unique_key
    return None


class _State:
    """Everything one backend holds, and the one lock that guards it. The indexes (the
    claim order, the unique keys) are only changed by ``locked_replace``, so they never
    disagree with ``jobs``. A ``locked_`` method expects its caller to hold the lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        #: Notified on every recorded event (followers wait on it).
        self.recorded = threading.Condition(self.lock)
        self.jobs: dict[str, Job] = {}
        #: The ranks of pending jobs, sorted: the first due one of a wanted type is claimed.
        self.queue: list[_Rank] = []
        #: unique key -> ids of the pending or running jobs holding it (two only after a
        #: retry of a job whose key another job took meanwhile, as in the file backend).
        self.holders: dict[str, list[str]] = {}
        self.cancels: dict[str, CancelRequest] = {}
        self.events: deque[JobEvent] = deque()
        #: The position of ``events[0]`` in the log since it began (followers keep one).
        self.first_event = 0
        self.newest_event: datetime | None = None
        self.subscribers: dict[object, Callable[[], None]] = {}
        self.workers: dict[str, WorkerRecord] = {}
        self.schedules: dict[str, Schedule] = {}
        self.schedule_locks: dict[str, threading.Lock] = {}
        #: Shared state has its own lock, so that a slow ``fn`` never holds up the jobs.
        self.shared_lock = threading.Lock()
        self.shared: dict[str, bytes] = {}

    def locked_replace(
        self, job_id: str, old: Job | None, new: Job | None, *, record: bool = True
    ) -> None:
        """Store ``new`` in place of ``old`` (None: absent), keep the indexes in step and
        record the event the change is (unless not ``record``: an import). A job that
        changes status (or goes) drops its cancel request: no request outlives its
        attempt, and a claim starts with none."""
        if isinstance(old, PendingJob):
            del self.queue[bisect_left(self.queue, _rank(old))]
        if isinstance(new, PendingJob):
            insort(self.queue, _rank(new))
        self._locked_rekey(job_id, _held_key(old), _held_key(new))
        if new is None:
            del self.jobs[job_id]
        else:
            self.jobs[job_id] = new
        if old is not None and (new is None or new.status != old.status):
            self.cancels.pop(job_id, None)
        if record and new is not None and (event := event_name(old, new)) is not None:
            self.locked_record(event, new, event_time(event, new))  # as JobFiles._record

    def _locked_rekey(self, job_id: str, old: str | None, new: str | None) -> None:
        if old == new:
            return  # a heartbeat, say: the holder keeps its place
        if old is not None:
            ids = self.holders[old]
            ids.remove(job_id)
            if not ids:
                del self.holders[old]
        if new is not None:
            self.holders.setdefault(new, []).append(job_id)

    def locked_holder(self, key: str) -> Job | None:
        ids = self.holders.get(key)
        return self.jobs[ids[0]] if ids else None

    def locked_record(self, event: EventName, job: Job, at: datetime) -> None:
        self.events.append(JobEvent(event, job.metadata.id, job.metadata.type, at, job))
        if self.newest_event is None or at > self.newest_event:
            self.newest_event = at
        cutoff = self.newest_event - RETENTION
        while self.events and (len(self.events) > MAX_EVENTS or self.events[0].at < cutoff):
            self.events.popleft()
            self.first_event += 1
        self.recorded.notify_all()

    def wait_events(self, position: int, deadline: float | None) -> tuple[list[JobEvent], int]:
        """The events recorded from ``position`` on, waiting for one until ``deadline``
        (monotonic; None: forever); an empty list once it passed. A follower that fell
        behind the retention window resumes at the oldest event still kept."""
        with self.recorded:
            while True:
                position = max(position, self.first_event)  # fell behind: skip what went
                end = self.first_event + len(self.events)
                if position < end:  # read from the newest end: a tail is the few last
                    return list(islice(reversed(self.events), end - position))[::-1], end
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return [], position
                self.recorded.wait(remaining)

    def wake(self) -> None:
        """Call every subscriber, outside the lock (a callback may use the backend). A
        wake-up is a hint: a failing callback is logged, never raised into the writer."""
        with self.lock:
            callbacks = list(self.subscribers.values())
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a wake-up callback failed")


class _Part:
    """A part of the backend: a view on the one ``_State``."""

    def __init__(self, state: _State) -> None:
        self._s = state


class _MemoryJobs(_Part):
    """The jobs: a dict by id, plus the claim order and unique key indexes."""

    def add(self, jobs: Sequence[PendingJob]) -> list[Job]:
        with self._s.lock:
            results, fresh = dedupe(
                jobs, self._s.locked_holder, lambda job_id: job_id in self._s.jobs
            )
            for job in fresh:
                self._s.locked_replace(job.metadata.id, None, job)
        if fresh:
            self._s.wake()
        return results

    def import_jobs(self, jobs: Sequence[Job]) -> list[bool]:
        """No event is recorded: the job's history did not change. A pending job whose
        key is held shares it, as a job retried by hand does (the holder stays first)."""
        refuse_running(jobs)
        stored: list[bool] = []
        with self._s.lock:
            for job in jobs:
                fresh = job.metadata.id not in self._s.jobs
                if fresh:
                    self._s.locked_replace(job.metadata.id, None, job, record=False)
                stored.append(fresh)
        if any(isinstance(j, PendingJob) for j, s in zip(jobs, stored, strict=True) if s):
            self._s.wake()
        return stored

    def get(self, job_id: str) -> Job | None:
        check_id(job_id)  # the file backend refuses a malformed id: so do we
        with self._s.lock:
            return self._s.jobs.get(job_id)

    def claim(
        self, worker: WorkerInfo, now: datetime, types: Collection[str] | None = None
    ) -> RunningJob | None:
        claimed = self.claim_many(worker, now, 1, types)
        return claimed[0] if claimed else None

    def claim_many(
        self, worker: WorkerInfo, now: datetime, limit: int, types: Collection[str] | None = None
    ) -> list[RunningJob]:
        with self._s.lock:
            due = (j for j in self._pending(types) if j.metadata.run_at <= now)
            taken = list(islice(due, max(limit, 0)))  # before the queue changes under us
            claimed = [transitions.start(job, worker, now) for job in taken]
            for job, running in zip(taken, claimed, strict=True):
                self._s.locked_replace(job.metadata.id, job, running)
            return claimed

    def _pending(self, types: Collection[str] | None) -> Iterator[PendingJob]:
        """Pending jobs of these types (None: any) in claim order (call under the lock)."""
        for *_, job_id in self._s.queue:
            job = self._s.jobs[job_id]
            if types is None or job.metadata.type in types:
                assert isinstance(job, PendingJob)  # the queue ranks pending jobs only
                yield job

    def move(self, old: Job, new: Job) -> None:
        if old.metadata.id != new.metadata.id:
            raise ValueError("move() keeps the id")
        with self._s.lock:
            self._check_stored(old)
            self._s.locked_replace(old.metadata.id, old, new)
        if isinstance(new, PendingJob):
            self._s.wake()

    def delete(self, job: Job) -> None:
        with self._s.lock:
            self._check_stored(job)
            self._s.locked_replace(job.metadata.id, job, None)

    def _check_stored(self, job: Job) -> None:
        """Compare-and-set: the caller must name what is stored (call under the lock)."""
        if self._s.jobs.get(job.metadata.id) != job:
            raise StaleJob(job.metadata.id, job.status)

    def scan(
        self,
        statuses: Collection[Status],
        job_type: str | None = None,
        *,
        newest_first: bool = False,
        after: str | None = None,
    ) -> Iterator[Job]:
        """A snapshot taken now (not at the first ``next()``), sorted by id."""
        wanted = set(statuses)

        def past(job_id: str) -> bool:
            return after is None or (job_id < after if newest_first else job_id > after)

        with self._s.lock:
            found = [
                job
                for job_id, job in self._s.jobs.items()
                if job.status in wanted
                and (job_type is None or job.metadata.type == job_type)
                and past(job_id)
            ]
        found.sort(key=lambda j: j.metadata.id, reverse=newest_first)
        return iter(found)

    def counts(self, now: datetime) -> Mapping[str, int]:
        by_status = dict.fromkeys(STATUSES, 0)
        with self._s.lock:
            for job in self._s.jobs.values():
                by_status[job.status] += 1
            delayed = sum(1 for _, run_at, _ in self._s.queue if run_at > now)
        counts = {"pending": by_status["pending"], "delayed": delayed}
        counts.update((s, by_status[s]) for s in STATUSES[1:])
        counts["quarantined"] = 0  # nothing here is ever unreadable
        counts["total"] = sum(by_status.values())
        return counts

    def oldest_due(self, now: datetime) -> datetime | None:
        with self._s.lock:
            return min((at for _, at, _ in self._s.queue if at <= now), default=None)

    def next_due(self, types: Collection[str] | None = None) -> datetime | None:
        with self._s.lock:
            return min((j.metadata.run_at for j in self._pending(types)), default=None)

    def recover(self) -> None:
        """Nothing to repair: a crash takes the whole store with it."""

    def flush(self) -> None:
        """Nothing is ever deferred."""


class _MemoryCancels(_Part):
    def request(self, job: RunningJob, reason: str | None, now: datetime) -> bool:
        with self._s.lock:
            if not transitions.same_attempt(job, self._s.jobs.get(job.metadata.id)):
                return False
            self._s.cancels[job.metadata.id] = CancelRequest(reason, now)
            self._s.locked_record("cancelling", job, now)
        self._s.wake()
        return True

    def get(self, job_id: str) -> CancelRequest | None:
        with self._s.lock:
            return self._s.cancels.get(job_id)


class _MemoryEvents(_Part):
    def follow(
        self, since: datetime | None = None, *, idle_timeout: float | None = None
    ) -> Iterator[JobEvent]:
        """The position is taken here, not at the first ``next()``: an event recorded in
        between is not lost. With ``since``, every kept event is replayed, and (as the
        file tail does) only events at or after ``since`` are ever yielded."""
        with self._s.lock:
            position = self._s.first_event + (0 if since is not None else len(self._s.events))
        return self._follow(position, since, idle_timeout)

    def _follow(
        self, position: int, since: datetime | None, idle_timeout: float | None
    ) -> Iterator[JobEvent]:
        deadline = None if idle_timeout is None else time.monotonic() + idle_timeout
        while True:
            batch, position = self._s.wait_events(position, deadline)
            if not batch:
                return  # idle for idle_timeout seconds
            fresh = [e for e in batch if since is None or e.at >= since]
            yield from fresh
            if fresh and idle_timeout is not None:
                deadline = time.monotonic() + idle_timeout

    def samples(self, since: datetime, until: datetime | None = None) -> Iterator[Sample]:
        sampled = ("completed", "failed", "retrying")
        with self._s.lock:
            events = [e for e in self._s.events if e.event in sampled and since <= e.at]
        return iter([sample_of(e) for e in events if until is None or e.at < until])


class _MemoryWorkers(_Part):
    def put(self, record: WorkerRecord) -> None:
        if not record.name:
            raise ValueError("a worker record needs a non-empty name")
        with self._s.lock:
            self._s.workers[record.name] = record

    def remove(self, name: str) -> None:
        with self._s.lock:
            self._s.workers.pop(name, None)

    def all(self) -> list[WorkerRecord]:
        with self._s.lock:
            return sorted(self._s.workers.values(), key=lambda r: r.name)


class _MemorySchedules(_Part):
    """Schedules by name, each with its own lock (a scheduler's read-decide-write holds
    it, so two schedulers in this process never fire the same tick)."""

    def lock(self, name: str) -> AbstractContextManager[object]:
        check_schedule_name(name)
        with self._s.lock:
            return self._s.schedule_locks.setdefault(name, threading.Lock())

    def get(self, name: str) -> Schedule | None:
        check_schedule_name(name)
        with self._s.lock:
            return self._s.schedules.get(name)

    def all(self) -> list[Schedule]:
        with self._s.lock:
            return [self._s.schedules[n] for n in sorted(self._s.schedules)]

    def put(self, schedule: Schedule) -> None:
        check_schedule_name(schedule.name)
        with self._s.lock:
            self._s.schedules[schedule.name] = schedule

    def delete(self, name: str) -> bool:
        check_schedule_name(name)
        with self._s.lock:
            return self._s.schedules.pop(name, None) is not None


class _MemoryShared(_Part):
    def update(self, name: str, fn: Callable[[bytes | None], tuple[bytes, T]]) -> T:
        with self._s.shared_lock:
            data, answer = fn(self._s.shared.get(name))
            self._s.shared[name] = data
            return answer


class _MemoryWakeups(_Part):
    """Called by the writers themselves: a worker in this process wakes at once."""

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        token = object()  # the same callback may subscribe twice: each has its own token
        with self._s.lock:
            self._s.subscribers[token] = callback

        def unsubscribe() -> None:
            with self._s.lock:
                self._s.subscribers.pop(token, None)

        return unsubscribe


class MemoryBackend:
    """One store in this process's memory. Thread-safe; not visible to other processes."""

    location = "memory://"
    process_local = True

    def __init__(self) -> None:
        state = _State()
        self.jobs = _MemoryJobs(state)
        self.cancels = _MemoryCancels(state)
        self.events = _MemoryEvents(state)
        self.workers = _MemoryWorkers(state)
        self.schedules = _MemorySchedules(state)
        self.shared = _MemoryShared(state)
        self.wakeups = _MemoryWakeups(state)
        self.clock: Clock = SystemClock()

    def __repr__(self) -> str:
        return "MemoryBackend()"

    @property
    def url(self) -> str:
        """Opening this URL makes a new, empty store: another process cannot see this one."""
        return self.location

    def reopen(self) -> MemoryBackend:
        """The store is this object: a new handle would be a new, empty store."""
        return self

    def close(self) -> None:
        """Nothing to flush or release (and ``reopen`` hands out this same object)."""
