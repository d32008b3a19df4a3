"""``FileBackend``: the parts of ``jobqueue.backend.Backend`` over one data directory.

The jobs part (``FileStore``) owns the tree; the other parts are thin views on its
directories, so one handle shares one set of locks, spare files and appenders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ...backend import CancelRequest, NoQueue
from ...clock import Clock, SystemClock
from ...job import RunningJob
from . import _fs
from .event_log import Tail, follow
from .file import FileStore
from .schedules import ScheduleFiles
from .shared import SharedFiles
from .workers import WorkerRecords

if TYPE_CHECKING:
    from ...events import JobEvent
    from ...metrics import Sample
    from .quarantine import Quarantine


class FileBackend:
    """One data directory. Thread-safe; any number of processes may share it."""

    process_local = False

    def __init__(
        self,
        root: str | Path,
        *,
        durable: bool = True,
        create: bool = True,
        rescan_interval: float = 2.0,
        faults: Callable[[str], None] | None = None,
    ) -> None:
        self.root = Path(root).absolute()
        if not create and not (self.root / "jobs").is_dir():
            raise NoQueue(str(self.root))
        self.location = str(self.root)
        self.durable = durable
        with _fs.as_store_error(f"open the data directory {self.root}"):
            self.jobs = FileStore(
                self.root,
                durable=durable,
                create=create,
                rescan_interval=rescan_interval,
                faults=faults,
            )
            self.schedules = ScheduleFiles(self.root, durable=durable, create=create)
        self.cancels = FileCancels(self.jobs)
        self.events = FileEvents(self.jobs)
        self.workers = WorkerRecords(self.jobs.paths, self.jobs.owner)
        self.shared = SharedFiles(self.jobs.paths, self.jobs.write_bytes)
        self.wakeups = FileWakeups(self.jobs)
        #: Every process of a data dir is on this host: its clock is the one to use.
        self.clock: Clock = SystemClock()

    @cached_property
    def quarantine(self) -> Quarantine:
        """Not a part of the Backend protocol: quarantine is a file-backend concept. Made
        on first use: only ``jobqueue quarantine`` and ``show`` of a missing job need it."""
        from .quarantine import Quarantine

        return Quarantine(self.jobs)

    def __repr__(self) -> str:
        return f"FileBackend({self.location!r}, durable={self.durable})"

    @property
    def url(self) -> str:
        """What a child process or the supervisor needs to open the same directory."""
        query = "" if self.durable else "?durable=false"
        return f"{self.root.as_uri()}{query}"

    def reopen(self) -> FileBackend:
        """For a forked child: nothing opened here (spares, appenders) is shared with it."""
        return FileBackend(self.root, durable=self.durable)

    def close(self) -> None:
        """The last group of ends is synced before the handle goes (see claims)."""
        self.jobs.close()


class FileCancels:
    """Cancel requests: ``jobs/.cancel/<id>.json``, written under the job's lock."""

    def __init__(self, store: FileStore) -> None:
        self._store = store

    def request(self, job: RunningJob, reason: str | None, now: datetime) -> bool:
        """Only the attempt the caller saw is asked to stop, never a later one."""
        return self._store.request_cancel(job, reason, now)

    def get(self, job_id: str) -> CancelRequest | None:
        """Polled without a lock by the worker running the job, and by the reaper."""
        return self._store.cancel_requested(job_id)


class FileEvents:
    """The event log: ``jobs/.events/``, one file per hour (see ``event_log``)."""

    def __init__(self, store: FileStore) -> None:
        self._log = store.event_log
        self._directory = store.paths.events

    def follow(
        self, since: datetime | None = None, *, idle_timeout: float | None = None
    ) -> Iterator[JobEvent]:
        """Woken by file events, polling as the fallback. The tail starts here, not at
        the first ``next()``: an event recorded in between is not lost."""
        with _fs.as_store_error("read the event log"):
            tail = Tail(self._log, since)
        return _as_store_errors(follow(tail, self._directory, idle_timeout))

    def samples(self, since: datetime, until: datetime | None = None) -> Iterator[Sample]:
        """Metrics read each line's head only, never the job document (see event_log)."""
        with _fs.as_store_error("read the event log"):
            yield from self._log.read_samples(since, until)


class FileWakeups:
    """inotify (watchdog) on the pending index and the cancel requests."""

    def __init__(self, store: FileStore) -> None:
        self._paths = [store.paths.index, store.paths.cancel]

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """It watches the pending index, not ``pending/``: every writer appends its line
        after the job file is in place, so a woken worker always finds the job in the
        index; and a claim's rename out of ``pending/`` makes watchdog hold that
        directory's events (waiting for a matching rename-in), which delayed the next
        wake-up (docs/file-backend.md)."""
        from .watch import watch  # watchdog: only for a process that waits for jobs

        return watch(self._paths, callback)


def _as_store_errors(events: Iterator[JobEvent]) -> Iterator[JobEvent]:
    """A follow runs for hours: a disk failure on the way is a StoreError too."""
    with _fs.as_store_error("read the event log"):
        yield from events
