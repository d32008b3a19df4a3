"""JobWorker: claim due jobs, run them, record how each ended; repeat.

The loop (``run``) only claims and launches, as many jobs at a time as it has free
slots (``JobStore.claim_many``: one round trip on a database). Each job runs in a slot
thread of its own, its lease is kept fresh by the LeaseKeeper thread (which also runs
the worker's ``Upkeep`` chores), and its outcome becomes the job's next state in
``ending``. The worker sees its store only through ``jobqueue.backend``, so it runs
unchanged on any backend. A backend failure (``StoreError``) never ends the loop: the
worker keeps its running jobs, pauses ``error_backoff`` and tries again, logging once
per streak.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from random import Random
from typing import Any, ClassVar, Literal

from .. import transitions
from ..clock import Clock
from ..durations import format_duration
from ..errors import InvalidOption, StoreError
from ..job import (
    CancelledJob,
    CompleteJob,
    FailedJob,
    Job,
    PendingJob,
    RunningJob,
    Status,
    WorkerInfo,
)
from ..process import hostname, start_ticks
from ..queue import JobQueue
from ..retry import RetryPolicy
from . import signals
from .claimer import Claimer, NoJob
from .context import JobContext
from .ending import end_state, log_end, log_overrun
from .lease import Lease, LeaseKeeper
from .middleware import Middleware, run_chain
from .outcome import Cancelled, Deferred, Failed, Outcome, outcome_of_error, outcome_of_result
from .registry import Registration
from .runner import AsyncRunner, SlotThreads, call_job
from .upkeep import Chores, Retention, Upkeep, resolve_retention

log = logging.getLogger(__name__)

Isolation = Literal["thread", "process"]
_FORCE_RELEASE_GRACE = 5.0  # seconds a cancelled job gets to stop before it is handed back
#: A burst run gives up (raising the StoreError) after this many failed claims in a row.
BURST_ERROR_LIMIT = 3


class JobWorker:
    """Subclass it: set ``job_types`` and write ``execute_job``. See INTERFACE.md.

    Retention: a worker deletes ended jobs on start and every minute, by default
    completed ones 7 days after they ended and failed or cancelled ones after 30 days
    (``upkeep.DEFAULT_RETENTION``). ``retention={"complete": "1d"}`` changes only the
    statuses it names, as RQ's ``result_ttl`` and ``failure_ttl`` are set one at a time
    (the others keep their defaults); a status given None is kept forever, and
    ``retention=KEEP_ALL`` (from ``jobqueue.worker.upkeep``) deletes nothing. Omitting
    it, None and ``{}`` all mean the defaults.
    """

    #: The job types this worker takes; empty means every type (see can_process_job).
    job_types: ClassVar[Collection[str]] = frozenset()

    def __init__(
        self,
        queue: JobQueue,
        *,
        concurrency: int = 1,
        poll_interval: float = 1.0,
        error_backoff: float = 5.0,
        retry_policy: RetryPolicy = RetryPolicy(),
        heartbeat_interval: float = 5.0,
        stale_after: float = 30.0,
        shutdown_timeout: float = 30.0,
        isolation: Isolation = "thread",
        default_timeout: float | None = None,
        middleware: Sequence[Middleware] = (),
        retention: Retention | None = None,
        with_scheduler: bool = False,
        clock: Clock | None = None,
        rng: Random | None = None,
    ) -> None:
        if concurrency < 1:
            raise InvalidOption(f"concurrency must be at least 1, not {concurrency}")
        if isolation not in ("thread", "process"):
            raise InvalidOption(f"isolation must be 'thread' or 'process', not {isolation!r}")
        if isolation == "process" and queue.backend.process_local:
            raise InvalidOption(
                f"isolation='process' needs a store other processes can open, not {queue.location}"
            )
        self.queue = queue
        self.jobs = queue.backend.jobs
        self.clock: Clock = clock or queue.clock
        self.rng = rng or queue.rng
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.error_backoff = error_backoff
        self.retry_policy = retry_policy
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.shutdown_timeout = shutdown_timeout
        self.isolation: Isolation = isolation
        self.default_timeout = default_timeout
        self.middleware = list(middleware)
        self.retention = retention
        self.with_scheduler = with_scheduler
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._stop_now = threading.Event()
        self._slots = threading.Condition()
        self._active: dict[str, Lease] = {}
        self._async = AsyncRunner()
        self._slot_threads = SlotThreads(self._work, "jobqueue-slot")
        self._thread: threading.Thread | None = None
        #: The latest start a rate limit put off: burst mode waits for it (the job was due).
        self._held_until: datetime | None = None
        self.info: WorkerInfo | None = None

    @property
    def retention(self) -> dict[Status, timedelta | None]:
        """How long ended jobs are kept, per status (None: forever); see the class docstring."""
        return dict(self._retention)

    @retention.setter
    def retention(self, retention: Retention | None) -> None:
        """Checked and merged over the defaults here, so that setting it on a built worker
        (as ``jobqueue worker module:instance`` does) means what the keyword means."""
        self._retention = resolve_retention(retention)

    # --- overridable ---------------------------------------------------------------------------

    def get_worker_name(self) -> str:
        """The registry key, so unique among live workers (default: class@host:pid)."""
        return f"{type(self).__name__}@{hostname()}:{os.getpid()}"

    def can_process_job(self, job: PendingJob | RunningJob) -> bool:
        """Default: the job's type is in ``job_types`` (or ``job_types`` is empty)."""
        return not self.job_types or job.metadata.type in self.job_types

    def retry_policy_for(self, job: RunningJob) -> RetryPolicy:
        """How long this job's failed attempt waits before its retry: ``retry_policy``,
        unless a subclass knows better (HandlerWorker: a task's own policy)."""
        return self.retry_policy

    def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
        """Do the work; the return value (JSON-serialisable) becomes the result.
        May be ``async def``."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute_job")

    def on_job_started(self, job: RunningJob) -> None:
        """Hook: claimed, about to run. Like every hook, an exception is logged, not raised."""
        ...

    def on_job_completed(self, job: CompleteJob) -> None:
        """Hook: the result is stored (not called if a cancel or the reaper won first)."""
        ...

    def on_job_failed(self, job: FailedJob) -> None:
        """Hook: failed for good (no retry left, or a PermanentError); not on a retry."""
        ...

    def on_job_retrying(self, job: PendingJob, error: BaseException) -> None:
        """Hook: back to pending after a failed attempt; ``error`` may be a stand-in (see
        ``Failed.exception``) or a JobTimeout."""
        ...

    def on_job_cancelled(self, job: CancelledJob) -> None:
        """Hook: the running job stopped on a cancel request and is stored as cancelled."""
        ...

    def on_cleanup(self, job: RunningJob, ctx: JobContext) -> None:
        """Hook: release what a cancelled attempt held; runs before the cancel is stored."""
        ...

    # --- running -----------------------------------------------------------------------------

    def run(self, burst: bool = False, *, handle_signals: bool = True) -> None:
        """Work until SIGINT/SIGTERM (or ``stop()``); with ``burst``, until no due job is left.

        First signal: stop claiming, let running jobs finish within ``shutdown_timeout``,
        then hand the rest back to pending. Second signal: hand them back at once.
        """
        self._reset()
        self._run(burst, handle_signals)

    def _run(self, burst: bool, handle_signals: bool) -> None:
        restore = signals.install(self._on_signal) if handle_signals else None
        keeper = self._start()
        try:
            self._loop(burst)
        finally:
            self._drain(keeper)
            if restore is not None:
                restore()

    def start(self) -> None:
        """Run in a background thread (for embedding in a program); see ``stop``."""
        self._reset()  # here, not in the thread: a stop() right after start() must hold
        self._thread = threading.Thread(
            target=self._run, args=(False, False), name="jobqueue-worker"
        )
        self._thread.start()

    def stop(self, *, now: bool = False, timeout: float | None = None) -> None:
        """Ask the worker to stop (gracefully, or ``now``) and wait for ``start``'s thread."""
        if now:
            self._stop_now.set()
        self._stopping.set()
        self._wake.set()
        with self._slots:
            self._slots.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def set_concurrency(self, n: int) -> None:
        """Change how many jobs run at once, while running."""
        if n < 1:
            raise InvalidOption(f"concurrency must be at least 1, not {n}")
        self.concurrency = n
        self._wake.set()

    def _on_signal(self, signum: int) -> None:
        first = not self._stopping.is_set()
        what = "finishing running jobs" if first else "stopping now"
        log.warning("%s: %s", signal.Signals(signum).name, what)
        self.stop(now=not first)

    def _reset(self) -> None:
        self._stopping.clear()
        self._stop_now.clear()
        self._held_until = None

    def _start(self) -> LeaseKeeper:
        pid = os.getpid()  # read at run time: a supervisor's fork changes it
        self.info = WorkerInfo(
            name=self.get_worker_name(), host=hostname(), pid=pid, pid_started=start_ticks(pid)
        )
        backend = self.queue.backend
        self._claimer = Claimer(
            self.jobs,
            self.clock,
            types=self._types,
            accept=self.can_process_job,
            error_backoff=self.error_backoff,
        )
        self._unsubscribe = backend.wakeups.subscribe(self._wake.set)
        keeper = LeaseKeeper(
            backend.jobs, backend.cancels, self.clock, heartbeat_interval=self.heartbeat_interval
        )
        self._keeper = keeper
        self._upkeep = Upkeep(self._chores(keeper), self.queue, self.clock)
        keeper.periodic = self._upkeep.tick
        self._upkeep.start(self.clock.now())
        keeper.start()
        log.info(
            "worker %s started on %s (concurrency %d)",
            self.info.name, self.queue.location, self.concurrency,
        )  # fmt: skip
        return keeper

    def _chores(self, keeper: LeaseKeeper) -> Chores:
        assert self.info is not None
        registration = Registration(
            self.queue.backend.workers,
            self.info,
            keeper,
            self.clock,
            concurrency=lambda: self.concurrency,
            heartbeat_interval=self.heartbeat_interval,
            stale_after=self.stale_after,
            types=tuple(sorted(self._types() or ())),
        )
        return Chores(
            registration=registration,
            stale_after=self.stale_after,
            retention=self._retention,
            with_scheduler=self.with_scheduler,
        )

    def _loop(self, burst: bool) -> None:
        while not self._stopping.is_set():
            free = self._free_slots()
            if free > 0:
                assert self.info is not None
                found = self._claimer.claim(self.info, free)
                if isinstance(found, list):
                    self._launch_all(found)
                    continue
                if burst and not self._active and self._nothing_left(found):
                    return
                if burst and found == "error" and self._claimer.errors >= BURST_ERROR_LIMIT:
                    raise self._claimer.last_error
                self._pause(found)
            self._wait()

    def _free_slots(self) -> int:
        with self._slots:
            return self.concurrency - len(self._active)

    def _types(self) -> frozenset[str] | None:
        return frozenset(self.job_types) if self.job_types else None

    def _nothing_left(self, found: NoJob) -> bool:
        """Burst mode: what is due is refused by can_process_job (it would be for ever),
        or nothing is due, not even a job the last claim missed."""
        return found == "refused" or (found == "none" and not self._due_soon())

    def _pause(self, found: NoJob) -> None:
        """Back off after a store error. After refusals, idle a poll: the file event of
        our own hand-back would end ``_wait`` at once and the worker would spin."""
        if found == "error":
            self._stopping.wait(self.error_backoff)
        elif found == "refused":
            self._stopping.wait(self.poll_interval)

    def _due_soon(self) -> bool:
        """Burst mode: is a job due now that the last claim did not see (e.g. just retried),
        or one a rate limit put off (it was due, so burst waits for its slot)?"""
        at, held = self._next_due(), self._held_until
        return at is not None and (at <= self.clock.now() or (held is not None and at <= held))

    def _hold(self, until: datetime) -> None:
        with self._slots:
            if self._held_until is None or until > self._held_until:
                self._held_until = until

    def _next_due(self) -> datetime | None:
        try:
            return self.jobs.next_due(self._types())
        except StoreError:
            return None  # the next claim says so, once per streak

    def _wait(self) -> None:
        timeout = self.poll_interval
        at = self._next_due() if self._free_slots() > 0 else None
        if at is not None:
            timeout = max(0.0, min(timeout, (at - self.clock.now()).total_seconds()))
        self._wake.wait(timeout)
        self._wake.clear()

    # --- one job -------------------------------------------------------------------------------

    def _launch_all(self, jobs: list[RunningJob]) -> None:
        """Start the jobs of one claim; once the worker is stopping, the ones not started
        yet go back to pending untouched, as if they had never been claimed."""
        for n, job in enumerate(jobs):
            if self._stopping.is_set():
                self._claimer.hand_back(jobs[n:])
                return
            self._launch(job)

    def _launch(self, job: RunningJob) -> None:
        timeout = job.metadata.timeout or self.default_timeout
        deadline = job.started_at + timedelta(seconds=timeout) if timeout else None
        ctx = JobContext(job, deadline=deadline, queue=self.queue, clock=self.clock)
        lease = Lease(self.jobs, job, ctx)
        if timeout:
            ctx.on_cancel(lambda: self._overrun(ctx, timeout))
        with self._slots:
            self._active[job.metadata.id] = lease
        self._keeper.track(lease)
        log.info("job %s (%s) started", job.metadata.id, job.metadata.type)
        self._guard(self.on_job_started, job)
        self._slot_threads.submit(lease)

    def _overrun(self, ctx: JobContext, timeout: float) -> None:
        """A cancel of a job with a timeout (in the canceller's thread): say so now if it is
        the timeout, as under thread isolation the attempt may not end for a long time."""
        if ctx.cancel_kind == "timeout":
            log_overrun(ctx.job, timeout, killable=self.isolation == "process")

    def _work(self, lease: Lease) -> None:
        began = time.monotonic()
        try:
            outcome = self._execute(lease)
            self._record(lease, outcome, time.monotonic() - began)
        except Exception:
            log.exception("job %s: the worker failed to record it", lease.job.metadata.id)
        finally:
            self._keeper.untrack(lease)
            with self._slots:
                self._active.pop(lease.job.metadata.id, None)
                self._slots.notify_all()
            self._wake.set()

    def _execute(self, lease: Lease) -> Outcome:
        """Run the attempt and say how it ended; never raises."""
        ctx = lease.ctx
        try:
            if self.isolation == "process":
                from .isolation import run_in_child

                return run_in_child(self.call, self.queue, lease.job, ctx)
            result = self.call(lease.job, ctx, self._async)
        except BaseException as exc:
            return outcome_of_error(exc, ctx)
        return outcome_of_result(result, ctx)

    def call(self, job: RunningJob, ctx: JobContext, runner: AsyncRunner) -> Any:
        """execute_job inside the middleware chain (an async job already awaited)."""
        final = lambda: call_job(self.execute_job, (job, ctx), ctx, runner)  # noqa: E731
        return run_chain(self.middleware, job, ctx, final)

    def _record(self, lease: Lease, outcome: Outcome, took: float) -> None:
        now = self.clock.now()
        if isinstance(outcome, Cancelled):
            self._guard(self.on_cleanup, lease.job, lease.ctx)
        elif isinstance(outcome, Deferred):
            self._hold(outcome.until)
        policy = self.retry_policy_for(lease.job)
        make = lambda job: end_state(job, outcome, now, policy, self.rng)  # noqa: E731
        new = self._finish(lease, make, now)
        if new is None:
            log.warning(
                "job %s: dropped its outcome, the job changed under us", lease.job.metadata.id
            )
            return
        log_end(lease.job, new, outcome, took, now)
        self._tell(new, outcome)

    def _tell(self, new: Job, outcome: Outcome) -> None:
        """Call the hook that tells of how the attempt ended."""
        match new:
            case CompleteJob():
                self._guard(self.on_job_completed, new)
            case FailedJob():
                self._guard(self.on_job_failed, new)
            case CancelledJob():
                self._guard(self.on_job_cancelled, new)
            case PendingJob() if isinstance(outcome, Failed):
                error = outcome.exception or RuntimeError(outcome.error.message)
                self._guard(self.on_job_retrying, new, error)

    def _finish(self, lease: Lease, make: Callable[[RunningJob], Job], now: datetime) -> Job | None:
        """``lease.finish``, retried after a store error: giving up would strand the job in
        running/, owned by a live process that the reaper must leave alone."""
        while True:
            try:
                return lease.finish(make, now)
            except StoreError as e:
                job_id, pause = lease.job.metadata.id, self.error_backoff
                shown = format_duration(pause)
                log.error("job %s: cannot record its end, retrying in %s: %s", job_id, shown, e)
                if self._stop_now.wait(pause):
                    return None  # exiting: the reaper returns the job once we are gone

    def _guard(self, hook: Callable[..., None], *args: Any) -> None:
        """Hooks are the user's code: an exception is logged, never fatal."""
        try:
            hook(*args)
        except Exception:
            log.exception("hook %s raised", hook.__name__)

    # --- shutdown ----------------------------------------------------------------------------

    def _drain(self, keeper: LeaseKeeper) -> None:
        """Never leave a job in running/ owned by a process that exits cleanly."""
        self._stopping.set()
        self._wait_active(self.shutdown_timeout)
        if self._active:
            for lease in self._leases():
                lease.ctx.cancel("worker shutting down", "shutdown")
            self._wait_active(_FORCE_RELEASE_GRACE)
        for lease in self._leases():
            self._hand_back_on_exit(lease)
        keeper.stop()
        self._flush()  # the ends this worker wrote are durable before it leaves the registry
        self._upkeep.stop()  # after the keeper: no beat may write the registry back
        self._unsubscribe()
        self._async.close()
        self._slot_threads.close()
        log.info("worker %s stopped", self.info.name if self.info else "")

    def _hand_back_on_exit(self, lease: Lease) -> None:
        try:
            if lease.finish(transitions.release, self.clock.now()) is not None:
                log.warning("job %s handed back to pending", lease.job.metadata.id)
        except StoreError as e:  # the reaper returns it once this process is gone
            log.error("job %s: could not hand it back: %s", lease.job.metadata.id, e)

    def _flush(self) -> None:
        try:
            self.jobs.flush()
        except StoreError as e:
            log.error("could not make the last ends durable: %s", e)

    def _leases(self) -> list[Lease]:
        with self._slots:
            return list(self._active.values())

    def _wait_active(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._slots:
            while self._active and not self._stop_now.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._slots.wait(min(left, 0.1))
