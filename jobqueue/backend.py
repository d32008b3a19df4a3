"""The backend protocol: everything above the backends (the queue, the worker, schedules,
events, metrics, health, rate limits, the CLI) sees a store only through this.

A ``Backend`` is made of narrow parts, one per concern, so each can be read, faked and
tested on its own (httpx's one-method transport is the model; huey's single 26-method
storage is what we avoid):

* ``jobs``       add, get, claim, move, delete, scan (keyset paging), counts
* ``cancels``    cancel requests for running jobs
* ``events``     the event log: follow it live, or read metric samples of a window
* ``workers``    the worker registry (``WorkerRecord``)
* ``schedules``  schedule records, each read-decide-written under its own lock
* ``shared``     small named state updated atomically (rate limits)
* ``wakeups``    "a job may be claimable": ``NoWakeups`` (poll) where nothing is better

Two promises hold for every method of every part:

* **Atomic** with respect to every other thread and process using the same store.
* **Errors**: a failure of the store itself (disk full, read-only, database down) is a
  ``StoreError`` whose ``__cause__`` is the original exception; a write that names a
  state that is no longer stored is a ``StaleJob``; an unreadable job is an
  ``InvalidJob``. Nothing else escapes, so callers catch ``StoreError`` and nothing wider.

Backends are opened by URL with ``open_backend``: a path or ``file://`` URL (the file
backend), ``memory://`` (this process only), ``postgresql://`` (``jobqueue[postgres]``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from .clock import Clock
from .errors import InvalidJob, StoreError
from .job import Job, PendingJob, RunningJob, Status, WorkerInfo

if TYPE_CHECKING:  # annotations only: the schedule model alone is ~4 ms of a one-shot command
    from .events import JobEvent
    from .metrics import Sample
    from .schedules.model import Schedule

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Someone asked a running job to stop."""

    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerRecord:
    """A worker's entry in the registry: who it is, when it last beat, what it runs.

    ``pid_started`` and ``stale_after`` let a reader judge staleness on its own (see
    ``jobqueue.health``); ``types`` is empty for a worker that takes every type."""

    name: str
    host: str
    pid: int
    pid_started: float | None
    started_at: datetime
    heartbeat_at: datetime
    concurrency: int
    running: tuple[str, ...] = ()
    stale_after: float = 30.0
    types: tuple[str, ...] = ()


class JobStore(Protocol):
    """Where jobs live. Compare-and-set: ``move`` and ``delete`` name the state they
    expect (``old``) and raise ``StaleJob`` when the stored job is no longer that state,
    so a worker whose job was cancelled or reaped never overwrites the newer state."""

    def add(self, jobs: Sequence[PendingJob]) -> list[Job]:
        """Store new pending jobs, all or nothing, behind one durable write barrier.

        A job whose ``unique_key`` is held by a pending or running job is not stored:
        its place in the returned list holds that job instead.
        InvalidJob if an id is already taken.
        """
        ...

    def import_jobs(self, jobs: Sequence[Job]) -> list[bool]:
        """Store jobs as they are, in any status but running (``jobqueue transfer``): for
        each, True when stored, False when its id is already taken (the job is skipped,
        so an interrupted copy can be run again). No event is recorded: the job's
        history did not change. A pending job takes its unique key if it is free; if it
        is held, the job is stored anyway and shares the key, as a job retried by hand
        does (an enqueue with that key still gets the holder). InvalidJob, with nothing
        stored, if one of the jobs is running: its worker is in the other store.
        """
        ...

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or None. InvalidJob if it is stored but unreadable."""
        ...

    def claim(
        self, worker: WorkerInfo, now: datetime, types: Collection[str] | None = None
    ) -> RunningJob | None:
        """Take the best due pending job (lowest priority, then run_at, then id) of one of
        ``types`` (None: any) and mark it running for ``worker``. Exactly one claimer wins."""
        ...

    def claim_many(
        self, worker: WorkerInfo, now: datetime, limit: int, types: Collection[str] | None = None
    ) -> list[RunningJob]:
        """Up to ``limit`` jobs as ``claim`` would take them one after another, best first:
        what a worker with ``limit`` free slots asks for, so that a store across a network
        answers in one round trip. Fewer (none) when fewer are due; each job still goes to
        exactly one claimer. Every job returned is the caller's to run or hand back."""
        ...

    def move(self, old: Job, new: Job) -> None:
        """Replace ``old`` by ``new`` (same id). StaleJob if ``old`` is not what is stored."""
        ...

    def delete(self, job: Job) -> None:
        """Remove ``job``. StaleJob if it is not what is stored."""
        ...

    def scan(
        self,
        statuses: Collection[Status],
        job_type: str | None = None,
        *,
        newest_first: bool = False,
        after: str | None = None,
    ) -> Iterator[Job]:
        """Jobs in these statuses by id (ids sort by creation time), oldest first or
        ``newest_first``, starting past the id ``after`` in that order (keyset paging).
        Lazy: a caller that stops early reads no further. Unreadable jobs are skipped."""
        ...

    def counts(self, now: datetime) -> Mapping[str, int]:
        """pending, delayed, running, complete, failed, cancelled, quarantined, total."""
        ...

    def oldest_due(self, now: datetime) -> datetime | None:
        """The earliest ``run_at`` among pending jobs due at ``now`` (None: none is due)."""
        ...

    def next_due(self, types: Collection[str] | None = None) -> datetime | None:
        """When a pending job of these types is due, for a worker deciding how long to
        sleep: the ``run_at`` of a due one if any is due (not necessarily the earliest),
        else the earliest ``run_at`` of the deferred ones; None when there is none."""
        ...

    def recover(self) -> None:
        """Repair what a crash left behind (idempotent; safe while other processes run)."""
        ...

    def flush(self) -> None:
        """Make every write this handle deferred durable now (a worker calls it when it
        stops); nothing to do for a store that never defers."""
        ...


class CancelRequests(Protocol):
    """How a cancel reaches a job that another process runs: the worker polls for it."""

    def request(self, job: RunningJob, reason: str | None, now: datetime) -> bool:
        """Ask the worker running ``job`` to stop; False if that attempt already ended."""
        ...

    def get(self, job_id: str) -> CancelRequest | None:
        """The cancel request for a running job, if any (cheap: called per heartbeat)."""
        ...


class EventLog(Protocol):
    """What happened to jobs, in order, across processes: for watchers and metrics."""

    def follow(
        self, since: datetime | None = None, *, idle_timeout: float | None = None
    ) -> Iterator[JobEvent]:
        """Job events as any process records them; replays from ``since`` first. Blocks
        waiting for more; ends after ``idle_timeout`` seconds without one (None: never).
        The follow starts at the call, not at the first ``next()``."""
        ...

    def samples(self, since: datetime, until: datetime | None = None) -> Iterator[Sample]:
        """The completed, failed and retrying events in ``[since, until)``, reduced to
        what metrics need."""
        ...


class WorkerRegistry(Protocol):
    """Which workers exist and when each last beat, so others can see who is alive."""

    def put(self, record: WorkerRecord) -> None:
        """Write (or replace) the record of worker ``record.name``."""
        ...

    def remove(self, name: str) -> None:
        """Remove that worker's record; nothing happens if there is none."""
        ...

    def all(self) -> list[WorkerRecord]:
        """Every readable record, live or not (judged by ``jobqueue.health``), by name."""
        ...


class ScheduleStore(Protocol):
    """Schedule records. ``lock(name)`` makes a read-decide-write of one schedule
    exclusive across processes: that is what fires each tick exactly once, however many
    schedulers run."""

    def lock(self, name: str) -> AbstractContextManager[object]:
        """Hold the schedule's lock for the ``with`` block (not reentrant)."""
        ...

    def get(self, name: str) -> Schedule | None:
        """The schedule, or None; InvalidJob if it is stored but unreadable."""
        ...

    def all(self) -> list[Schedule]:
        """Every readable schedule, by name (unreadable ones are logged and skipped)."""
        ...

    def put(self, schedule: Schedule) -> None:
        """Create or replace the schedule (call under its lock)."""
        ...

    def delete(self, name: str) -> bool:
        """Remove the schedule (call under its lock); False if there was none."""
        ...


class SharedState(Protocol):
    """Small named blobs every process updates atomically (rate-limit buckets)."""

    def update(self, name: str, fn: Callable[[bytes | None], tuple[bytes, T]]) -> T:
        """Call ``fn`` with the named state's bytes (None at first), store the bytes it
        returns and hand back its answer, atomically across processes (rate limits)."""
        ...


class Wakeups(Protocol):
    """Lets an idle worker wake early instead of waiting out its poll interval."""

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from any thread) when a job may have become claimable or a
        cancel was requested; returns the function that unsubscribes. A hint only:
        workers poll as well."""
        ...


class NoWakeups:
    """For a backend with no way to announce changes: workers find work by polling."""

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Never calls ``callback``; the unsubscribe it returns does nothing."""
        return _nothing


def _nothing() -> None:
    return None


class Backend(Protocol):
    """One store, as its parts (see the module docstring). The members are read-only
    properties so that an implementation may hold its own part types."""

    @property
    def location(self) -> str:
        """Where the store is, for logs and messages (an absolute path, or a URL)."""
        ...

    @property
    def process_local(self) -> bool:
        """True when only this process can see the store (``memory://``): it cannot be
        shared with a worker in another process or a forked job."""
        ...

    @property
    def clock(self) -> Clock:
        """The clock a queue on this store uses unless given one: the host's for a
        store on this host; for a database shared by many hosts, the server's time, so
        that every host compares the same instants."""
        ...

    @property
    def jobs(self) -> JobStore:
        """The jobs themselves: every status change goes through its compare-and-set."""
        ...

    @property
    def cancels(self) -> CancelRequests:
        """Cancel requests for running jobs, which their workers poll per heartbeat."""
        ...

    @property
    def events(self) -> EventLog:
        """The event log behind ``queue.events()`` and ``queue.metrics()``."""
        ...

    @property
    def workers(self) -> WorkerRegistry:
        """The worker registry, read by health checks and ``queue.workers()``."""
        ...

    @property
    def schedules(self) -> ScheduleStore:
        """Schedule records, with the per-schedule lock that makes each tick fire once."""
        ...

    @property
    def shared(self) -> SharedState:
        """Atomically updated named state shared by all processes (rate limits)."""
        ...

    @property
    def wakeups(self) -> Wakeups:
        """Early wake-up hints for idle workers; ``NoWakeups`` when the store has none."""
        ...

    @property
    def url(self) -> str:
        """A URL that ``open_backend`` opens to this same store (another process's view)."""
        ...

    def reopen(self) -> Backend:
        """A new handle on the same store, sharing nothing with this one (connections,
        files, locks): what a forked child must use. A process-local store returns itself."""
        ...

    def close(self) -> None:
        """Flush and release what this handle holds; it must not be used afterwards."""
        ...


def refuse_running(jobs: Sequence[Job]) -> None:
    """What ``import_jobs`` checks first: a running job belongs to a worker of the store
    it came from, which would never heartbeat or end it in the new one."""
    for job in jobs:
        if isinstance(job, RunningJob):
            raise InvalidJob(f"job {job.metadata.id} is running: it cannot be imported")


class NoQueue(StoreError):
    """A read-only open found no store at the location (nothing was created)."""

    def __init__(self, location: str) -> None:
        super().__init__(f"no queue at {location}")
        self.location = location

    def __reduce__(self) -> tuple[type[NoQueue], tuple[str]]:
        return (type(self), (self.location,))


_FILE_OPTIONS = {"durable"}


def open_backend(
    target: str | Path, *, create: bool = True, durable: bool | None = None
) -> Backend:
    """Open the store at ``target``: a path, ``file://PATH[?durable=false]``,
    ``memory://`` or ``postgresql://...``. With ``create=False`` (inspectors) nothing
    is created or repaired, and a missing store raises ``NoQueue``. ``durable`` is a
    file-backend option (False: skip fsyncs), also given as ``?durable=false``."""
    if isinstance(target, Path):
        return _open_file(target, str(target), {}, create=create, durable=durable)
    if not isinstance(target, str) or not target:
        raise InvalidJob(f"a store is a path or a URL, not {target!r}")
    scheme, sep, _ = target.partition("://")
    if not sep:
        return _open_file(Path(target), target, {}, create=create, durable=durable)
    parts = urlsplit(target)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    match scheme.lower():
        case "file":
            if parts.netloc not in ("", "localhost"):
                raise InvalidJob(f"a file:// URL names a local path, not host {parts.netloc!r}")
            path = Path(unquote(parts.path))
            return _open_file(path, target, options, create=create, durable=durable)
        case "memory":
            _refuse_options(target, options, set(), durable)
            from .backends.memory import MemoryBackend

            return MemoryBackend()
        case "postgresql" | "postgres":
            if durable is not None:
                raise InvalidJob("durable is an option of the file backend only")
            return _open_postgres(target, create=create)
    raise InvalidJob(f"unknown store {target!r}: use a path, file://, memory:// or postgresql://")


def _open_postgres(target: str, *, create: bool) -> Backend:
    """Imported here: psycopg is an extra (``jobqueue[postgres]``)."""
    try:
        from .backends.postgres import PostgresBackend
    except ImportError as e:
        raise StoreError(
            f"PostgreSQL needs psycopg ({e.name} is missing): pip install 'jobqueue[postgres]'"
        ) from e
    return PostgresBackend(target, create=create)


def _open_file(
    path: Path, target: str, options: dict[str, str], *, create: bool, durable: bool | None
) -> Backend:
    _refuse_options(target, options, _FILE_OPTIONS, None)
    if "durable" in options:
        if durable is not None:
            raise InvalidJob("give durable in the URL or as an argument, not both")
        durable = parse_flag(options["durable"], "durable")
    from .backends.file import FileBackend

    return FileBackend(path, durable=True if durable is None else durable, create=create)


def _refuse_options(
    target: str, options: dict[str, str], known: set[str], durable: bool | None
) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise InvalidJob(f"unknown option {unknown[0]!r} in store URL {target!r}")
    if durable is not None:
        raise InvalidJob("durable is an option of the file backend only")


def parse_flag(text: str, what: str) -> bool:
    """A URL option's boolean (``durable=false``, ``migrate=0``): InvalidJob otherwise."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise InvalidJob(f"{what} must be true or false, not {text!r}")
