"""FileStore: jobs as JSON files in one directory per status.

Layout (everything that is not a job file lives in a hidden entry under ``jobs/``)::

    jobs/<status>/<id>.json   the jobs
    jobs/.tmp/                temp files, renamed into place once written
    jobs/.staging/            a job taken out of pending/, failed/ or cancelled/ by rename
    jobs/.batches/            enqueue_many: files wait here until the batch commits
    jobs/.locks/              lock stripes (never deleted: deleting a lock file races)
    jobs/.index/              the pending index log (see pending_index)
    jobs/.unique/             unique_key -> ids of the jobs that may hold it (see unique)
    jobs/.cancel/             cancel requests for running jobs
    jobs/.quarantine/         unreadable job files, bytes intact
    jobs/.events/             the event log, one file per hour (see event_log)

Concurrency rules:

* Leaving ``pending/`` (claim, cancel, remove) and leaving ``failed/``/``cancelled/``
  (retry) starts with a rename of the file into ``.staging/``: exactly one process wins
  it, and the loser sees FileNotFoundError and moves on. No lock is needed to win.
* Every other write to a job's visible files happens under its lock stripe, and so does
  the rest of a staged transition (the lock is taken after the rename).
* Compare-and-set: before replacing a job, the stored document is read back and must
  equal the ``old`` job the caller names, else StaleJob.

What a crash at each step leaves behind, and how it is repaired: see ``recovery``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from filelock import FileLock

from .. import codec, transitions
from ..errors import InvalidJob, StaleJob
from ..events import JobEvent, event_name, event_time
from ..ids import check_id
from ..job import ENDED, STATUSES, Job, PendingJob, RunningJob, Status, WorkerInfo
from ..process import owner_token
from . import _fs, batches, recovery
from .event_log import EventLog, Tail
from .layout import Layout
from .pending_index import Entry, PendingIndex
from .protocol import CancelRequest
from .unique import UniqueKeys
from .watch import watch

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_us(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def entry_of(job: PendingJob) -> Entry:
    m = job.metadata
    return Entry(m.priority, to_us(m.run_at), m.id, m.type)


class FileStore:
    """The embedded store. Thread-safe; any number of processes may share a data dir."""

    def __init__(
        self,
        root: str | Path,
        *,
        durable: bool = True,
        rescan_interval: float = 2.0,
        faults: Callable[[str], None] | None = None,
    ) -> None:
        self.paths = Layout.under(Path(root))
        self.durable = durable
        self.rescan_interval = rescan_interval
        #: Called with the name of each step of each transition (crash-injection tests).
        self.faults = faults
        self._owner = owner_token()
        self._last_rescan = time.monotonic()
        self._recovered = False
        _fs.make_dirs(*self.paths.directories())
        self._index = PendingIndex(self.paths.index, self.paths.status_dir("pending"), self._entry)
        self._keys = UniqueKeys(self.paths, get=self.get, write=self._write_bytes)
        self.event_log = EventLog(self.paths.events)

    def __repr__(self) -> str:
        return f"FileStore({str(self.paths.root)!r}, durable={self.durable})"

    # --- small helpers -----------------------------------------------------------------

    def _write_bytes(self, dst: Path, data: bytes) -> None:
        tmp = self.paths.tmp_file(dst.name, self._owner)
        _fs.replace_atomic(dst, data, tmp, durable=self.durable)

    def _write(self, dst: Path, job: Job) -> None:
        self._write_bytes(dst, codec.encode(job))

    def _step(self, name: str) -> None:
        if self.faults is not None:
            self.faults(name)

    def _record(self, old: Job | None, new: Job) -> None:
        event = event_name(old, new)
        if event is not None:
            self.event_log.append(event, new, event_time(event, new))

    def job_lock(self, job_id: str) -> FileLock:
        path = self.paths.lock_file("job", job_id)
        return FileLock(path, mode=_fs.FILE_MODE, preserve_lock_file=True)

    def announce(self, jobs: Sequence[PendingJob]) -> None:
        """Tell every process's pending index about jobs now in pending/."""
        self._index.append(entry_of(j) for j in jobs)

    def _ensure_recovered(self) -> None:
        if not self._recovered:
            self._recovered = True
            self.recover()

    def recover(self) -> None:
        """Repair what a crash left behind (see ``recovery``); idempotent."""
        recovery.recover(self)

    # --- reading -------------------------------------------------------------------------

    def _load(self, path: Path, status: Status) -> Job | None:
        """Read one job file: None if it is gone; quarantine and InvalidJob if corrupt."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _fs.store_error(e, f"read {path}") from None
        return self._decode(data, path, status)

    def _decode(self, data: bytes, path: Path, status: Status) -> Job:
        source = f"{status}/{path.name}" if path.parent.name == status else str(path)
        try:
            job = codec.decode(data, source=source, expect=None if status == "pending" else status)
        except InvalidJob as e:
            self._quarantine(path, status, str(e))
            raise
        if path.stem.split("~")[0] != job.metadata.id:
            self._quarantine(path, status, f"{source}: file name does not match its id")
            raise InvalidJob(f"{source}: file name does not match metadata.id {job.metadata.id!r}")
        if status == "pending" and not isinstance(job, PendingJob):
            # A person moved a job file into pending/ by hand: they want it run again.
            log.warning("%s says status %r: treating it as pending", source, job.status)
            return PendingJob(metadata=job.metadata, params=job.params, attempts=job.attempts)
        return job

    def _quarantine(self, path: Path, status: Status, reason: str) -> None:
        """Move an unreadable file aside, bytes intact, so nothing is lost or retried forever."""
        name = f"{status}~{path.name.split('~')[0].removesuffix('.json')}.json"
        dst = self.paths.quarantine / name
        n = 1
        while dst.exists():
            n += 1
            dst = dst.with_name(f"{name.removesuffix('.json')}~{n}.json")
        try:
            os.rename(path, dst)
        except FileNotFoundError:
            return
        log.error("quarantined %s: %s (bytes kept in %s)", path.name, reason, dst)

    def quarantine_file(self, path: Path, reason: str) -> None:
        """Move a file aside, bytes intact (``doctor --repair``, foreign files)."""
        status = path.parent.name
        self._quarantine(path, status if status in STATUSES else "pending", reason)

    def _entry(self, job_id: str) -> Entry | None:
        """The index entry of a pending file (for reconcile)."""
        try:
            job = self._load(self.paths.job("pending", job_id), "pending")
        except InvalidJob:
            return None
        return entry_of(job) if isinstance(job, PendingJob) else None

    def get(self, job_id: str) -> Job | None:
        check_id(job_id)
        for _ in range(3):  # a job in flight between two directories: look again
            for status in STATUSES:
                job = self._load(self.paths.job(status, job_id), status)
                if job is not None:
                    return job
            if not self._in_staging(job_id):
                return None
            time.sleep(0.001)
        return self._staged_copy(job_id)

    def _staged_names(self, job_id: str) -> Iterator[Path]:
        return self.paths.staging.glob(f"{job_id}~*.json")

    def _in_staging(self, job_id: str) -> bool:
        return any(self._staged_names(job_id))

    def _staged_copy(self, job_id: str) -> Job | None:
        for path in self._staged_names(job_id):
            try:
                return codec.decode(path.read_bytes(), source=str(path))
            except (OSError, InvalidJob):
                continue
        return None

    def _exists(self, job_id: str) -> bool:
        return any(self.paths.job(s, job_id).exists() for s in STATUSES) or self._in_staging(job_id)

    def scan(self, statuses: Collection[Status], job_type: str | None = None) -> Iterator[Job]:
        names = sorted(
            (job_id, status)
            for status in statuses
            for job_id in _fs.list_names(self.paths.status_dir(status))
        )
        for job_id, status in names:
            try:
                job = self._load(self.paths.job(status, job_id), status)
            except InvalidJob:
                continue  # quarantined and logged
            if job is not None and (job_type is None or job.metadata.type == job_type):
                yield job

    def counts(self, now: datetime) -> Mapping[str, int]:
        now_us = to_us(now)
        self._index.refresh(now_us)
        self._index.reconcile(now_us)
        pending, delayed = self._index.counts(now_us)
        counts = {"pending": pending, "delayed": delayed}
        for status in STATUSES[1:]:
            counts[status] = _fs.count_entries(self.paths.status_dir(status))
        counts["quarantined"] = _fs.count_entries(self.paths.quarantine)
        counts["total"] = sum(counts[s] for s in STATUSES)
        return counts

    # --- adding --------------------------------------------------------------------------

    def add(self, jobs: Sequence[PendingJob]) -> list[Job]:
        self._ensure_recovered()
        keys = {j.metadata.unique_key for j in jobs if j.metadata.unique_key}
        with self._keys.lock_all(keys):
            results, fresh = self._dedupe(jobs)
            for job in fresh:
                if job.metadata.unique_key:
                    self._keys.hold(job.metadata.unique_key, job.metadata.id)
            self._step("add:keys-held")
            if len(fresh) == 1:
                self._add_one(fresh[0])
            elif fresh:
                batch = batches.write_batch(self.paths, fresh, self._owner, durable=self.durable)
                self._step("add:batch-committed")
                batches.publish(self.paths, batch, durable=self.durable)
        self._step("add:written")
        self.announce(fresh)
        for job in fresh:
            self._record(None, job)
        return results

    def _dedupe(self, jobs: Sequence[PendingJob]) -> tuple[list[Job], list[PendingJob]]:
        """Replace jobs whose unique key is held by the holder; refuse taken ids."""
        results: list[Job] = []
        fresh: list[PendingJob] = []
        held: dict[str, Job] = {}
        ids: set[str] = set()
        for job in jobs:
            key = job.metadata.unique_key
            holder = (held.get(key) or self._keys.holder(key)) if key else None
            if holder is not None:
                results.append(holder)
                continue
            if job.metadata.id in ids or self._exists(job.metadata.id):
                raise InvalidJob(f"job id {job.metadata.id!r} is already taken")
            ids.add(job.metadata.id)
            if key:
                held[key] = job
            fresh.append(job)
            results.append(job)
        return results, fresh

    def _add_one(self, job: PendingJob) -> None:
        dst = self.paths.job("pending", job.metadata.id)
        tmp = self.paths.tmp_file(dst.name, self._owner)
        try:
            _fs.link_atomic(dst, codec.encode(job), tmp, durable=self.durable)
        except FileExistsError:
            raise InvalidJob(f"job id {job.metadata.id!r} is already taken") from None

    # --- claiming --------------------------------------------------------------------------

    def claim(
        self, worker: WorkerInfo, now: datetime, types: Collection[str] | None = None
    ) -> RunningJob | None:
        self._ensure_recovered()
        now_us = to_us(now)
        self._index.refresh(now_us)
        job = self._claim_from_index(worker, now, now_us, types)
        if job is None and time.monotonic() - self._last_rescan >= self.rescan_interval:
            # Idle: look for files the index missed (moved in by hand, or a crashed writer).
            self._last_rescan = time.monotonic()
            self._index.reconcile(now_us)
            job = self._claim_from_index(worker, now, now_us, types)
        return job

    def _claim_from_index(
        self, worker: WorkerInfo, now: datetime, now_us: int, types: Collection[str] | None
    ) -> RunningJob | None:
        for entry in self._index.pop_due(now_us, types):
            job = self._take_pending(entry.id, worker, now, types)
            if job is not None:
                return job
        return None

    def _take_pending(
        self, job_id: str, worker: WorkerInfo, now: datetime, types: Collection[str] | None
    ) -> RunningJob | None:
        src = self.paths.job("pending", job_id)
        staged = self.paths.staged_file(job_id, self._owner)
        try:
            os.rename(src, staged)  # the claim itself: exactly one process wins
        except FileNotFoundError:
            return None
        self._step("claim:staged")
        with self.job_lock(job_id):
            job = self._read_staged(staged, "pending")
            if not isinstance(job, PendingJob):
                return None
            # Re-read after the rename: the file may differ from the index (moved or
            # edited by hand, or retried with a later run_at since the line was read).
            if (types is not None and job.metadata.type not in types) or job.metadata.run_at > now:
                os.rename(staged, src)
                self.announce([job])
                return None
            running = transitions.start(job, worker, now)
            self._write(self.paths.job("running", job_id), running)
            self._step("claim:written")
            _fs.unlink_quietly(staged)
        self._record(job, running)
        return running

    def _read_staged(self, staged: Path, status: Status) -> Job | None:
        try:
            data = staged.read_bytes()
        except FileNotFoundError:
            return None  # recover() put it back: we lost nothing, just the race
        try:
            return self._decode(data, staged, status)
        except InvalidJob:
            return None

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when a job may have become claimable (file events on
        ``pending/``) or a cancel was requested; returns an unsubscribe function."""
        return watch([self.paths.status_dir("pending"), self.paths.cancel], callback)

    def events(
        self, since: datetime | None = None, *, idle_timeout: float | None = None
    ) -> Iterator[JobEvent]:
        """Events as they are recorded by any process (file events, polling as fallback);
        replays from ``since`` first. Ends after ``idle_timeout`` seconds without one."""
        tail = Tail(self.event_log, since)
        wake = threading.Event()
        unsubscribe = watch([self.paths.events], wake.set)
        try:
            idle_since = time.monotonic()
            while True:
                events = tail.poll()
                yield from events
                if events:
                    idle_since = time.monotonic()
                elif idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                    return
                wake.wait(0.25)
                wake.clear()
        finally:
            unsubscribe()

    def events_between(self, since: datetime, until: datetime | None = None) -> Iterator[JobEvent]:
        """Recorded events in ``[since, until)`` (metrics)."""
        return self.event_log.read(since, until)

    def next_due(self, types: Collection[str] | None = None) -> datetime | None:
        """When the earliest deferred job of these types is due (for a worker's timer)."""
        us = self._index.next_due_us(types)
        return None if us is None else _EPOCH + timedelta(microseconds=us)

    # --- changing ----------------------------------------------------------------------------

    def move(self, old: Job, new: Job) -> None:
        if old.metadata.id != new.metadata.id:
            raise ValueError("move() keeps the id")
        self._ensure_recovered()
        if old.status == "pending" or (old.status in ENDED and new.status == "pending"):
            self._move_by_rename(old, new)
        else:
            self._move_in_place(old, new)
        self._step("move:done")
        if isinstance(new, PendingJob):
            self.announce([new])
        self._record(old, new)

    def _move_by_rename(self, old: Job, new: Job | None) -> None:
        """Take the file by rename (no lock needed to win), then finish under the lock."""
        job_id = old.metadata.id
        src = self.paths.job(old.status, job_id)
        staged = self.paths.staged_file(job_id, self._owner)
        try:
            os.rename(src, staged)
        except FileNotFoundError:
            raise StaleJob(job_id, old.status) from None
        self._step("move:staged")
        with self.job_lock(job_id):
            current = self._read_staged(staged, old.status)
            if current != old:
                if current is not None:
                    os.rename(staged, src)
                raise StaleJob(job_id, old.status)
            if new is not None:
                self._write_new(old, new)
                self._step("move:written")
            _fs.unlink_quietly(staged)

    def _write_new(self, old: Job, new: Job) -> None:
        key = new.metadata.unique_key
        if isinstance(new, PendingJob) and key and old.status in ENDED:
            # The key lock is held until the file is in pending/, so that an add (which
            # rewrites the key's list from the live holders) cannot drop the retried job.
            with self._keys.lock(key):
                self._keys.add_holder(key, new.metadata.id)
                self._write(self.paths.job("pending", new.metadata.id), new)
        else:
            self._write(self.paths.job(new.status, new.metadata.id), new)

    def _move_in_place(self, old: Job, new: Job | None) -> None:
        job_id = old.metadata.id
        src = self.paths.job(old.status, job_id)
        with self.job_lock(job_id):
            if self._load(src, old.status) != old:
                raise StaleJob(job_id, old.status)
            if new is not None:
                self._write(self.paths.job(new.status, job_id), new)
                self._step("move:written")
            if new is None or new.status != old.status:
                _fs.unlink_quietly(src)  # after the new file: a crash leaves two, never none
                _fs.unlink_quietly(self.paths.cancel / f"{job_id}.json")

    def delete(self, job: Job) -> None:
        self._ensure_recovered()
        if job.status == "pending":
            self._move_by_rename(job, None)
            self._index.discard(job.metadata.id)
        else:
            self._move_in_place(job, None)

    # --- cancel requests ---------------------------------------------------------------------

    def request_cancel(self, job: RunningJob, reason: str | None, now: datetime) -> bool:
        job_id = job.metadata.id
        with self.job_lock(job_id):
            current = self._load(self.paths.job("running", job_id), "running")
            if not _same_attempt(job, current):
                return False
            data = orjson.dumps({"reason": reason, "at": codec.format_time(now)})
            self._write_bytes(self.paths.cancel / f"{job_id}.json", data)
        self.event_log.append("cancelling", job, now)
        return True

    def cancel_requested(self, job_id: str) -> CancelRequest | None:
        try:
            doc = orjson.loads((self.paths.cancel / f"{job_id}.json").read_bytes())
            return CancelRequest(reason=doc["reason"], at=datetime.fromisoformat(doc["at"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return CancelRequest(reason=None, at=_EPOCH)  # unreadable, but asked for


def _same_attempt(job: RunningJob, current: Job | None) -> bool:
    """A heartbeat changes neither the start nor the history; a new claim changes the
    history (its start alone can repeat when a retry is claimed in the same instant)."""
    if not isinstance(current, RunningJob):
        return False
    return (current.started_at, current.attempts) == (job.started_at, job.attempts)
