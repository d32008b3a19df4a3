"""Running one attempt's code: in the slot's thread, on the worker's event loop, or in a
child process that can be killed (``isolation="process"``); and the slot threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import queue
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from ..errors import JobCancelled
from .context import JobContext

T = TypeVar("T")


class SlotThreads(Generic[T]):
    """Threads that run ``work(item)``, kept between items: handing an item to an idle
    thread is one wake-up, where starting a thread cost an idle worker 0.2 ms between the
    claim and the job's start. A thread is started only when none is idle, so there are
    never more than the items running at once (twice that, at worst, when items are
    submitted the moment others end)."""

    def __init__(self, work: Callable[[T], None], name: str) -> None:
        self._work = work
        self._name = name
        self._items: queue.SimpleQueue[T | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._started = 0

    def submit(self, item: T) -> None:
        """Run ``work(item)`` now, in an idle thread or a new one; the caller bounds how many."""
        with self._lock:
            start = self._idle == 0
            if start:
                self._started += 1
            else:
                self._idle -= 1
        self._items.put(item)
        if start:
            name = f"{self._name}-{self._started}"
            threading.Thread(target=self._serve, name=name, daemon=True).start()

    def close(self) -> None:
        """Let the idle threads end (a busy one ends after its item)."""
        with self._lock:
            for _ in range(self._started):
                self._items.put(None)
            self._started = self._idle = 0

    def _serve(self) -> None:
        while (item := self._items.get()) is not None:
            self._work(item)
            with self._lock:
                self._idle += 1


class AsyncRunner:
    """One event loop, in its own thread, shared by every ``async`` job of a worker."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="jobqueue-asyncio", daemon=True
                )
                thread.start()
                self._loop = loop
            return self._loop

    def run(self, coro: Coroutine[Any, Any, Any], ctx: JobContext) -> Any:
        """Run ``coro`` as a task on the loop; a cancel of ``ctx`` cancels the task."""
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        ctx.on_cancel(lambda: _cancel(future))
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            raise JobCancelled(ctx.cancel_reason) from None

    def close(self) -> None:
        """Stop the loop without waiting; a later ``run`` starts a new one."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)


def _cancel(future: concurrent.futures.Future[Any]) -> None:
    future.cancel()


def call_job(
    fn: Callable[..., Any], args: tuple[Any, ...], ctx: JobContext, runner: AsyncRunner
) -> Any:
    """Call a sync or async job function; an ``async def`` runs on the shared loop."""
    result = fn(*args)
    if inspect.iscoroutine(result):
        return runner.run(result, ctx)
    return result
