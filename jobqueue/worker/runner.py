"""Running one attempt's code: in the slot's thread, on the worker's event loop, or in a
child process that can be killed (``isolation="process"``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from ..errors import JobCancelled
from .context import JobContext


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
