"""Repairs after a crash. ``FileStore.recover`` runs them before a process first writes,
and the reaper runs them again each time it looks for lost jobs, so a long-lived
worker also repairs what another process left when it was killed.

What a crash at each step leaves, and what is done about it:

* temp file written, not yet renamed (or linked, not yet unlinked): an orphan in
  ``.tmp/`` -> deleted; the write did not happen (or did, and is complete).
* unique key written, job file not yet: a key naming no job -> reads as free (unique).
* job renamed into ``.staging/``, new file not yet written -> put back into the
  directory its ``status`` names (nothing happened).
* staged and new file written, staged copy not yet removed -> the visible copy is the
  later state; the staged one is deleted.
* a claimed job's original in ``.claimed/`` (see ``claims``), its owner gone -> after
  one write barrier, deleted if a readable copy of the job is in a status directory
  (the running file: the reaper returns it; or the end of its attempt); otherwise (a
  power loss took the unsynced running or end file) put back into pending/, and an
  unreadable copy is quarantined.
* running -> X (complete, failed, pending, cancelled): X is written before running/ is
  unlinked, so a job in running/ and elsewhere -> the other copy is the later state
  (the store also refuses to move such a running copy: JobFiles._refuse_superseded).
* a cancel request whose job is no longer running -> deleted (claim deletes one too,
  so a request never reaches a later attempt).
* a job file in pending/ that the index never heard of -> found by the index's
  reconcile (a listing of pending/ when idle, and once soon after a process starts);
  the jobs recovery itself puts into pending/ are announced to the index at once.
* enqueue_many: see ``batches`` (rolled back without COMMIT, forward with it).

Only leftovers whose owner process is gone are touched (names carry the owner's pid
and start time), and every job-level repair happens under the job's lock, so recovery
is safe while other processes work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ... import codec
from ...errors import InvalidJob
from ...job import STATUSES, PendingJob
from ...process import token_alive
from . import _fs, batches
from .job_files import JobFiles
from .layout import Layout, batch_owner, staged_parts, tmp_owner

#: Tells every process's pending index about jobs put back into pending/.
Announce = Callable[[Sequence[PendingJob]], None]

log = logging.getLogger(__name__)

ORPHAN_TMP_AGE = 3600.0  # no single write takes an hour


def recover(store: JobFiles, announce: Announce) -> None:
    """One pass over every kind of leftover; an OSError is one StoreError for the caller."""
    try:
        _temp_files(store)
        _batches(store, announce)
        _staging(store, announce)
        _claimed(store, announce)
        _running_duplicates(store)
        _cancel_requests(store)
    except OSError as e:
        raise _fs.store_error(e, "repair the data directory") from e


def is_orphaned_tmp(entry: os.DirEntry[str]) -> bool:
    """Shared with doctor and the schedule files: whose temp file may go, and when."""
    owner = tmp_owner(entry.name)
    if owner is None or not token_alive(owner):
        return True
    try:
        return time.time() - entry.stat().st_mtime > ORPHAN_TMP_AGE
    except FileNotFoundError:
        return False  # renamed into place meanwhile


def is_dead_batch(entry: os.DirEntry[str]) -> bool:
    """Shared with doctor: a live writer's batch is work in progress, never a leftover."""
    owner = batch_owner(entry.name)
    return owner is None or not token_alive(owner)


def is_dead_staged(entry: os.DirEntry[str]) -> bool:
    """Shared with doctor: a staged or claimed file is a leftover once its owner is gone."""
    parts = staged_parts(entry.name)
    return parts is None or not token_alive(parts[1])


def _temp_files(store: JobFiles) -> None:
    for entry in os.scandir(store.paths.tmp):
        if is_orphaned_tmp(entry):
            _fs.unlink_quietly(Path(entry.path))


def _batches(store: JobFiles, announce: Announce) -> None:
    for entry in os.scandir(store.paths.batches):
        if not is_dead_batch(entry):
            continue
        batch = Path(entry.path)
        if entry.is_dir() and batches.is_committed(batch):
            log.warning("finishing an interrupted enqueue_many batch %s", entry.name)
            job_ids = _fs.list_names(batch)
            batches.publish(store.paths, batch, sync_pending=store.durable)
            _announce(store, announce, job_ids)
        else:
            batches.remove_tree(batch)


def _announce(store: JobFiles, announce: Announce, job_ids: list[str]) -> None:
    """Tell the pending index about jobs a repair put into pending/: its listing of
    pending/ runs only when a claim finds nothing, so a busy queue would be slow to
    find them."""
    jobs = []
    for job_id in job_ids:
        with contextlib.suppress(InvalidJob):  # a foreign name, or quarantined: logged
            job = store.get(job_id)
            if isinstance(job, PendingJob):
                jobs.append(job)
    announce(jobs)


def _staging(store: JobFiles, announce: Announce) -> None:
    for entry in os.scandir(store.paths.staging):
        parts = staged_parts(entry.name)
        if parts is None:
            store.quarantine_file(Path(entry.path), "a foreign file in .staging/")
        elif is_dead_staged(entry):
            with store.job_lock(parts[0]):
                _restore(store, announce, Path(entry.path), parts[0])


def _restore(store: JobFiles, announce: Announce, staged: Path, job_id: str) -> None:
    if any(store.paths.job(s, job_id).exists() for s in STATUSES):
        _fs.unlink_quietly(staged)  # the transition finished: the visible copy is newer
        return
    try:
        job = codec.decode(_fs.read_file(staged), source=str(staged))
    except FileNotFoundError:
        return
    except (InvalidJob, _fs.NotAFile) as e:
        store.quarantine_file(staged, str(e))
        return
    log.warning("restoring %s to %s/ after an interrupted transition", job_id, job.status)
    os.rename(staged, store.paths.job(job.status, job_id))
    if isinstance(job, PendingJob):
        announce([job])


def _claimed(store: JobFiles, announce: Announce) -> None:
    dead = []
    for entry in os.scandir(store.paths.claimed):
        parts = staged_parts(entry.name)
        if parts is None:
            store.quarantine_file(Path(entry.path), "a foreign file in .claimed/")
        elif is_dead_staged(entry):
            dead.append((Path(entry.path), parts[0]))
    if not dead:
        return
    grouped = store.durable and _fs.has_syncfs()
    if grouped:  # what a dead owner wrote without an fsync is on disk before its originals go
        _fs.syncfs(store.paths.root)
    for original, job_id in dead:
        with store.job_lock(job_id):
            copy = _readable_copy(store, job_id)
            if copy is None:
                _unclaim(store, announce, original, job_id)
                continue
            if store.durable and not grouped:
                _fs.sync_tree(store.paths.root, [copy])
                _fs.fsync_dir(copy.parent)
            _fs.unlink_quietly(original)


def _unclaim(store: JobFiles, announce: Announce, original: Path, job_id: str) -> None:
    """Back into pending/, where it was claimed from (whatever status its file says: a
    file moved into pending/ by hand is run again)."""
    job = store.read_staged(original, "pending")
    if job is None:
        return  # gone, or quarantined with its bytes intact
    log.warning("returning %s to pending/: the end of its attempt was not on disk", job_id)
    os.rename(original, store.paths.job("pending", job_id))
    if isinstance(job, PendingJob):
        announce([job])


def _readable_copy(store: JobFiles, job_id: str) -> Path | None:
    """A good copy of the job in a status directory (a bad one is quarantined, bytes
    intact, by the read)."""
    for status in STATUSES:
        with contextlib.suppress(InvalidJob):
            if store.load(status, job_id) is not None:
                return store.paths.job(status, job_id)
    return None


def _running_duplicates(store: JobFiles) -> None:
    for job_id in _fs.list_names(store.paths.status_dir("running")):
        if not store.paths.later_copies(job_id):
            continue
        with store.job_lock(job_id):  # look again: a live move may have just finished
            later = store.paths.later_copies(job_id)
            if later and store.paths.job("running", job_id).exists():
                log.warning("%s is in running/ and %s/: keeping the later", job_id, later[0])
                _fs.unlink_quietly(store.paths.job("running", job_id))


def orphan_cancel_requests(paths: Layout) -> list[str]:
    """Ids with a cancel request but no file in running/."""
    running = paths.status_dir("running")
    names = _fs.list_names(paths.cancel)
    return [i for i in names if not os.path.lexists(running / f"{i}.json")]


def _cancel_requests(store: JobFiles) -> None:
    for job_id in orphan_cancel_requests(store.paths):
        with store.job_lock(job_id):  # request_cancel writes under this lock
            if not os.path.lexists(store.paths.job("running", job_id)):
                _fs.unlink_quietly(store.paths.cancel_request(job_id))
