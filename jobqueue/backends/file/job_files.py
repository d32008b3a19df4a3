"""One job's files: how they are read, written, locked, quarantined and replaced.

``JobFiles`` holds the file-level rules every transition of ``FileStore`` is built from:

* reads never follow a link (``O_NOFOLLOW``) and never block on a FIFO; anything that
  is not a regular JSON job file named after its id is quarantined, bytes intact;
* writes are temp file + fsync + rename (``_fs.replace_atomic``): a reader sees the
  old document or the new one, never half of either;
* a replacement in place (``_move_in_place``) is a compare-and-set under the job's lock
  stripe, and the new file is written before the old one is unlinked, so a crash
  leaves two copies (resolved by ``recovery``), never none;
* each step of each transition calls ``faults`` with its name (crash-injection tests).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from ... import codec, transitions
from ...backend import CancelRequest
from ...errors import InvalidJob, StaleJob
from ...events import event_name, event_time
from ...ids import check_id
from ...job import STATUSES, Job, PendingJob, RunningJob, Status
from ...process import owner_token
from . import _fs
from .event_log import EventLog
from .layout import Layout
from .spares import Spares

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


#: running/ last: a job leaving running/ is written to its new directory before its
#: running copy is removed, and in that instant the new copy is the truth.
_LOOKUP_ORDER: tuple[Status, ...] = ("pending", "complete", "failed", "cancelled", "running")


class JobFiles:
    """The file primitives under a data directory (see the module docstring)."""

    def __init__(
        self,
        root: str | Path,
        *,
        durable: bool,
        create: bool = True,
        faults: Callable[[str], None] | None = None,
    ) -> None:
        self.paths = Layout.under(Path(root))
        self.durable = durable
        #: Called with the name of each step of each transition (crash-injection tests).
        self.faults = faults
        self.owner = owner_token()
        # Before creating anything: a linked jobs/ would make us create directories elsewhere.
        _fs.check_real_dirs(self.paths.root, self.paths.directories())
        if create:
            _fs.make_dirs(*self.paths.directories())
        self.event_log = EventLog(self.paths.events)
        self._spares = Spares(self.paths.tmp, self.owner)

    def write_bytes(self, dst: Path, data: bytes, *, sync: bool | None = None) -> None:
        """``sync``: fsync the file and its directory (default: if the store is durable)."""
        spare = self._spares.take()
        tmp = spare or self.paths.tmp_file(dst.name, self.owner)
        durable = self.durable if sync is None else sync
        _fs.replace_atomic(dst, data, tmp, durable=durable, step=self._step, spare=bool(spare))

    def _write(self, dst: Path, job: Job, *, sync: bool | None = None) -> None:
        self.write_bytes(dst, codec.encode(job), sync=sync)

    def _step(self, name: str) -> None:
        if self.faults is not None:
            self.faults(name)

    def job_lock(self, job_id: str) -> _fs.FileLock:
        """Every write to a job's visible files happens under it (a stripe: see layout)."""
        path = self.paths.lock_file("job", job_id)
        return _fs.file_lock(path)

    def _load(self, path: Path, status: Status) -> Job | None:
        """Read one job file: None if it is gone; quarantine and InvalidJob if it is corrupt,
        unreadable or not a regular file (a symlink is moved aside, never read through)."""
        try:
            data = _fs.read_file(path)
        except FileNotFoundError:
            return None
        except (_fs.NotAFile, PermissionError) as e:
            self._quarantine(path, status, str(e))
            raise InvalidJob(f"{status}/{path.name}: {e}") from None
        except OSError as e:
            raise _fs.store_error(e, f"read {path}") from e
        return self._decode(data, path, status)

    def load(self, status: Status, job_id: str) -> Job | None:
        """The job's copy in one status directory (see ``_load``)."""
        return self._load(self.paths.job(status, job_id), status)

    def _decode(self, data: bytes, path: Path, status: Status) -> Job:
        in_staging = path.parent in (self.paths.staging, self.paths.claimed)
        source = str(path) if in_staging else f"{status}/{path.name}"
        try:
            job = codec.decode(data, source=source, expect=None if status == "pending" else status)
        except InvalidJob as e:
            self._quarantine(path, status, str(e))
            raise
        # Staged names are <id>~<owner>~<random>.json; anywhere else the name is the id.
        name_id = path.name.split("~")[0] if in_staging else path.name.removesuffix(".json")
        if name_id != job.metadata.id:
            self._quarantine(path, status, f"{source}: file name does not match its id")
            raise InvalidJob(f"{source}: file name does not match metadata.id {job.metadata.id!r}")
        if status == "pending" and not isinstance(job, PendingJob):
            # A person moved a job file into pending/ by hand: they want it run again.
            log.warning("%s says status %r: treating it as pending", source, job.status)
            return PendingJob(metadata=job.metadata, params=job.params, attempts=job.attempts)
        return job

    def _quarantine(self, path: Path, status: Status, reason: str) -> None:
        """Move an unreadable file aside, bytes intact, so nothing is lost or retried forever."""
        from .quarantine import move_aside  # rare: not loaded by a store that reads well

        move_aside(self.paths.quarantine, path, status, reason)

    def quarantine_file(self, path: Path, reason: str) -> None:
        """Move a file aside, bytes intact (``doctor --repair``, foreign files)."""
        status = path.parent.name
        self._quarantine(path, status if status in STATUSES else "pending", reason)

    def get(self, job_id: str) -> Job | None:
        """running/ last and a few looks: a job in flight between two directories is
        still found."""
        check_id(job_id)
        for _ in range(3):  # a job in flight between two directories: look again
            for status in _LOOKUP_ORDER:
                job = self._load(self.paths.job(status, job_id), status)
                if job is not None:
                    return job
            if not self._in_staging(job_id):
                return None
            time.sleep(0.001)
        return self._staged_copy(job_id)

    def _staged_names(self, job_id: str) -> list[Path]:
        """Staged copies of this id, and claimed originals."""
        return copies_in(self.paths.staging, job_id) + copies_in(self.paths.claimed, job_id)

    def _in_staging(self, job_id: str) -> bool:
        return any(self._staged_names(job_id))

    def _staged_copy(self, job_id: str) -> Job | None:
        for path in self._staged_names(job_id):
            try:
                return codec.decode(_fs.read_file(path), source=str(path))
            except (OSError, _fs.NotAFile, InvalidJob):
                continue
        return None

    def _exists(self, job_id: str) -> bool:
        """Whether a job file has this id (an enqueue refuses a taken id). A job between
        two directories is missed for the microseconds of its move: that only matters
        to a caller reusing an id on purpose, and pending/ itself never takes it twice."""
        # lexists on plain strings: building five Paths costs more than the lstat calls
        # (docs/file-backend.md).
        jobs = str(self.paths.jobs)
        name = f"{job_id}.json"
        return any(os.path.lexists(f"{jobs}/{s}/{name}") for s in STATUSES)

    def _restore(self, staged: Path, src: Path) -> None:
        try:
            os.rename(staged, src)
        except OSError as e:  # it stays staged; recovery puts it back once we are gone
            log.error("could not put %s back into %s/: %s", src.name, src.parent.name, e)

    def read_staged(self, staged: Path, status: Status) -> Job | None:
        """None when the staged file is gone or unreadable: losing a race is not an error."""
        try:
            data = _fs.read_file(staged)
        except FileNotFoundError:
            return None  # recover() put it back: we lost nothing, just the race
        except _fs.NotAFile as e:
            self._quarantine(staged, status, str(e))
            return None
        try:
            return self._decode(data, staged, status)
        except InvalidJob:
            return None

    def _move_in_place(
        self, old: Job, new: Job | None, *, sync: bool | None = None, claimed_here: bool = False
    ) -> None:
        """``claimed_here``: this store made the claim of the running ``old``, so no copy
        a crashed process left can be beside it (the claim replaced them)."""
        job_id = old.metadata.id
        src = self.paths.job(old.status, job_id)
        with self.job_lock(job_id):
            if self._load(src, old.status) != old:
                raise StaleJob(job_id, old.status)
            ending = old.status == "running" and new is not None and new.status != "running"
            if ending and not claimed_here:
                self._refuse_superseded(job_id)
            if new is not None:
                self._write(self.paths.job(new.status, job_id), new, sync=sync)
                self._step("move:written")
            if new is None or new.status != old.status:
                # Both after the new file (a crash leaves two copies, never none), and the
                # cancel request first, so that no request outlives its attempt.
                _fs.unlink_quietly(self.paths.cancel_request(job_id))
                _fs.unlink_quietly(src)

    def _refuse_superseded(self, job_id: str) -> None:
        """A running copy beside a later one was left by a process killed in the middle of
        its final move (see recovery): drop it and refuse, or a reaper acting on it would
        put a finished job back in pending/."""
        later = self.paths.later_copies(job_id)
        if later:
            log.warning("%s is in running/ and %s/: keeping the later", job_id, later[0])
            _fs.unlink_quietly(self.paths.job("running", job_id))
            raise StaleJob(job_id, "running")

    def _record(self, old: Job | None, new: Job) -> None:
        event = event_name(old, new)
        if event is not None:
            self.event_log.append(event, new, event_time(event, new))

    def request_cancel(self, job: RunningJob, reason: str | None, now: datetime) -> bool:
        """Under the job's lock, for the same attempt only: no request reaches a later one."""
        job_id = job.metadata.id
        with _fs.as_store_error(f"ask job {job_id} to stop"), self.job_lock(job_id):
            current = self._load(self.paths.job("running", job_id), "running")
            if not transitions.same_attempt(job, current):
                return False
            data = orjson.dumps({"reason": reason, "at": codec.format_time(now)})
            self.write_bytes(self.paths.cancel_request(job_id), data)
        self._step("cancel:requested")
        self.event_log.append("cancelling", job, now)
        return True

    def cancel_requested(self, job_id: str) -> CancelRequest | None:
        """Read without a lock; an unreadable request still counts as one, but a disk
        that fails is a StoreError (it must not cancel every running job)."""
        path = self.paths.cancel_request(job_id)
        try:
            data = _fs.read_file(path)
        except FileNotFoundError:
            return None
        except _fs.NotAFile:
            return CancelRequest(reason=None, at=EPOCH)  # a planted link: asked, unreadable
        except OSError as e:
            raise _fs.store_error(e, f"read the cancel request of job {job_id}") from e
        try:
            doc = orjson.loads(data)
            return CancelRequest(reason=doc["reason"], at=datetime.fromisoformat(doc["at"]))
        except (ValueError, KeyError, TypeError):
            return CancelRequest(reason=None, at=EPOCH)  # unreadable, but asked for


def copies_in(directory: Path, job_id: str) -> list[Path]:
    """The ``<id>~...`` entries of a directory that holds a few (a plain scan: ``glob``
    compiles a pattern per call and was measurably slower; docs/file-backend.md)."""
    prefix = f"{job_id}~"
    with os.scandir(directory) as entries:
        return [Path(e.path) for e in entries if e.name.startswith(prefix)]
