"""Tasks: a job type defined once, with its handler and its default options.

``@queue.task(max_retries=5)`` turns a handler ``fn(params, ctx)`` into a ``Task``: it
enqueues with ``send_email.enqueue(params)``, its options being defaults that each call
may override, and a ``HandlerWorker(queue)`` serves it. The type name is written once,
so a typo is an ``AttributeError`` where it is made (``queue.tasks.send_emial``), not a
job that waits forever for a worker that does not exist.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Protocol, TypedDict, TypeVar, Unpack

from .errors import InvalidJob
from .ids import check_type
from .job import PendingJob, RunningJob
from .options import EnqueueOptions

if TYPE_CHECKING:  # imported where a task is defined: an enqueue never needs it
    from .retry import RetryPolicy

P = ParamSpec("P")
R = TypeVar("R")
#: ``fn(job, ctx, call_next)``, as ``jobqueue.worker.Middleware`` (not imported: the
#: worker package imports the queue, which imports this module).
Middleware = Callable[..., Any]


class EnqueueOverrides(TypedDict, total=False):
    """What one ``enqueue`` call may set or override (as ``JobQueue.enqueue``)."""

    delay: float | timedelta | None
    run_at: datetime | None
    priority: int
    max_retries: int
    timeout: float | timedelta | None
    unique_key: str | None
    user_id: str | None


class TaskOptions(TypedDict, total=False):
    """What ``@queue.task(...)`` takes: the job type (default: the function's name),
    enqueue defaults, and how the worker calls the handler."""

    type: str
    priority: int
    max_retries: int
    timeout: float | timedelta | None
    delay: float | timedelta | None
    #: Wrapped around this task's handler, inside the worker's own middleware.
    middleware: Sequence[Middleware]
    #: How long this task's failed attempts wait before a retry (default: the worker's).
    retry_policy: RetryPolicy
    #: Call ``fn(**params)`` (or ``fn(*params)``) instead of ``fn(params, ctx)``.
    spread: bool


class Enqueuer(Protocol):
    """What a task needs of its queue (a JobQueue, without importing it)."""

    def enqueue_many(
        self, type: str, params_list: Iterable[Any], **options: Any
    ) -> list[PendingJob | RunningJob]:
        """As ``JobQueue.enqueue_many``."""
        ...


_DEFAULTS = ("priority", "max_retries", "timeout", "delay")


class Task(Generic[P, R]):
    """A job type with its handler and default options; calling it calls the handler."""

    def __init__(self, fn: Callable[P, R], queue: Enqueuer, **options: Unpack[TaskOptions]) -> None:
        unknown = sorted(set(options) - TaskOptions.__optional_keys__)
        if unknown:
            raise InvalidJob(f"unknown task option {unknown[0]!r}")
        self.fn = fn
        self.queue = queue
        self.type: str = check_type(options.get("type", getattr(fn, "__name__", "")))
        #: Enqueue defaults: each ``enqueue`` call may override them.
        self.defaults: Mapping[str, Any] = {k: v for k, v in options.items() if k in _DEFAULTS}
        self.middleware: tuple[Middleware, ...] = tuple(options.get("middleware", ()))
        from .retry import RetryPolicy

        self.retry_policy: RetryPolicy | None = options.get("retry_policy")
        if self.retry_policy is not None and not isinstance(self.retry_policy, RetryPolicy):
            raise InvalidJob(f"retry_policy must be a RetryPolicy, not {self.retry_policy!r}")
        self.spread = options.get("spread", False)
        #: Whether the handler takes ``ctx`` (a spread call passes it only then).
        self.wants_ctx = _takes_ctx(fn)
        EnqueueOptions(**self.defaults)  # a bad default fails here, not at the first enqueue
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<Task {self.type}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the handler here and now, as a plain function (no job is made)."""
        return self.fn(*args, **kwargs)

    def enqueue(
        self, params: Any = None, **overrides: Unpack[EnqueueOverrides]
    ) -> PendingJob | RunningJob:
        """Add one job of this task; ``overrides`` replace the task's defaults. With a
        ``unique_key`` held by another job, that job is returned instead (maybe running)."""
        return self.enqueue_many([params], **overrides)[0]

    def enqueue_many(
        self, params_list: Iterable[Any], **overrides: Unpack[EnqueueOverrides]
    ) -> list[PendingJob | RunningJob]:
        """Add many jobs of this task, all or nothing, behind one durable write barrier."""
        return self.queue.enqueue_many(self.type, params_list, **{**self.defaults, **overrides})


class Tasks:
    """The tasks defined on one queue, as attributes (``queue.tasks.send_email``) or, for
    type names that are not identifiers, by key (``queue.tasks["email.send"]``). An
    unknown name raises at once: AttributeError (or KeyError), with the close matches."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task[..., Any]] = {}

    def _register(self, task: Task[..., Any]) -> None:
        if task.type in self._tasks:
            raise InvalidJob(f"a task of type {task.type!r} is already defined on this queue")
        self._tasks[task.type] = task

    def __getattr__(self, name: str) -> Task[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)  # copy and pickle probe for dunders
        try:
            return self._tasks[name]
        except KeyError:
            raise AttributeError(self._unknown(name)) from None

    def __getitem__(self, name: str) -> Task[..., Any]:
        try:
            return self._tasks[name]
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def _unknown(self, name: str) -> str:
        import difflib  # only on a typo: kept out of every import of the queue

        close = difflib.get_close_matches(name, self._tasks, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        return f"no task {name!r} is defined on this queue{hint}"

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator[Task[..., Any]]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        return f"Tasks({sorted(self._tasks)})"


def _takes_ctx(fn: Callable[..., Any]) -> bool:
    try:
        return "ctx" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return False
