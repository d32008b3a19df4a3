"""AsyncJobQueue: JobQueue for asyncio code, never blocking the event loop.

Each method runs the JobQueue call in a small thread pool the instance owns (a file
store's ``enqueue`` fsyncs: called straight from ``async def``, it stalled a web app's
loop for every request). The pool bounds how many calls run at once, and keeps
jobqueue's I/O out of the loop's default executor. Two calls are not a thread each:
``wait`` is woken by the queue's one ``EndWatch`` thread, however many coroutines wait,
and ``events()`` follows the log from one thread per stream, which ends soon after the
stream is closed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from random import Random
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypedDict, TypeVar, Unpack, overload

from .backend import Backend, EventLog
from .clock import Clock
from .durations import to_timedelta
from .errors import InvalidJob, JobNotFound
from .events import JobEvent
from .ids import IdFactory, check_id
from .job import CancelledJob, CompleteJob, FailedJob, Job, PendingJob, RunningJob
from .queue import JobQueue
from .tasks import EnqueueOverrides, Task, TaskOptions
from .waiting import SLICE, slices

log = logging.getLogger(__name__)

P = ParamSpec("P")
Q = ParamSpec("Q")
R = TypeVar("R")
T = TypeVar("T")

Ended = CompleteJob | FailedJob | CancelledJob


class QueueOptions(TypedDict, total=False):
    """``JobQueue``'s keyword arguments, which ``AsyncJobQueue`` passes on."""

    durable: bool | None
    create: bool
    clock: Clock | None
    new_id: IdFactory | None
    rng: Random | None
    max_params_bytes: int


class _InThread(Generic[P, R]):
    """A JobQueue method as a coroutine method of AsyncJobQueue, run in its pool."""

    def __init__(self, method: Callable[Concatenate[JobQueue, P], R]) -> None:
        self.method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _InThread[P, R]: ...

    @overload
    def __get__(
        self, obj: AsyncJobQueue, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    def __get__(
        self, obj: AsyncJobQueue | None, owner: type[Any]
    ) -> _InThread[P, R] | Callable[P, Coroutine[Any, Any, R]]:
        if obj is None:
            return self
        method, queue = self.method, obj.queue

        @functools.wraps(method)
        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return await obj.run(method, queue, *args, **kwargs)

        return call


class AsyncJobQueue:
    """Every JobQueue method as a coroutine: ``await aq.enqueue(...)``. Takes JobQueue's
    arguments, or an open JobQueue to wrap (``aq.queue`` is the JobQueue either way:
    give it to a worker). ``threads`` bounds the calls that run at once."""

    def __init__(
        self,
        store: str | Path | Backend | JobQueue = "data",
        *,
        threads: int = 8,
        **options: Unpack[QueueOptions],
    ) -> None:
        if isinstance(store, JobQueue):
            if options:
                raise InvalidJob("give JobQueue options to the JobQueue you wrap, not here")
            self.queue = store
        else:
            self.queue = JobQueue(store, **options)
        if threads < 1:
            raise InvalidJob(f"threads must be at least 1, not {threads}")
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, "jobqueue-async")

    def __repr__(self) -> str:
        return f"AsyncJobQueue({self.queue.location!r})"

    @property
    def location(self) -> str:
        """Where the jobs are (as ``JobQueue.location``)."""
        return self.queue.location

    async def run(self, fn: Callable[Q, T], /, *args: Q.args, **kwargs: Q.kwargs) -> T:
        """Run any blocking call in this queue's pool (with the caller's context vars)."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def close(self) -> None:
        """Close the JobQueue (flushing what it deferred), then the pool."""
        await self.run(self.queue.close)
        self._pool.shutdown(wait=False)

    async def __aenter__(self) -> AsyncJobQueue:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # One line each: the JobQueue method, its signature and docstring, as a coroutine.
    enqueue = _InThread(JobQueue.enqueue)
    enqueue_many = _InThread(JobQueue.enqueue_many)
    get_job = _InThread(JobQueue.get_job)
    query_jobs = _InThread(JobQueue.query_jobs)
    query_page = _InThread(JobQueue.query_page)
    stats = _InThread(JobQueue.stats)
    cancel = _InThread(JobQueue.cancel)
    retry = _InThread(JobQueue.retry)
    delete = _InThread(JobQueue.delete)
    cleanup = _InThread(JobQueue.cleanup)
    cleanup_candidates = _InThread(JobQueue.cleanup_candidates)
    remove_jobs = _InThread(JobQueue.remove_jobs)
    reap = _InThread(JobQueue.reap)
    metrics = _InThread(JobQueue.metrics)
    workers = _InThread(JobQueue.workers)
    health = _InThread(JobQueue.health)
    schedule = _InThread(JobQueue.schedule)
    unschedule = _InThread(JobQueue.unschedule)
    pause = _InThread(JobQueue.pause)
    resume = _InThread(JobQueue.resume)
    get_schedules = _InThread(JobQueue.get_schedules)
    next_run_time = _InThread(JobQueue.next_run_time)

    async def wait(self, id: str, timeout: float | timedelta | None = None) -> Ended:
        """As ``JobQueue.wait``, holding no thread while it waits: the queue's one
        EndWatch thread resolves every waiting coroutine."""
        seconds = None if timeout is None else to_timedelta(timeout, "timeout").total_seconds()
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[Job | None] = loop.create_future()

        def deliver(job: Job | None) -> None:  # in the EndWatch thread
            _call_soon(loop, _settle, ended, job)

        unsubscribe = await self._subscribe(check_id(id), deliver)
        try:  # following first: an end between this read and the wait is still seen
            job = await self.run(self.queue.get_job, id)
            if not isinstance(job, CompleteJob | FailedJob | CancelledJob) and job is not None:
                try:
                    job = await asyncio.wait_for(ended, seconds)
                except TimeoutError:
                    raise TimeoutError(f"job {id!r} did not end within {seconds:g}s") from None
            if job is None:
                raise JobNotFound(id)
            assert isinstance(job, CompleteJob | FailedJob | CancelledJob)  # see _settle
            return job
        finally:
            unsubscribe()

    async def _subscribe(
        self, job_id: str, deliver: Callable[[Job | None], None]
    ) -> Callable[[], None]:
        """``EndWatch.subscribe`` in the pool (it may start following the log); if we are
        cancelled meanwhile, the subscription it makes is undone when it is made."""
        subscribing = asyncio.ensure_future(
            self.run(self.queue._end_watch().subscribe, job_id, deliver)
        )
        try:
            return await asyncio.shield(subscribing)
        except asyncio.CancelledError:
            subscribing.add_done_callback(_undo_subscription)
            raise

    def events(
        self, since: datetime | None = None, *, idle_timeout: float | None = None
    ) -> EventStream:
        """``async for event in aq.events(since=...)``: JobEvents as any process records
        them (as ``JobQueue.events``). ``async with aq.events() as stream`` follows from
        the moment the block is entered; a plain ``async for`` from its first step. The
        stream ends after ``idle_timeout`` seconds without an event, or when closed."""
        return EventStream(self.queue, since, idle_timeout)

    @overload
    def task(self, fn: Callable[P, R], /) -> AsyncTask[P, R]: ...

    @overload
    def task(
        self, fn: None = None, /, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[P, R]], AsyncTask[P, R]]: ...

    def task(
        self, fn: Callable[P, R] | None = None, /, **options: Unpack[TaskOptions]
    ) -> AsyncTask[P, R] | Callable[[Callable[P, R]], AsyncTask[P, R]]:
        """As ``JobQueue.task``, defined on ``aq.queue``; its ``enqueue`` is awaited."""

        def define(fn: Callable[P, R]) -> AsyncTask[P, R]:
            return AsyncTask(self.queue.task(**options)(fn), self)

        return define if fn is None else define(fn)


def _undo_subscription(subscribing: asyncio.Future[Callable[[], None]]) -> None:
    if not subscribing.cancelled() and subscribing.exception() is None:
        subscribing.result()()


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., object], *args: Any) -> None:
    """From another thread; nothing to do once the loop is closed (nobody awaits)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


def _settle(future: asyncio.Future[Job | None], job: Job | None) -> None:
    """Only an ended job or None (gone) is ever delivered; the first one wins."""
    if not future.done():
        future.set_result(job)


class AsyncTask(Generic[P, R]):
    """A task (``jobqueue.tasks.Task``) whose ``enqueue`` is a coroutine."""

    def __init__(self, task: Task[P, R], queue: AsyncJobQueue) -> None:
        self.task = task
        self.type = task.type
        self._queue = queue
        self.__doc__ = task.__doc__

    def __repr__(self) -> str:
        return f"<AsyncTask {self.type}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the handler here and now, as a plain function (no job is made)."""
        return self.task(*args, **kwargs)

    async def enqueue(
        self, params: Any = None, **overrides: Unpack[EnqueueOverrides]
    ) -> PendingJob | RunningJob:
        """As ``Task.enqueue``, in the queue's pool."""
        return await self._queue.run(functools.partial(self.task.enqueue, params, **overrides))

    async def enqueue_many(
        self, params_list: Iterable[Any], **overrides: Unpack[EnqueueOverrides]
    ) -> list[PendingJob | RunningJob]:
        """As ``Task.enqueue_many``, in the queue's pool."""
        call = functools.partial(self.task.enqueue_many, list(params_list), **overrides)
        return await self._queue.run(call)


#: How many events a stream holds for a slow reader before its thread waits.
STREAM_BUFFER = 1000
_PUT_CHECK = 0.25  # seconds between a waiting thread's checks for a close


class EventStream(AsyncIterator[JobEvent]):
    """The events of one ``aq.events()`` call. A thread follows the log and hands each
    event to the loop (waiting when ``STREAM_BUFFER`` are unread); ``aclose()``, the end
    of the loop, or the stream being dropped stops it at its next event or idle second.
    Not shared between event loops."""

    def __init__(self, queue: JobQueue, since: datetime | None, idle_timeout: float | None) -> None:
        self._queue = queue
        self._since = since
        self._idle_timeout = idle_timeout
        self._feed: _Feed | None = None
        self._closed = threading.Event()
        # The thread holds the feed, never the stream: a stream dropped unclosed (a
        # `break` out of `async for`) is collected, and that stops its thread.
        weakref.finalize(self, self._closed.set)

    async def __aenter__(self) -> EventStream:
        await self._start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> JobEvent:
        if self._closed.is_set():
            raise StopAsyncIteration
        feed = await self._start()
        try:
            item = await asyncio.wait_for(feed.items.get(), self._idle_timeout)
        except TimeoutError:
            await self.aclose()
            raise StopAsyncIteration from None
        if isinstance(item, BaseException):
            await self.aclose()
            raise item
        return item

    async def aclose(self) -> None:
        """Stop following; the thread ends within about a second."""
        self._closed.set()

    async def _start(self) -> _Feed:
        """Start the thread once; return when it follows the log (or could not)."""
        if self._feed is None:
            self._feed = _Feed(asyncio.get_running_loop(), self._closed)
            thread = threading.Thread(
                target=self._feed.follow, args=(self._queue.backend.events, self._since)
            )
            thread.daemon, thread.name = True, "jobqueue-events"
            thread.start()
        await asyncio.shield(self._feed.ready)
        return self._feed


class _Feed:
    """The thread's side of an EventStream: it fills ``items`` from the event log."""

    def __init__(self, loop: asyncio.AbstractEventLoop, closed: threading.Event) -> None:
        self.loop = loop
        self.closed = closed
        self.items: asyncio.Queue[JobEvent | BaseException] = asyncio.Queue(STREAM_BUFFER)
        #: Set once the log is followed (or could not be): what ``async with`` waits for.
        self.ready: asyncio.Future[None] = loop.create_future()

    def follow(self, log: EventLog, since: datetime | None) -> None:
        """The thread: follow ``log`` until the stream is closed or the loop is gone."""
        try:
            followed = slices(log, since, idle=SLICE)
        except Exception as e:  # a StoreError: the reader gets it
            self.hand(e)
            return
        finally:
            _call_soon(self.loop, _settle_ready, self.ready)
        try:
            for event in followed:
                if self.stopped() or (event is not None and not self.hand(event)):
                    return
        except Exception as e:
            self.hand(e)

    def stopped(self) -> bool:
        return self.closed.is_set() or self.loop.is_closed()

    def hand(self, item: JobEvent | BaseException) -> bool:
        """Put ``item`` in the loop's queue, waiting while it is full; False once the
        stream is closed or its loop is gone."""
        try:
            put = asyncio.run_coroutine_threadsafe(self.items.put(item), self.loop)
        except RuntimeError:  # the loop is closed
            return False
        while True:
            try:
                put.result(_PUT_CHECK)
                return True
            except concurrent.futures.TimeoutError:
                if self.stopped():
                    put.cancel()
                    return False
            except concurrent.futures.CancelledError:
                return False


def _settle_ready(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)
