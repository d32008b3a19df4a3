"""FileStore: jobs as JSON files in one directory per status.

The design note, docs/file-backend.md, tells the whole story: each hidden directory,
the path of each transition, the crash steps and the group commit.

Layout (everything that is not a job file lives in a hidden entry under ``jobs/``)::

    jobs/<status>/<id>.json   the jobs
    jobs/.tmp/                temp files, renamed into place once written
    jobs/.staging/            a job taken out of pending/, failed/ or cancelled/ by rename
    jobs/.claimed/            the pending file of a running job, until its end is on disk
    jobs/.batches/            enqueue_many: files wait here until the batch commits
    jobs/.locks/              lock stripes (never deleted: deleting a lock file races)
    jobs/.index/              the pending index log (see pending_index)
    jobs/.unique/             unique_key -> ids of the jobs that may hold it (see unique)
    jobs/.cancel/             cancel requests for running jobs
    jobs/.quarantine/         unreadable job files, bytes intact
    jobs/.events/             the event log, one file per hour (see event_log)
    jobs/.workers/            one record per live worker (see workers)
    jobs/.shared/             small state shared by every process (see shared)

Concurrency rules:

* Leaving ``pending/`` (claim, cancel, remove) and leaving ``failed/``/``cancelled/``
  (retry) starts with a rename of the file into ``.staging/`` (``.claimed/`` for a
  claim, see ``claims``): exactly one process wins it, and the loser sees
  FileNotFoundError and moves on. No lock is needed to win.
* Every other write to a job's visible files happens under its lock stripe, and so does
  the rest of a staged transition (the lock is taken after the rename).
* Compare-and-set: before replacing a job, the stored document is read back and must
  equal the ``old`` job the caller names, else StaleJob.
* A failed write (full disk, read-only tree) changes nothing: a staged job is renamed
  back, temp files are removed, and the caller gets one StoreError naming the cause.

The file primitives (safe reads, atomic writes, quarantine, in-place moves) live in
``job_files``. What a crash at each step leaves behind, and how it is repaired: see
``recovery``; the step names passed to ``faults`` are listed in tests/workers/crash_scenarios.py.
"""

from __future__ import annotations

import heapq
import logging
import os
import time
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from ... import codec, transitions
from ...backend import refuse_running
from ...errors import InvalidJob, StaleJob, StoreError
from ...job import ENDED, STATUSES, Job, PendingJob, RunningJob, Status, WorkerInfo
from ..batch import dedupe
from . import _fs, batches, recovery
from .claims import Claims
from .job_files import EPOCH, JobFiles, copies_in
from .listing import Listings, beyond
from .pending_index import Entry, PendingIndex
from .spares import Spares
from .unique import UniqueKeys

log = logging.getLogger(__name__)


def to_us(at: datetime) -> int:
    """The index keeps times as integers: cheap to parse, compare and write."""
    return (at - EPOCH) // timedelta(microseconds=1)


def _close(claims: Claims, spares: Spares) -> None:
    claims.flush()
    spares.clear()


def entry_of(job: PendingJob) -> Entry:
    """The index line every writer appends once it has put a job into pending/."""
    m = job.metadata
    return Entry(m.priority, to_us(m.run_at), m.id, m.type)


class FileStore(JobFiles):
    """The jobs part of ``FileBackend``. Thread-safe; any number of processes may share a
    data dir."""

    def __init__(
        self,
        root: str | Path,
        *,
        durable: bool = True,
        create: bool = True,
        rescan_interval: float = 2.0,
        faults: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(root, durable=durable, create=create, faults=faults)
        self.rescan_interval = rescan_interval
        self._last_rescan = time.monotonic()
        self._recovered = False
        self._listings = Listings()
        self._index = PendingIndex(self.paths.index, self.paths.status_dir("pending"), self._entry)
        self._keys = UniqueKeys(self.paths, get=self.get, write=self.write_bytes)
        self._claims = Claims(self.paths.root, durable=durable, retire=self._spares.put)
        # At exit, or when the store is collected: sync the last group of ends, and
        # delete the spare files nobody will fill.
        self._close = weakref.finalize(self, _close, self._claims, self._spares)

    def __repr__(self) -> str:
        return f"FileStore({str(self.paths.root)!r}, durable={self.durable})"

    def close(self) -> None:
        """Sync the last group of ends and delete the spare files (also done at exit)."""
        self._close()

    # --- small helpers -----------------------------------------------------------------

    def announce(self, jobs: Sequence[PendingJob]) -> None:
        """Tell every process's pending index about jobs now in pending/. The jobs are
        stored already: if the line cannot be written, reconcile finds their files."""
        try:
            self._index.append(entry_of(j) for j in jobs)
        except OSError as e:
            log.warning("could not announce %d job(s) in the pending index: %s", len(jobs), e)

    def _ensure_recovered(self) -> None:
        if not self._recovered:
            self._recovered = True
            self.recover()

    def recover(self) -> None:
        """Repair what a crash left behind (see ``recovery``); idempotent."""
        recovery.recover(self, self.announce)

    # --- reading -------------------------------------------------------------------------

    def _entry(self, job_id: str) -> Entry | None:
        """The index entry of a pending file (for reconcile)."""
        try:
            job = self._load(self.paths.job("pending", job_id), "pending")
        except InvalidJob:
            return None
        return entry_of(job) if isinstance(job, PendingJob) else None

    def scan(
        self,
        statuses: Collection[Status],
        job_type: str | None = None,
        *,
        newest_first: bool = False,
        after: str | None = None,
    ) -> Iterator[Job]:
        """Sorted by id, which is creation time, so ``after`` pages without an offset: the
        directories' sorted listings (kept while unchanged) are merged lazily."""
        with _fs.as_store_error("list jobs"):
            streams = [
                _tagged(
                    beyond(
                        self._listings.sorted_ids(self.paths.status_dir(status)),
                        after,
                        newest_first=newest_first,
                    ),
                    status,
                )
                for status in statuses
            ]
        for job_id, status in heapq.merge(*streams, reverse=newest_first):
            try:
                job = self._load(self.paths.job(status, job_id), status)
            except InvalidJob:
                continue  # quarantined and logged
            if job is not None and (job_type is None or job.metadata.type == job_type):
                yield job

    def counts(self, now: datetime) -> Mapping[str, int]:
        """Exact: the pending index is matched to a listing of pending/ first."""
        with _fs.as_store_error("count jobs"):
            return self._counts(now)

    def _counts(self, now: datetime) -> Mapping[str, int]:
        now_us = to_us(now)
        self._index.refresh(now_us, exact=True)
        pending, delayed = self._index.counts(now_us)
        counts = {"pending": pending, "delayed": delayed}
        for status in STATUSES[1:]:
            counts[status] = self._listings.count(self.paths.status_dir(status))
        counts["quarantined"] = _fs.count_entries(self.paths.quarantine)
        counts["total"] = sum(counts[s] for s in STATUSES)
        return counts

    # --- adding --------------------------------------------------------------------------

    def add(self, jobs: Sequence[PendingJob]) -> list[Job]:
        """The jobs are announced before pending/ is fsynced: a worker may start one while
        this call makes it durable (the file itself is synced before it is linked in),
        which takes an idle worker's wake-up off the directory fsync."""
        with _fs.as_store_error("add jobs"):
            self._ensure_recovered()
            results, fresh = self._add_under_key_locks(jobs)
        self._step("add:written")
        self.announce(fresh)
        if fresh and self.durable:
            with _fs.as_store_error("add jobs"):
                _fs.fsync_dir(self.paths.status_dir("pending"))
        for job in fresh:
            self._record(None, job)
        return results

    def _add_under_key_locks(
        self, jobs: Sequence[PendingJob]
    ) -> tuple[list[Job], list[PendingJob]]:
        """Keys are written before the job files: a crash in between leaves a key naming
        no job, which reads as free (see unique)."""
        keys = {j.metadata.unique_key for j in jobs if j.metadata.unique_key}
        with self._keys.lock_all(keys):
            results, fresh = dedupe(jobs, self._keys.holder, self._exists)
            for job in fresh:
                if job.metadata.unique_key:
                    self._keys.hold(job.metadata.unique_key, job.metadata.id)
            self._step("add:keys-held")
            if len(fresh) == 1:
                self._add_one(fresh[0])
            elif fresh:
                batch = batches.write_batch(
                    self.paths, fresh, self.owner, durable=self.durable, step=self._step
                )
                self._step("add:batch-committed")
                batches.publish(self.paths, batch, sync_pending=False, step=self._step)
        return results, fresh

    def _add_one(self, job: PendingJob) -> None:
        dst = self.paths.job("pending", job.metadata.id)
        tmp = self.paths.tmp_file(dst.name, self.owner)
        try:
            data = codec.encode(job)
            _fs.link_atomic(dst, data, tmp, durable=self.durable, step=self._step, sync_dir=False)
        except FileExistsError:
            raise InvalidJob(f"job id {job.metadata.id!r} is already taken") from None

    def import_jobs(self, jobs: Sequence[Job]) -> list[bool]:
        """Each job is linked into its status dir under its lock, never clobbering: an
        id found in any status dir (or a file that appears meanwhile) is skipped. No
        event is recorded. A pending job joins its key's holders, as a retry does, so
        it holds the key when it is free and shares it otherwise."""
        refuse_running(jobs)
        with _fs.as_store_error("import jobs"):
            self._ensure_recovered()
            stored = [self._import_one(job) for job in jobs]
            fresh = [j for j, s in zip(jobs, stored, strict=True) if s]
            if fresh and self.durable:
                for status in sorted({j.status for j in fresh}):
                    _fs.fsync_dir(self.paths.status_dir(status))
        self.announce([j for j in fresh if isinstance(j, PendingJob)])
        return stored

    def _import_one(self, job: Job) -> bool:
        job_id = job.metadata.id
        with self.job_lock(job_id):
            if self._exists(job_id) or self._in_staging(job_id):
                return False
            key = job.metadata.unique_key
            if not (isinstance(job, PendingJob) and key):
                return self._link_new(job)
            with self._keys.lock(key):  # job lock, then key lock: as a retry takes them
                self._keys.add_holder(key, job_id)
                return self._link_new(job)

    def _link_new(self, job: Job) -> bool:
        """Write ``job`` into its status dir unless a file has its name (then False)."""
        dst = self.paths.job(job.status, job.metadata.id)
        tmp = self.paths.tmp_file(dst.name, self.owner)
        try:
            data = codec.encode(job)
            _fs.link_atomic(dst, data, tmp, durable=self.durable, step=self._step, sync_dir=False)
        except FileExistsError:
            return False
        return True

    # --- claiming --------------------------------------------------------------------------

    def claim(
        self, worker: WorkerInfo, now: datetime, types: Collection[str] | None = None
    ) -> RunningJob | None:
        """The index says which file to try; the rename out of pending/ is the claim."""
        with _fs.as_store_error("claim a job"):
            self._ensure_recovered()
            now_us = to_us(now)
            self._index.refresh(now_us)
            job = self._claim_from_index(worker, now, now_us, types)
            due = time.monotonic() - self._last_rescan >= self.rescan_interval
            never = not self._index.reconciled
            if (job is None and (due or never)) or (due and never):
                # Idle, or busy since we started: look for files the index missed (moved in
                # by hand, a crashed writer). Not before the first claim: see pending_index.
                self._last_rescan = time.monotonic()
                self._index.reconcile(now_us)
                if job is None:
                    job = self._claim_from_index(worker, now, now_us, types)
        if job is None and self._claims.due():
            self.flush()  # idle, and the oldest end waited long enough (see claims)
        return job

    def claim_many(
        self, worker: WorkerInfo, now: datetime, limit: int, types: Collection[str] | None = None
    ) -> list[RunningJob]:
        """One claim after another: each is a rename of its own, there is nothing to batch.
        A failure after some claims hands those over; the next claim reports it."""
        claimed: list[RunningJob] = []
        while len(claimed) < limit:
            try:
                job = self.claim(worker, now, types)
            except StoreError:
                if claimed:
                    break
                raise
            if job is None:
                break
            claimed.append(job)
        return claimed

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
        original = self.paths.claimed_file(job_id, self.owner)
        try:
            os.rename(src, original)  # the claim itself: exactly one process wins
        except FileNotFoundError:
            return None
        self._step("claim:taken")
        with self.job_lock(job_id):
            job = self.read_staged(original, "pending")
            if not isinstance(job, PendingJob):
                return None
            # Re-read after the rename: the file may differ from the index (moved or
            # edited by hand, or retried with a later run_at since the line was read).
            if (types is not None and job.metadata.type not in types) or job.metadata.run_at > now:
                self._put_back(original, src, job)
                return None
            running = self._start(job, original, worker, now)
        self._record(job, running)
        return running

    def _start(
        self, job: PendingJob, original: Path, worker: WorkerInfo, now: datetime
    ) -> RunningJob:
        """Write the running file without an fsync: until the attempt ends, the original
        kept in .claimed/ is the job's durable copy (see claims)."""
        job_id = job.metadata.id
        running = transitions.start(job, worker, now)
        try:
            # A cancel request left over from an earlier attempt must not stop this one.
            _fs.unlink_quietly(self.paths.cancel_request(job_id))
            self._write(self.paths.job("running", job_id), running, sync=False)
        except BaseException:
            # A full disk, say: leaving the job in .claimed/ would hide it until we exit.
            self._put_back(original, self.paths.job("pending", job_id), job)
            raise
        self._claims.hold(job_id, original)
        self._step("claim:written")
        return running

    def _put_back(self, staged: Path, src: Path, job: PendingJob) -> None:
        """Return a staged or claimed job to pending/ and to every index (another
        process's index dropped it when its claim lost the rename to ours)."""
        self._claims.give_back(job.metadata.id)
        self._restore(staged, src)
        self.announce([job])

    def next_due(self, types: Collection[str] | None = None) -> datetime | None:
        """When a job of these types is due (for a worker's timer; see the protocol)."""
        with _fs.as_store_error("read the pending index"):
            us = self._index.next_due_us(types)
        return None if us is None else EPOCH + timedelta(microseconds=us)

    # --- changing ----------------------------------------------------------------------------

    def move(self, old: Job, new: Job) -> None:
        """A rename where one process must win (leaving pending/, or a retry), else a
        compare-and-set in place under the job's lock."""
        if old.metadata.id != new.metadata.id:
            raise ValueError("move() keeps the id")
        with _fs.as_store_error(f"move job {old.metadata.id} to {new.status}"):
            self._ensure_recovered()
            if old.status == "pending" or (old.status in ENDED and new.status == "pending"):
                self._move_by_rename(old, new)
            else:
                self._move_ours(old, new)
        self._step("move:done")
        if isinstance(new, PendingJob):
            self.announce([new])
        self._record(old, new)

    def _move_ours(self, old: Job, new: Job | None) -> None:
        """A move in place; the end of an attempt this store claimed lets its original go
        after the next barrier (see claims)."""
        job_id = old.metadata.id
        ending = old.status == "running" and (new is None or new.status != "running")
        sync = self._claims.sync_write(job_id, ending=ending)
        self._move_in_place(old, new, sync=sync, claimed_here=self._claims.holds(job_id))
        if (ending and self._claims.ended(job_id)) or self._claims.due():
            self.flush()  # a full or old group: a heartbeat syncs it too (see claims)

    def flush(self) -> None:
        """Make every end this store wrote durable now (see claims); the worker calls it
        when it stops."""
        with _fs.as_store_error("sync ended jobs to disk"):
            self._claims.flush(self._step)

    def _move_by_rename(self, old: Job, new: Job | None) -> None:
        """Take the file by rename (no lock needed to win), then finish under the lock."""
        job_id = old.metadata.id
        src = self.paths.job(old.status, job_id)
        staged = self.paths.staged_file(job_id, self.owner)
        try:
            os.rename(src, staged)
        except FileNotFoundError:
            raise StaleJob(job_id, old.status) from None
        self._step("move:staged")
        with self.job_lock(job_id):
            current = self.read_staged(staged, old.status)
            if current != old:
                if current is not None:
                    self._restore(staged, src)
                raise StaleJob(job_id, old.status)
            if new is not None:
                try:
                    self._write_new(old, new)
                except BaseException:
                    self._restore(staged, src)  # nothing happened: the job keeps its state
                    raise
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

    def delete(self, job: Job) -> None:
        """Drops the job's claimed originals too, so recovery cannot bring it back."""
        with _fs.as_store_error(f"delete job {job.metadata.id}"):
            self._ensure_recovered()
            self._delete(job)
        self._step("delete:done")

    def _delete(self, job: Job) -> None:
        if job.status == "pending":
            self._move_by_rename(job, None)
            self._index.discard(job.metadata.id)
        else:
            self._move_ours(job, None)
        self._drop_originals(job.metadata.id)

    def _drop_originals(self, job_id: str) -> None:
        """A deleted job's originals still waiting for a barrier (in any process) go now:
        recovery would otherwise take one for an end lost to a power loss and put the
        job back (see claims)."""
        originals = copies_in(self.paths.claimed, job_id)
        for original in originals:
            _fs.unlink_quietly(original)
        if originals and self.durable:
            _fs.fsync_dir(self.paths.claimed)

    # --- monitoring ------------------------------------------------------------------------

    def oldest_due(self, now: datetime) -> datetime | None:
        """For health: how long the due backlog has waited, read from the index alone."""
        now_us = to_us(now)
        with _fs.as_store_error("read the pending index"):
            self._index.refresh(now_us)
            us = self._index.oldest_due_us(now_us)
        return None if us is None else EPOCH + timedelta(microseconds=us)


def _tagged(ids: Iterator[str], status: Status) -> Iterator[tuple[str, Status]]:
    """``(id, status)`` for each id of one status directory, for merging by id."""
    for job_id in ids:
        yield job_id, status
