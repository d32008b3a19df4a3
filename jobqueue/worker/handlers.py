"""HandlerWorker: serve plain functions ``fn(params, ctx)``, one per job type."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PermanentError
from ..ids import check_type
from ..job import PendingJob, RunningJob
from ..queue import JobQueue
from .base import JobWorker
from .context import JobContext

Handler = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class _Registered:
    fn: Handler
    #: Call ``fn(*params)`` / ``fn(**params)`` instead of ``fn(params, ctx)``.
    spread: bool
    wants_ctx: bool


class HandlerWorker(JobWorker):
    """A worker whose job types are the handlers registered on it (sync or async)."""

    def __init__(self, queue: JobQueue, **options: Any) -> None:
        super().__init__(queue, **options)
        self._handlers: dict[str, _Registered] = {}

    def handler(self, job_type: str, *, spread: bool = False) -> Callable[[Handler], Handler]:
        """Decorator form of ``register_handler``."""

        def register(fn: Handler) -> Handler:
            self.register_handler(job_type, fn, spread=spread)
            return fn

        return register

    def register_handler(self, job_type: str, fn: Handler, *, spread: bool = False) -> None:
        """Serve ``job_type`` with ``fn(params, ctx)``; with ``spread``, a list of params is
        passed as positional arguments and an object as keywords (plus ``ctx=`` if ``fn``
        has a ``ctx`` parameter)."""
        wants_ctx = "ctx" in inspect.signature(fn).parameters
        self._handlers[check_type(job_type)] = _Registered(fn, spread, wants_ctx)
        self._wake.set()

    def can_process_job(self, job: PendingJob | RunningJob) -> bool:
        """Only registered types: ``job_types`` is ignored, and no handler means no claim."""
        return job.metadata.type in self._handlers

    def _types(self) -> frozenset[str] | None:
        return frozenset(self._handlers)

    def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
        """Call the type's handler; a type with none fails at once (PermanentError)."""
        registered = self._handlers.get(job.metadata.type)
        if registered is None:
            raise PermanentError(f"no handler for job type {job.metadata.type!r}")
        if not registered.spread:
            return registered.fn(job.params, ctx)
        extra = {"ctx": ctx} if registered.wants_ctx else {}
        if isinstance(job.params, Mapping):
            return registered.fn(**job.params, **extra)
        return registered.fn(*job.params, **extra)
