"""Waiting on the event log: ``queue.wait`` and the async event stream.

Both need to follow the log from a thread that can stop, and ``EventLog.follow`` can only
stop when it has been idle for its ``idle_timeout``. ``slices`` follows in idle slices
and loses nothing between two of them (see its docstring). ``EndWatch`` is one thread per
queue that wakes every waiter of the queue when its job ends, so a thousand ``wait``
calls (or ``await aq.wait``) cost one thread, not a thousand.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from queue import Empty, SimpleQueue

from .backend import EventLog
from .errors import JobNotFound, StoreError
from .events import JobEvent
from .job import CancelledJob, CompleteJob, FailedJob, Job

log = logging.getLogger(__name__)

#: Seconds without an event after which a follower checks whether it should stop.
SLICE = 1.0
#: How often (seconds) the standby follow of ``slices`` is renewed while events flow.
_RENEW = 0.2
#: The events that end a job: what ``wait`` returns on.
ENDING = frozenset({"completed", "failed", "cancelled"})


def slices(
    log: EventLog, since: datetime | None = None, *, idle: float = SLICE
) -> Iterator[JobEvent | None]:
    """Follow ``log`` like ``log.follow(since)``, from this call on, yielding None after
    each ``idle`` seconds without an event, so that the reader can stop (or check
    something) there.

    One follow ends when it has been idle; the next one would start only after that and
    miss what came in between. So a *standby* follow is always positioned ahead of time
    (renewed every ``_RENEW`` seconds while events flow; positioning one is cheap, it
    reads nothing) and takes over when the current one ends. What the standby repeats,
    the events yielded since it was positioned, is skipped: it yields them first, in
    log order, before anything new."""
    current = log.follow(since, idle_timeout=idle)
    return _slices(log, current, log.follow(None, idle_timeout=idle), idle)


def _slices(
    log: EventLog, current: Iterator[JobEvent], standby: Iterator[JobEvent], idle: float
) -> Iterator[JobEvent | None]:
    while True:
        renewed, seen = time.monotonic(), list[JobEvent]()
        for event in current:
            yield event
            if time.monotonic() - renewed >= _RENEW:
                standby, renewed, seen = log.follow(None, idle_timeout=idle), time.monotonic(), []
            else:
                seen.append(event)
        yield None
        current = _skipping(standby, seen)
        standby = log.follow(None, idle_timeout=idle)


def _skipping(events: Iterator[JobEvent], repeated: list[JobEvent]) -> Iterator[JobEvent]:
    """``events`` without its first events that are in ``repeated`` (already yielded)."""
    for event in events:
        if repeated and event in repeated:
            repeated.remove(event)
            continue
        repeated.clear()  # past the overlap: a later equal event is a new one
        yield event


Deliver = Callable[[Job | None], None]
Ended = CompleteJob | FailedJob | CancelledJob


class EndWatch:
    """Calls back the waiters of a job when it ends (with the ended job), or with None when
    it no longer exists. One thread follows the log while anyone waits, and stops soon
    after the last waiter leaves. At each idle slice it also reads every waited job: an
    event is a record, not the truth (the file log may fail to append one), and a job
    that is deleted has no event at all."""

    def __init__(self, events: EventLog, get_job: Callable[[str], Job | None]) -> None:
        self.events = events
        self._get_job = get_job
        self._lock = threading.Lock()
        self._waiters: dict[str, dict[object, Deliver]] = {}
        self._running = False
        self._pid = os.getpid()

    def subscribe(self, job_id: str, deliver: Deliver) -> Callable[[], None]:
        """Call ``deliver`` once ``job_id`` ends; returns the function that unsubscribes.
        The log is followed from before this returns, so a caller that reads the job
        next misses nothing: it sees the end, or is called back with it."""
        token = object()
        with self._lock:
            if self._pid != os.getpid():  # forked: the thread stayed in the parent
                self._pid, self._running, self._waiters = os.getpid(), False, {}
            self._waiters.setdefault(job_id, {})[token] = deliver
            if not self._running:
                try:
                    self._start()
                except BaseException:
                    self._drop(job_id, token)
                    raise
        return lambda: self._unsubscribe(job_id, token)

    def wait(self, job_id: str, seconds: float | None, read: Callable[[str], Job | None]) -> Ended:
        """``job_id`` once it has ended (``read`` reads it), at once if it has; TimeoutError
        after ``seconds`` (None: no limit); JobNotFound if it is not there, or goes."""
        deadline = None if seconds is None else time.monotonic() + seconds
        ends: SimpleQueue[Job | None] = SimpleQueue()
        unsubscribe = self.subscribe(job_id, ends.put)
        try:  # following first: an end between this read and the wait is still seen
            job = read(job_id)
            while not isinstance(job, CompleteJob | FailedJob | CancelledJob):
                if job is None:
                    raise JobNotFound(job_id)
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    job = ends.get(timeout=left)
                except Empty:
                    raise TimeoutError(f"job {job_id!r} did not end within {seconds:g}s") from None
            return job
        finally:
            unsubscribe()

    def _start(self) -> None:
        """Position the follow here, under the lock, then serve it from a thread."""
        followed = slices(self.events)
        self._running = True
        thread = threading.Thread(target=self._serve, args=(followed,), daemon=True)
        thread.name = "jobqueue-wait"
        thread.start()

    def _unsubscribe(self, job_id: str, token: object) -> None:
        with self._lock:
            self._drop(job_id, token)

    def _drop(self, job_id: str, token: object) -> None:
        waiters = self._waiters.get(job_id)
        if waiters is not None:
            waiters.pop(token, None)
            if not waiters:
                del self._waiters[job_id]

    def _serve(self, followed: Iterator[JobEvent | None]) -> None:
        try:
            for event in followed:
                if event is None:
                    if not self._idle():
                        return
                elif event.event in ENDING:
                    self._deliver(event.job_id, event.job)
        except StoreError as e:
            log.warning("stopped following the event log: %s", e)
            with self._lock:
                self._running = False
            self._recheck()  # the waiters learn of ends that happened; the rest time out

    def _idle(self) -> bool:
        """At an idle slice: stop if nobody waits (False), else read the waited jobs."""
        with self._lock:
            if not self._waiters:
                self._running = False
                return False
        self._recheck()
        return True

    def _recheck(self) -> None:
        with self._lock:
            ids = list(self._waiters)
        for job_id in ids:
            try:
                job = self._get_job(job_id)
            except Exception as e:  # a store or decode error: the next slice tries again
                log.debug("could not read %s: %s", job_id, e)
                continue
            if job is None or job.status in ("complete", "failed", "cancelled"):
                self._deliver(job_id, job)

    def _deliver(self, job_id: str, job: Job | None) -> None:
        with self._lock:
            waiters = list(self._waiters.get(job_id, {}).values())
        for deliver in waiters:
            try:
                deliver(job)
            except Exception:
                log.exception("a waiter of %s failed", job_id)
