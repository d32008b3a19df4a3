"""FileStore: jobs as JSON files in one directory per status.

Layout (everything that is not a job file lives in a hidden entry under ``jobs/``)::

    jobs/<status>/<id>.json   the jobs
    jobs/.tmp/                temp files, renamed into place once written
    jobs/.staging/            a job taken out of pending/, failed/ or cancelled/ by rename
    jobs/.batches/            enqueue_many: files wait here until the batch commits
    jobs/.locks/              lock stripes (never deleted: deleting a lock file races)
    jobs/.index/              the pending index log (see pending_index)
    jobs/.unique/             unique_key -> ids of the jobs that may hold it (see _key_ids)
    jobs/.cancel/             cancel requests for running jobs
    jobs/.quarantine/         unreadable job files, bytes intact

Concurrency rules:

* Leaving ``pending/`` (claim, cancel, remove) and leaving ``failed/``/``cancelled/``
  (retry) starts with a rename of the file into ``.staging/``: exactly one process wins
  it, and the loser sees FileNotFoundError and moves on. No lock is needed to win.
* Every other write to a job's visible files happens under its lock stripe, and so does
  the rest of a staged transition (the lock is taken after the rename).
* Compare-and-set: before replacing a job, the stored document is read back and must
  equal the ``old`` job the caller names, else StaleJob.

Crash consistency (what a crash at each step leaves, and what ``recover`` does):

* temp file written, not renamed: an orphan in ``.tmp/`` -> deleted.
* staged, new file not yet written: the job only in ``.staging/`` -> put back where
  its ``status`` says it came from.
* staged and new file written, staged not yet removed: two copies -> the visible one
  is the later state; the staged copy is deleted.
* running -> X (complete, failed, pending, cancelled): X is written before running/ is
  unlinked; a job in running/ and elsewhere -> the other copy is the later state.
* enqueue_many: files sit in ``.batches/<batch>/`` until a COMMIT marker is synced;
  with the marker the batch is rolled forward, without it rolled back (all or nothing).
Staged, temp and batch names carry the owner's pid and start time, so ``recover`` never
touches the work of a live process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from filelock import FileLock

from .. import codec, transitions
from ..errors import InvalidJob, StaleJob, StoreError
from ..ids import check_id
from ..job import ENDED, STATUSES, Job, PendingJob, RunningJob, Status, WorkerInfo
from ..process import owner_token, token_alive
from . import _fs
from .pending_index import Entry, PendingIndex
from .protocol import CancelRequest
from .watch import watch

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LOCK_STRIPES = 64
_ORPHAN_TMP_AGE = 3600.0


def to_us(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def entry_of(job: PendingJob) -> Entry:
    m = job.metadata
    return Entry(m.priority, to_us(m.run_at), m.id, m.type)


@dataclass(frozen=True, slots=True)
class _Paths:
    root: Path
    jobs: Path
    tmp: Path
    staging: Path
    batches: Path
    locks: Path
    index: Path
    unique: Path
    cancel: Path
    quarantine: Path

    @classmethod
    def under(cls, root: Path) -> _Paths:
        jobs = root / "jobs"
        hidden = ("tmp", "staging", "batches", "locks", "index", "unique", "cancel", "quarantine")
        return cls(root, jobs, *(jobs / f".{name}" for name in hidden))

    def status_dir(self, status: Status) -> Path:
        return self.jobs / status

    def job(self, status: Status, job_id: str) -> Path:
        return self.jobs / status / f"{job_id}.json"


class FileStore:
    """The embedded store. Thread-safe; any number of processes may share a data dir."""

    def __init__(self, root: str | Path, *, durable: bool = True, rescan_interval: float = 2.0):
        self.paths = _Paths.under(Path(root))
        self.durable = durable
        self.rescan_interval = rescan_interval
        self._token = owner_token()
        self._last_rescan = time.monotonic()
        self._recovered = False
        p = self.paths
        _fs.make_dirs(*(p.status_dir(s) for s in STATUSES))
        _fs.make_dirs(p.tmp, p.staging, p.batches, p.locks, p.index, p.unique, p.cancel)
        _fs.make_dirs(p.quarantine)
        self._index = PendingIndex(p.index, p.status_dir("pending"), self._read_entry)

    def __repr__(self) -> str:
        return f"FileStore({str(self.paths.root)!r}, durable={self.durable})"

    # --- small helpers -----------------------------------------------------------------

    def _tmp(self, name: str) -> Path:
        return self.paths.tmp / f"{name}.{self._token}.{secrets.token_hex(4)}.tmp"

    def _write(self, dst: Path, job: Job) -> None:
        _fs.replace_atomic(dst, codec.encode(job), self._tmp(dst.name), durable=self.durable)

    def _lock(self, family: str, name: str) -> FileLock:
        stripe = zlib.crc32(name.encode()) % _LOCK_STRIPES
        path = self.paths.locks / f"{family}-{stripe:02d}.lock"
        return FileLock(path, mode=_fs.FILE_MODE, preserve_lock_file=True)

    def _job_lock(self, job_id: str) -> FileLock:
        return self._lock("job", job_id)

    def _stage_path(self, job_id: str) -> Path:
        return self.paths.staging / f"{job_id}~{self._token}~{secrets.token_hex(3)}.json"

    def _ensure_recovered(self) -> None:
        if not self._recovered:
            self._recovered = True
            self.recover()

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
        """Move a file out of a status directory, bytes intact (``jobqueue doctor --repair``)."""
        status = path.parent.name
        self._quarantine(path, status if status in STATUSES else "pending", reason)

    def _read_entry(self, job_id: str) -> Entry | None:
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

    def _in_staging(self, job_id: str) -> bool:
        return any(self._staged_names(job_id))

    def _staged_names(self, job_id: str) -> Iterator[Path]:
        return self.paths.staging.glob(f"{job_id}~*.json")

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
        with ExitStack() as stack:
            for stripe in sorted({self._lock("key", k).lock_file for k in keys}):
                stack.enter_context(FileLock(stripe, mode=_fs.FILE_MODE, preserve_lock_file=True))
            results, fresh = self._dedupe(jobs)
            for job in fresh:
                if job.metadata.unique_key:
                    self._hold_key(job.metadata.unique_key, job.metadata.id)
            if len(fresh) == 1:
                self._add_one(fresh[0])
            elif fresh:
                self._add_batch(fresh)
        self._index.append(entry_of(j) for j in fresh)
        return results

    def _dedupe(self, jobs: Sequence[PendingJob]) -> tuple[list[Job], list[PendingJob]]:
        """Replace jobs whose unique key is held by the holder; refuse taken ids."""
        results: list[Job] = []
        fresh: list[PendingJob] = []
        held: dict[str, Job] = {}
        ids: set[str] = set()
        for job in jobs:
            key = job.metadata.unique_key
            holder = (held.get(key) or self._key_holder(key)) if key else None
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

    def _key_path(self, key: str) -> Path:
        return self.paths.unique / hashlib.sha256(key.encode()).hexdigest()[:40]

    def _key_ids(self, key: str) -> list[str]:
        """The ids that may hold ``key``, one a line: usually one, more after a retry."""
        try:
            return self._key_path(key).read_text().split()
        except OSError:
            return []

    def _key_holder(self, key: str) -> Job | None:
        for job_id in self._key_ids(key):
            try:
                job = self.get(job_id)
            except InvalidJob:
                continue
            if isinstance(job, PendingJob | RunningJob) and job.metadata.unique_key == key:
                return job
        return None

    def _hold_key(self, key: str, *job_ids: str) -> None:
        # Written before the job: a crash in between leaves a key pointing at no job, which
        # reads as free. The reverse order could let a duplicate in.
        path = self._key_path(key)
        data = "".join(f"{i}\n" for i in job_ids).encode()
        _fs.replace_atomic(path, data, self._tmp(path.name), durable=self.durable)

    def _write_retried(self, job: PendingJob, key: str) -> None:
        """A retried job holds its unique key again, beside any job that took the key while
        it had ended. The key lock is held until the file is in pending/, so that an ``add``
        (which rewrites the list from the live holders) cannot drop it."""
        with self._lock("key", key):
            held = self._key_ids(key)
            if job.metadata.id not in held:
                self._hold_key(key, *held, job.metadata.id)
            self._write(self.paths.job("pending", job.metadata.id), job)

    def _add_one(self, job: PendingJob) -> None:
        dst = self.paths.job("pending", job.metadata.id)
        try:
            _fs.link_atomic(dst, codec.encode(job), self._tmp(dst.name), durable=self.durable)
        except FileExistsError:
            raise InvalidJob(f"job id {job.metadata.id!r} is already taken") from None

    def _add_batch(self, jobs: Sequence[PendingJob]) -> None:
        """All or nothing: files wait in a batch dir until a synced COMMIT marker exists."""
        batch = self.paths.batches / f"{self._token}~{secrets.token_hex(4)}"
        _fs.make_dirs(batch)
        try:
            written = []
            for job in jobs:
                path = batch / f"{job.metadata.id}.json"
                _fs.write_file(path, codec.encode(job), durable=False)
                written.append(path)
            if self.durable:
                _fs.sync_tree(self.paths.root, written)
            _fs.write_file(batch / "COMMIT", b"", durable=self.durable)
            if self.durable:
                _fs.fsync_dir(batch)
        except OSError as e:
            _remove_tree(batch)
            raise _fs.store_error(e, "write a batch of jobs") from None
        self._commit_batch(batch)

    def _commit_batch(self, batch: Path) -> None:
        pending = self.paths.status_dir("pending")
        for job_id in _fs.list_names(batch):
            os.replace(batch / f"{job_id}.json", pending / f"{job_id}.json")
        if self.durable:
            _fs.fsync_dir(pending)
        _remove_tree(batch)

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
        staged = self._stage_path(job_id)
        try:
            os.rename(src, staged)  # the claim itself: exactly one process wins
        except FileNotFoundError:
            return None
        with self._job_lock(job_id):
            job = self._read_staged(staged, "pending")
            if not isinstance(job, PendingJob):
                return None
            # Re-read after the rename: the file may differ from the index (moved or
            # edited by hand, or retried with a later run_at since the line was read).
            if (types is not None and job.metadata.type not in types) or job.metadata.run_at > now:
                os.rename(staged, src)
                self._index.append([entry_of(job)])
                return None
            running = transitions.start(job, worker, now)
            self._write(self.paths.job("running", job_id), running)
            _fs.unlink_quietly(staged)
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
        if isinstance(new, PendingJob):
            self._index.append([entry_of(new)])

    def _move_by_rename(self, old: Job, new: Job | None) -> None:
        """Take the file by rename (no lock needed to win), then finish under the lock."""
        job_id = old.metadata.id
        src = self.paths.job(old.status, job_id)
        staged = self._stage_path(job_id)
        try:
            os.rename(src, staged)
        except FileNotFoundError:
            raise StaleJob(job_id, old.status) from None
        with self._job_lock(job_id):
            current = self._read_staged(staged, old.status)
            if current != old:
                if current is not None:
                    os.rename(staged, src)
                raise StaleJob(job_id, old.status)
            key = new.metadata.unique_key if new is not None else None
            if isinstance(new, PendingJob) and key and old.status in ENDED:
                self._write_retried(new, key)
            elif new is not None:
                self._write(self.paths.job(new.status, job_id), new)
            _fs.unlink_quietly(staged)

    def _move_in_place(self, old: Job, new: Job | None) -> None:
        job_id = old.metadata.id
        src = self.paths.job(old.status, job_id)
        with self._job_lock(job_id):
            if self._load(src, old.status) != old:
                raise StaleJob(job_id, old.status)
            if new is not None:
                self._write(self.paths.job(new.status, job_id), new)
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
        with self._job_lock(job_id):
            current = self._load(self.paths.job("running", job_id), "running")
            if not _same_attempt(job, current):
                return False
            data = orjson.dumps({"reason": reason, "at": codec.format_time(now)})
            path = self.paths.cancel / f"{job_id}.json"
            _fs.replace_atomic(path, data, self._tmp(path.name), durable=self.durable)
            return True

    def cancel_requested(self, job_id: str) -> CancelRequest | None:
        try:
            doc = orjson.loads((self.paths.cancel / f"{job_id}.json").read_bytes())
            return CancelRequest(reason=doc["reason"], at=datetime.fromisoformat(doc["at"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return CancelRequest(reason=None, at=_EPOCH)  # unreadable, but asked for

    # --- crash repair ------------------------------------------------------------------------

    def recover(self) -> None:
        """Repair what a crash left behind; see the module docstring for each case."""
        try:
            self._recover_tmp()
            self._recover_batches()
            self._recover_staging()
            self._recover_running_duplicates()
        except OSError as e:
            raise _fs.store_error(e, "repair the data directory") from None

    def _recover_tmp(self) -> None:
        for entry in os.scandir(self.paths.tmp):
            if _orphaned_tmp(entry):
                _fs.unlink_quietly(Path(entry.path))

    def _recover_batches(self) -> None:
        for entry in os.scandir(self.paths.batches):
            if token_alive(entry.name.split("~")[0]):  # <owner>~<random>
                continue
            batch = Path(entry.path)
            if (batch / "COMMIT").exists():
                log.warning("finishing an interrupted enqueue_many batch %s", entry.name)
                self._commit_batch(batch)
            else:
                _remove_tree(batch)

    def _recover_staging(self) -> None:
        for entry in os.scandir(self.paths.staging):
            parts = entry.name.split("~")  # <id>~<owner>~<random>.json
            if len(parts) < 3 or token_alive(parts[1]):
                continue
            staged = Path(entry.path)
            job_id = entry.name.split("~")[0]
            with self._job_lock(job_id):
                self._restore_staged(staged, job_id)

    def _restore_staged(self, staged: Path, job_id: str) -> None:
        visible = [s for s in STATUSES if self.paths.job(s, job_id).exists()]
        if visible:
            _fs.unlink_quietly(staged)  # the transition finished: the visible copy is newer
            return
        try:
            job = codec.decode(staged.read_bytes(), source=str(staged))
        except FileNotFoundError:
            return
        except InvalidJob as e:
            self._quarantine(staged, "pending", str(e))
            return
        log.warning("restoring %s to %s/ after an interrupted transition", job_id, job.status)
        os.rename(staged, self.paths.job(job.status, job_id))
        if isinstance(job, PendingJob):
            self._index.append([entry_of(job)])

    def _recover_running_duplicates(self) -> None:
        for job_id in _fs.list_names(self.paths.status_dir("running")):
            if not self._later_copies(job_id):
                continue
            with self._job_lock(job_id):  # look again: a live move may have just finished
                later = self._later_copies(job_id)
                if later and self.paths.job("running", job_id).exists():
                    log.warning("%s is in running/ and %s/: keeping the later", job_id, later[0])
                    _fs.unlink_quietly(self.paths.job("running", job_id))

    def _later_copies(self, job_id: str) -> list[Status]:
        """Statuses other than running that hold this id (each is later than running)."""
        return [s for s in STATUSES if s != "running" and self.paths.job(s, job_id).exists()]


def _same_attempt(job: RunningJob, current: Job | None) -> bool:
    """A heartbeat changes neither the start nor the history; a new claim changes the
    history (its start alone can repeat when a retry is claimed in the same instant)."""
    if not isinstance(current, RunningJob):
        return False
    return (current.started_at, current.attempts) == (job.started_at, job.attempts)


def _orphaned_tmp(entry: os.DirEntry[str]) -> bool:
    """A temp file is ``<name>.<owner>.<random>.tmp`` (``<name>`` may hold dots): orphaned
    once its owner is gone, or once it is an hour old (no write takes that long)."""
    parts = entry.name.rsplit(".", 3)
    if len(parts) == 4 and not token_alive(parts[1]):
        return True
    try:
        return time.time() - entry.stat().st_mtime > _ORPHAN_TMP_AGE
    except FileNotFoundError:
        return False  # renamed into place meanwhile


def _remove_tree(path: Path) -> None:
    try:
        entries = list(os.scandir(path))
    except FileNotFoundError:
        return
    for entry in entries:
        _fs.unlink_quietly(Path(entry.path))
    try:
        os.rmdir(path)
    except OSError as e:
        raise StoreError(f"cannot remove {path}: {e}") from None
