"""HandlerWorker: serve plain functions ``fn(params, ctx)``, one per job type: those
registered on the worker, and the tasks defined on its queue (``@queue.task``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PermanentError
from ..ids import check_type
from ..job import PendingJob, RunningJob
from ..queue import JobQueue
from ..retry import RetryPolicy
from ..tasks import Task
from .base import JobWorker
from .context import JobContext
from .middleware import Middleware, run_chain
from .runner import AsyncRunner, call_job

Handler = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class _Registered:
    fn: Handler
    #: Call ``fn(*params)`` / ``fn(**params)`` instead of ``fn(params, ctx)``.
    spread: bool
    wants_ctx: bool
    #: A task's own middleware, inside the worker's.
    middleware: tuple[Middleware, ...] = ()
    #: A task's own retry policy (None: the worker's).
    retry_policy: RetryPolicy | None = None

    @classmethod
    def of_task(cls, task: Task[..., Any]) -> _Registered:
        return cls(task.fn, task.spread, task.wants_ctx, task.middleware, task.retry_policy)


class HandlerWorker(JobWorker):
    """A worker whose job types are the handlers registered on it (sync or async) and the
    tasks of its queue, looked up when it starts (so tasks defined after the worker was
    made are served too). A handler registered on the worker wins over a task of the
    same type."""

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
        return self._registered(job.metadata.type) is not None

    def _registered(self, job_type: str) -> _Registered | None:
        found = self._handlers.get(job_type)
        if found is None and job_type in self.queue.tasks:
            return _Registered.of_task(self.queue.tasks[job_type])
        return found

    def _types(self) -> frozenset[str] | None:
        return frozenset(self._handlers) | {task.type for task in self.queue.tasks}

    def retry_policy_for(self, job: RunningJob) -> RetryPolicy:
        """The task's own retry policy, if its task has one."""
        registered = self._registered(job.metadata.type)
        if registered is not None and registered.retry_policy is not None:
            return registered.retry_policy
        return super().retry_policy_for(job)

    def call(self, job: RunningJob, ctx: JobContext, runner: AsyncRunner) -> Any:
        """As ``JobWorker.call``, with the task's own middleware inside the worker's."""
        registered = self._registered(job.metadata.type)
        if registered is None or not registered.middleware:
            return super().call(job, ctx, runner)
        final = lambda: call_job(self.execute_job, (job, ctx), ctx, runner)  # noqa: E731
        return run_chain([*self.middleware, *registered.middleware], job, ctx, final)

    def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
        """Call the type's handler; a type with none fails at once (PermanentError)."""
        registered = self._registered(job.metadata.type)
        if registered is None:
            raise PermanentError(f"no handler for job type {job.metadata.type!r}")
        if not registered.spread:
            return registered.fn(job.params, ctx)
        extra = {"ctx": ctx} if registered.wants_ctx else {}
        if isinstance(job.params, Mapping):
            return registered.fn(**job.params, **extra)
        return registered.fn(*job.params, **extra)
