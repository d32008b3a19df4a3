"""JobQueue: the public API over a backend. Validation and state rules live here and in
``transitions``; the backend only persists and refuses stale writes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from itertools import islice
from pathlib import Path
from random import Random
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, Unpack, overload

from . import transitions
from .backend import Backend, open_backend
from .clock import Clock
from .durations import to_timedelta
from .errors import InvalidJob, JobNotFound, StaleJob, StoreError
from .health import (
    DEFAULT_LIMITS,
    HealthLimits,
    assess,
    unreadable,
    unserved_types,
    worker_dict,
    worker_states,
)
from .ids import IdFactory, TimeIds, check_id, check_type
from .job import (
    ENDED,
    STATUSES,
    CancelledJob,
    CompleteJob,
    FailedJob,
    Job,
    PendingJob,
    RunningJob,
    Status,
    ended_at,
)
from .options import DEFAULT_MAX_PARAMS_BYTES, EnqueueOptions, normalize_params
from .process import hostname
from .tasks import Task, TaskOptions, Tasks

if TYPE_CHECKING:
    # Imported where used: a one-shot command needs none of them (the scheduler's load
    # croniter; the others cost it ~1 ms each, see tests/test_startup.py).
    from . import reaper
    from .events import JobEvent
    from .schedules.book import ScheduleBook
    from .schedules.model import CatchUp, Schedule
    from .schedules.scheduler import Scheduler
    from .waiting import EndWatch

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

_CAS_ATTEMPTS = 20  # a job can change under us a few times; more means something is wrong


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of ``query_page``: the jobs, and whether more match past the last one."""

    jobs: list[Job]
    more: bool


class JobQueue:
    """A queue on one backend: a data directory (the default), ``memory://``, or any
    ``Backend``; see ``jobqueue.backend.open_backend`` for the URLs."""

    def __init__(
        self,
        store: str | Path | Backend = "data",
        *,
        durable: bool | None = None,
        create: bool = True,
        clock: Clock | None = None,
        new_id: IdFactory | None = None,
        rng: Random | None = None,
        max_params_bytes: int = DEFAULT_MAX_PARAMS_BYTES,
    ) -> None:
        """``durable`` (file backend): False skips fsyncs. ``create=False`` opens an
        existing store for reading without creating or repairing anything."""
        if isinstance(store, str | Path):
            self.backend: Backend = open_backend(store, create=create, durable=durable)
        elif durable is not None:
            raise InvalidJob("durable is an option of opening a store, not of an open backend")
        else:
            self.backend = store
        self.clock: Clock = clock or self.backend.clock
        self.rng = rng or Random()
        self.new_id: IdFactory = new_id or TimeIds(self.rng)
        self.max_params_bytes = max_params_bytes
        #: The tasks defined with ``@queue.task``, by type: ``queue.tasks.send_email``.
        self.tasks = Tasks()
        self._ends: EndWatch | None = None
        self._ends_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JobQueue({self.backend.location!r})"

    @property
    def location(self) -> str:
        """Where the jobs are: the data directory's absolute path, or the store's URL."""
        return self.backend.location

    def reopened(self) -> JobQueue:
        """The same queue on a new handle of its backend, sharing no connection, file or
        lock with this one: what a forked process uses. The tasks are shared."""
        queue = JobQueue(
            self.backend.reopen(),
            clock=self.clock,
            new_id=self.new_id,
            rng=self.rng,
            max_params_bytes=self.max_params_bytes,
        )
        queue.tasks = self.tasks
        return queue

    def close(self) -> None:
        """Flush what the backend deferred and release what it holds."""
        self.backend.close()

    # --- adding ----------------------------------------------------------------------------

    def enqueue(
        self,
        type: str,
        params: Any = None,
        *,
        delay: float | timedelta | None = None,
        run_at: datetime | None = None,
        priority: int = 0,
        max_retries: int = 3,
        timeout: float | timedelta | None = None,
        unique_key: str | None = None,
        user_id: str | None = None,
    ) -> PendingJob | RunningJob:
        """Add one job. With a ``unique_key`` held by a pending or running job, return that job."""
        options = EnqueueOptions(
            delay=delay, run_at=run_at, priority=priority, max_retries=max_retries,
            timeout=timeout, unique_key=unique_key, user_id=user_id,
        )  # fmt: skip
        return self._add(type, [params], options)[0]

    def enqueue_many(
        self, /, type: str, params_list: Iterable[Any], **options: Any
    ) -> list[PendingJob | RunningJob]:
        """Add many jobs of one type: all or nothing, behind one durable write barrier."""
        try:
            checked = EnqueueOptions(**options)
        except TypeError as e:
            raise InvalidJob(f"enqueue_many: {e}") from None
        return self._add(type, list(params_list), checked)

    def _add(
        self, job_type: str, params_list: list[Any], options: EnqueueOptions
    ) -> list[PendingJob | RunningJob]:
        check_type(job_type)
        now = self.clock.now()
        jobs = [
            options.build(
                self.new_id(now), job_type, normalize_params(p, self.max_params_bytes), now
            )
            for p in params_list
        ]
        added = self.backend.jobs.add(jobs)
        for job in added:
            log.debug("enqueued %s (%s)", job.metadata.id, job.metadata.type)
        return [j for j in added if isinstance(j, PendingJob | RunningJob)]

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self, fn: None = None, /, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self, fn: Callable[P, R] | None = None, /, **options: Unpack[TaskOptions]
    ) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
        """Decorator: define a task, a job type with its handler ``fn(params, ctx)`` and
        default options (``type`` defaults to the function's name; see ``jobqueue.tasks``).
        Enqueue with ``fn.enqueue(params, **overrides)``; ``HandlerWorker(queue)`` serves it."""

        def define(fn: Callable[P, R]) -> Task[P, R]:
            task = Task(fn, self, **options)
            self.tasks._register(task)
            return task

        return define if fn is None else define(fn)

    # --- reading -----------------------------------------------------------------------------

    def get_job(self, id: str) -> Job | None:
        """None if no such job; InvalidJob for a malformed id or an unreadable job file."""
        return self.backend.jobs.get(check_id(id))

    def query_jobs(
        self,
        status: Status | Collection[Status] | None = None,
        type: str | None = None,
        limit: int | None = None,
        *,
        newest_first: bool = False,
        after: str | None = None,
        before: str | None = None,
    ) -> list[Job]:
        """Jobs by id (creation order), oldest first or ``newest_first``, optionally of
        some statuses and one type; ``after``/``before`` an id for keyset paging."""
        return self.query_page(
            status, type, limit, newest_first=newest_first, after=after, before=before
        ).jobs

    def query_page(
        self,
        status: Status | Collection[Status] | None = None,
        type: str | None = None,
        limit: int | None = None,
        *,
        newest_first: bool = False,
        after: str | None = None,
        before: str | None = None,
    ) -> JobPage:
        """``query_jobs``, saying whether more jobs match past the page: the next page
        starts ``after`` its last id, the previous one ends ``before`` its first."""
        statuses = _statuses(status)
        if type is not None:
            check_type(type)
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InvalidJob(f"limit must be a non-negative integer, not {limit!r}")
        if after is not None and before is not None:
            raise InvalidJob("give after or before, not both")
        cursor = after if before is None else before
        scan = self.backend.jobs.scan(
            statuses,
            type,
            newest_first=newest_first != (before is not None),
            after=None if cursor is None else check_id(cursor),
        )
        taken = list(scan if limit is None else islice(scan, limit + 1))
        more = limit is not None and len(taken) > limit
        jobs = taken[:limit]
        if before is not None:
            jobs.reverse()
        return JobPage(jobs, more)

    def wait(
        self, id: str, timeout: float | timedelta | None = None
    ) -> CompleteJob | FailedJob | CancelledJob:
        """The job once it has ended (at once if it has), woken by the event log.
        TimeoutError after ``timeout`` seconds (None: no limit); JobNotFound if there is
        no such job, or it is deleted while we wait."""
        seconds = None if timeout is None else to_timedelta(timeout, "timeout").total_seconds()
        return self._end_watch().wait(check_id(id), seconds, self.get_job)

    def _end_watch(self) -> EndWatch:
        """The queue's EndWatch, made again if the backend was swapped (test helpers do)."""
        from .waiting import EndWatch

        with self._ends_lock:
            events = self.backend.events
            if self._ends is None or self._ends.events is not events:
                self._ends = EndWatch(events, self.get_job)
            return self._ends

    def stats(self) -> dict[str, int]:
        """Job counts per status, read from the store; ``delayed`` is part of ``pending``."""
        return dict(self.backend.jobs.counts(self.clock.now()))

    # --- changing ----------------------------------------------------------------------------

    def cancel(self, id: str, reason: str | None = None) -> bool:
        """Pending: cancelled at once. Running: the worker is asked to stop. False if the
        job already ended or does not exist."""
        for _ in range(_CAS_ATTEMPTS):
            job = self.get_job(id)
            now = self.clock.now()
            try:
                match job:
                    case PendingJob():
                        self.backend.jobs.move(job, transitions.cancel_pending(job, reason, now))
                        return True
                    case RunningJob():
                        if self.backend.cancels.request(job, reason, now):
                            return True
                    case _:
                        return False
            except StaleJob:
                continue
        raise StaleJob(id, "pending or running")

    def retry(self, id: str) -> PendingJob:
        """Run a failed or cancelled job again: due now, retry_count 0, history kept."""
        for _ in range(_CAS_ATTEMPTS):
            job = self.get_job(id)
            if job is None:
                raise JobNotFound(id)
            if not isinstance(job, FailedJob | CancelledJob):
                raise InvalidJob(f"job {id!r} is {job.status}: only failed or cancelled jobs retry")
            new = transitions.retry(job, self.clock.now())
            try:
                self.backend.jobs.move(job, new)
            except StaleJob:
                continue
            return new
        raise StaleJob(id, "failed or cancelled")

    def cleanup(
        self,
        older_than: float | timedelta | str = timedelta(days=1),
        statuses: Collection[Status] = ("complete", "failed", "cancelled"),
    ) -> int:
        """Delete ended jobs that reached their status at least ``older_than`` ago."""
        return len(self.cleanup_candidates(older_than, statuses, delete=True))

    def cleanup_candidates(
        self,
        older_than: float | timedelta | str = timedelta(days=1),
        statuses: Collection[Status] = ("complete", "failed", "cancelled"),
        *,
        delete: bool = False,
    ) -> list[Job]:
        """The jobs ``cleanup`` would delete (and deletes them when ``delete``)."""
        age = to_timedelta(older_than, "older_than")
        chosen = _statuses(statuses)
        if not set(chosen) <= ENDED:
            raise InvalidJob("cleanup only removes complete, failed or cancelled jobs")
        cutoff = self.clock.now() - age
        found: list[Job] = []
        for job in self.backend.jobs.scan(chosen):
            at = ended_at(job)
            if at is None or at > cutoff:
                continue
            if delete and not self._delete(job):
                continue
            found.append(job)
        return found

    def remove_jobs(self, type: str) -> int:
        """Delete the pending jobs of one type; returns how many."""
        check_type(type)
        return sum(self._delete(job) for job in self.backend.jobs.scan(["pending"], type))

    def delete(self, id: str) -> bool:
        """Delete one ended (complete, failed or cancelled) job; False if there is no
        such job or it has not ended (cancel it first). Its history goes with it."""
        job = self.get_job(id)
        return job is not None and job.status in ENDED and self._delete(job)

    def _delete(self, job: Job) -> bool:
        try:
            self.backend.jobs.delete(job)
        except StaleJob:
            return False
        return True

    def events(
        self, since: datetime | None = None, *, idle_timeout: float | None = None
    ) -> Iterator[JobEvent]:
        """Yield JobEvents as they happen in any process (created, started, progress,
        retrying, completed, failed, cancelling, cancelled). History is replayed only from
        ``since``. Blocks waiting for events; stops after ``idle_timeout`` seconds without one."""
        return self.backend.events.follow(since, idle_timeout=idle_timeout)

    def reap(self, stale_after: float | timedelta = 30) -> list[reaper.Reaped]:
        """Return running jobs whose worker is gone to pending (or failed, or cancelled when
        that was asked); see reaper."""
        from . import reaper

        return reaper.reap(
            self.backend.jobs,
            self.backend.cancels,
            self.clock.now(),
            to_timedelta(stale_after, "stale_after"),
        )

    # --- monitoring --------------------------------------------------------------------------

    def metrics(self, window: float | timedelta = timedelta(hours=1)) -> dict[str, Any]:
        """Jobs finished, succeeded, failed and retried in the last ``window``, throughput,
        average and p95 duration and error rate, overall and ``by_type`` (see
        ``jobqueue.metrics``). Read from the event log, which keeps 48 hours."""
        from .metrics import summarize

        now, span = self.clock.now(), to_timedelta(window, "window")
        return summarize(self.backend.events.samples(now - span), now, span)

    def workers(self, *, include_stale: bool = False) -> list[dict[str, Any]]:
        """Live workers: ``name, host, pid, started_at, heartbeat_at, concurrency,
        running`` (job ids). With ``include_stale``, also the records of workers that were
        killed or went silent, each with a ``stale`` flag (see ``jobqueue.health``)."""
        states = worker_states(self.backend.workers.all(), self.clock.now(), hostname())
        if include_stale:
            return [{**worker_dict(s.record), "stale": s.stale} for s in states]
        return [worker_dict(s.record) for s in states if not s.stale]

    def health(self, limits: HealthLimits = DEFAULT_LIMITS) -> dict[str, Any]:
        """``status`` (healthy, degraded or unhealthy), ``queue_depth`` (due pending jobs),
        ``oldest_due_wait_s`` (0 when none is due), ``active_workers``, ``stale_workers``
        and the ``reasons`` for the status; the rules are in ``jobqueue.health``."""
        now = self.clock.now()
        try:
            counts = self.backend.jobs.counts(now)
            oldest = self.backend.jobs.oldest_due(now)
            workers = worker_states(self.backend.workers.all(), now, hostname())
            recent = self.metrics(limits.error_window)
            known = [task.type for task in self.tasks]
            unserved = unserved_types(self.backend.jobs, workers, now, known, limits)
        except StoreError as e:
            return unreadable(e)
        return assess(counts, oldest, workers, recent, now, limits, unserved=unserved)

    # --- schedules (jobqueue.schedules) ------------------------------------------------------

    @cached_property
    def _schedules(self) -> ScheduleBook:
        from .schedules.book import ScheduleBook

        return ScheduleBook(
            self.backend.schedules,
            self,
            self.clock,
            max_params_bytes=self.max_params_bytes,
            location=self.backend.location,
        )

    def scheduler(self, *, clock: Clock | None = None, max_sleep: float = 1.0) -> Scheduler:
        """A scheduler that fires this queue's schedules (``run``, ``start`` or ``tick``)."""
        from .schedules.scheduler import Scheduler

        return Scheduler(self._schedules, clock=clock, max_sleep=max_sleep)

    def schedule(
        self,
        /,
        name: str,
        cron: str,
        type: str,
        params: Any = None,
        *,
        timezone: str = "UTC",
        run_on_start: bool = False,
        allow_concurrent: bool = True,
        max_runs: int | None = None,
        end_date: datetime | None = None,
        catch_up: CatchUp = "once",
        **enqueue_options: Any,
    ) -> Schedule:
        """Enqueue a ``type`` job at every tick of ``cron`` (wall-clock time in ``timezone``),
        from any running scheduler. An existing schedule of that name is replaced, keeping
        its run count and, if the cron and timezone are unchanged, its pending tick.
        ``enqueue_options``: priority, max_retries, timeout, user_id."""
        from .schedules.model import ScheduleSpec

        spec = ScheduleSpec(
            name=name, cron=cron, type=type, params=params, timezone=timezone,
            run_on_start=run_on_start, allow_concurrent=allow_concurrent, max_runs=max_runs,
            end_date=end_date, catch_up=catch_up, enqueue_options=enqueue_options,
        )  # fmt: skip
        return self._schedules.add(spec)

    def unschedule(self, name: str) -> None:
        """Delete a schedule (its jobs already enqueued stay); ScheduleNotFound if unknown."""
        self._schedules.remove(name)

    def pause(self, name: str) -> Schedule:
        """Stop firing a schedule until ``resume``; ScheduleNotFound if unknown."""
        return self._schedules.pause(name)

    def resume(self, name: str) -> Schedule:
        """Fire again from the next tick (ticks passed while paused are not caught up)."""
        return self._schedules.resume(name)

    def get_schedules(self) -> list[Schedule]:
        """Every schedule, by name (paused and retired ones too)."""
        return self._schedules.all()

    def next_run_time(self, name: str, after: datetime | None = None) -> datetime | None:
        """The schedule's next tick (the first after ``after`` if given), None when paused
        or retired; ScheduleNotFound if unknown."""
        return self._schedules.next_run_time(name, after)


def _statuses(status: Status | Collection[Status] | None) -> tuple[Status, ...]:
    if status is None:
        return STATUSES
    chosen = (status,) if isinstance(status, str) else tuple(status)
    for s in chosen:
        if s not in STATUSES:
            raise InvalidJob(f"unknown status {s!r}: use one of {', '.join(STATUSES)}")
    return chosen
