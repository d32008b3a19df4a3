"""JobContext: what a running job sees of its worker (progress and cancellation)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypeVar

from ..errors import InvalidJob, JobCancelled
from ..job import Metadata, Params, Progress, RunningJob

if TYPE_CHECKING:
    from ..clock import Clock
    from ..queue import JobQueue

T = TypeVar("T")

#: Why a context was cancelled: asked by a user, the job's timeout, worker shutdown,
#: or the job was taken from us (reaped or changed by someone else).
CancelKind = Literal["user", "timeout", "shutdown", "lost"]


class JobContext:
    """Handed to ``execute_job``. Thread-safe: the worker's lease keeper reads what the
    handler writes, and cancels from its own thread."""

    def __init__(
        self,
        job: RunningJob,
        *,
        deadline: datetime | None = None,
        queue: JobQueue | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.job = job
        self.deadline = deadline
        #: The worker's queue: enqueue follow-up jobs from a handler with ``ctx.queue``.
        self.queue = queue
        #: The worker's clock (it may differ from the queue's); see ``now``.
        self.clock = clock
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._cancel_reason: str | None = None
        self._cancel_kind: CancelKind | None = None
        self._progress: Progress | None = job.progress
        self._progress_dirty = False
        self._on_cancel: list[Callable[[], None]] = []

    @property
    def job_id(self) -> str:
        """Shorthand for ``ctx.job.metadata.id`` (handy in log lines)."""
        return self.job.metadata.id

    @property
    def metadata(self) -> Metadata:
        """The metadata as claimed: ``retry_count`` tells which retry this attempt is."""
        return self.job.metadata

    @property
    def params(self) -> Params:
        """The job's params as plain JSON values; treat them as read-only."""
        return self.job.params

    # --- for handlers ----------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        """True once a cancel was asked for (or the timeout passed, or the worker stops)."""
        return self._cancelled.is_set()

    @property
    def cancel_reason(self) -> str | None:
        """Why it was cancelled; None before a cancel, and for a cancel given no reason."""
        return self._cancel_reason

    def raise_if_cancelled(self) -> None:
        """Call at safe points in long work: raises JobCancelled once a cancel was asked for."""
        if self._cancelled.is_set():
            raise JobCancelled(self._cancel_reason)

    def report_progress(
        self, percentage: float, stage: str | None = None, message: str | None = None
    ) -> None:
        """Record progress; written to the job file within a second, coalesced, so calling
        it in a tight loop is cheap. Raises JobCancelled once a cancel was asked for."""
        self.raise_if_cancelled()
        progress = _checked_progress(percentage, stage, message)
        with self._lock:
            self._progress = progress
            self._progress_dirty = True

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on cancel; True if cancelled."""
        return self._cancelled.wait(seconds)

    def now(self) -> float:
        """The worker clock's time, in seconds since the epoch (for middleware)."""
        return (self.clock or self._queue().clock).now().timestamp()

    def shared_state(self, name: str, fn: Callable[[bytes | None], tuple[bytes, T]]) -> T:
        """Atomic read-modify-write of state shared by every worker process (middleware)."""
        return self._queue().backend.shared.update(name, fn)

    def _queue(self) -> JobQueue:
        if self.queue is None:
            raise InvalidJob("this context has no queue (it was not made by a worker)")
        return self.queue

    # --- for the worker ----------------------------------------------------------------------

    @property
    def cancel_kind(self) -> CancelKind | None:
        """Who cancelled (see ``CancelKind``): it decides cancelled, failed or handed back."""
        return self._cancel_kind

    def cancel(self, reason: str | None, kind: CancelKind) -> None:
        """Ask the handler to stop; the first reason wins."""
        with self._lock:
            if self._cancelled.is_set():
                return
            self._cancel_reason, self._cancel_kind = reason, kind
            self._cancelled.set()
            callbacks = list(self._on_cancel)
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the context is cancelled (at once if it already is)."""
        with self._lock:
            if not self._cancelled.is_set():
                self._on_cancel.append(callback)
                return
        callback()

    def take_progress(self) -> Progress | None:
        """The progress reported since the last call, or None if nothing new."""
        with self._lock:
            if not self._progress_dirty:
                return None
            self._progress_dirty = False
            return self._progress

    def put_progress(self, progress: Progress) -> None:
        """Progress that arrived from elsewhere (a child process under process isolation)."""
        with self._lock:
            self._progress, self._progress_dirty = progress, True


def _checked_progress(percentage: float, stage: str | None, message: str | None) -> Progress:
    if isinstance(percentage, bool) or not isinstance(percentage, int | float):
        raise InvalidJob(f"progress percentage must be a number, not {type(percentage).__name__}")
    if not math.isfinite(percentage) or not 0 <= percentage <= 100:
        raise InvalidJob(f"progress percentage must be between 0 and 100, not {percentage}")
    for what, value in (("stage", stage), ("message", message)):
        if value is not None and not isinstance(value, str):
            raise InvalidJob(f"progress {what} must be a string, not {type(value).__name__}")
    return Progress(percentage=float(percentage), stage=stage, message=message)
