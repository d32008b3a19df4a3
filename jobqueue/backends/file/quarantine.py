"""``jobs/.quarantine/``: where unreadable job files go, bytes intact, and how a person
gets them back.

A corrupt file must neither be lost nor retried forever, so it is moved aside (the
move keeps bytes, mode and even a symlink as it was: nothing is read through it) and
counted in ``stats``; ``jobqueue doctor`` reports what waits there for a person, and
``jobqueue quarantine`` lists, shows and restores it (``Quarantine``).

Names are ``<status>~<original name>.json``, shortened so that any name that fits in a
directory still fits here, with ``~2``, ``~3``... when a name is taken. The move never
replaces an existing entry (``_fs.rename_noreplace``): two processes quarantining at
once cannot overwrite each other's file. The reason is logged when the file is moved,
not kept beside it: a listing says why each file cannot go back *now*, by reading it
the way the store would, which is also what a person who fixed it wants to know.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from ... import codec
from ...errors import InvalidJob, JobQueueError
from ...job import STATUSES, Job, PendingJob, RunningJob
from . import _fs
from .layout import Layout
from .unique import UniqueKeys

log = logging.getLogger(__name__)

_MAX_STEM = 160  # bytes: leaves room for the status, a counter and ".json" within NAME_MAX
_ATTEMPTS = 1000


def quarantine_name(status: str, name: str) -> str:
    """The base name a file of ``status``/``name`` gets in quarantine."""
    import hashlib  # with its OpenSSL, ~3 ms of a one-shot command: only for long names

    stem = name.removesuffix(".json")
    raw = os.fsencode(stem)
    if len(raw) > _MAX_STEM:
        digest = hashlib.sha256(raw).hexdigest()[:12]
        stem = f"{os.fsdecode(raw[:_MAX_STEM]).rstrip()}-{digest}"
    return f"{status}~{stem}"


def move_aside(quarantine: Path, path: Path, status: str, reason: str) -> Path | None:
    """Move ``path`` into ``quarantine``; None if it was gone already or cannot be moved
    (a read-only tree: it is then just skipped, and found again next time)."""
    base = quarantine_name(status, path.name)
    for n in range(1, _ATTEMPTS + 1):
        dst = quarantine / (f"{base}.json" if n == 1 else f"{base}~{n}.json")
        try:
            _fs.rename_noreplace(path, dst)
        except FileExistsError:
            continue
        except FileNotFoundError:
            return None  # someone else moved or fixed it first
        except OSError as e:
            log.error("cannot quarantine %s (%s): %s", path, reason, e)
            return None
        log.error("quarantined %s: %s (bytes kept in %s)", path.name, reason, dst)
        return dst
    log.error("cannot quarantine %s: %d names taken", path, _ATTEMPTS)
    return None


# --- for a person: list, show, restore ------------------------------------------------------


class QuarantineError(JobQueueError):
    """No such file in quarantine, or one that cannot go back (it still does not parse,
    or its job id is taken): it stays where it is."""


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One entry of ``.quarantine/``, as it reads now."""

    name: str
    path: Path
    size: int
    modified: datetime
    #: The status directory it was moved out of, as its name says (None: a foreign name).
    found_in: str | None
    #: What it parses to now, or None.
    job: Job | None
    #: Why ``restore`` would refuse it now; None when it would put it back.
    problem: str | None

    @property
    def job_id(self) -> str | None:
        """The id it holds, else the one its name carries (``<status>~<id>[~...].json``)."""
        if self.job is not None:
            return self.job.metadata.id
        parts = self.name.removesuffix(".json").split("~")
        return parts[1] if len(parts) > 1 else None


class _Store(Protocol):
    """What ``Quarantine`` uses of ``FileStore`` (named structurally: the store's module
    imports this one)."""

    paths: Layout
    durable: bool
    owner: str

    def get(self, job_id: str) -> Job | None: ...
    def job_lock(self, job_id: str) -> _fs.FileLock: ...
    def write_bytes(self, dst: Path, data: bytes, *, sync: bool | None = None) -> None: ...
    def announce(self, jobs: Sequence[PendingJob]) -> None: ...


class Quarantine:
    """``.quarantine/`` for a person: what waits there, and putting a fixed file back
    by the store's rules (parsed, its id free, written atomically, announced)."""

    def __init__(self, store: _Store) -> None:
        self._store = store
        self._dir = store.paths.quarantine
        self._keys = UniqueKeys(store.paths, get=store.get, write=store.write_bytes)

    def entries(self) -> list[Quarantined]:
        """Every entry, by name."""
        with _fs.as_store_error("list the quarantine"):
            try:
                names = sorted(os.listdir(self._dir))
            except FileNotFoundError:
                return []
        found = (self._inspect(name) for name in names)
        return [entry for entry in found if entry is not None]

    def get(self, name: str) -> Quarantined:
        """One entry by its name (``.json`` may be left out)."""
        name = self._name(name)
        entry = self._inspect(name)
        if entry is None and not name.endswith(".json"):
            entry = self._inspect(f"{name}.json")
        if entry is None:
            raise QuarantineError(f"no file {name!r} in quarantine")
        return entry

    def of_job(self, job_id: str) -> list[Quarantined]:
        """The entries that hold this job, or are named after it."""
        return [entry for entry in self.entries() if entry.job_id == job_id]

    def read(self, name: str) -> bytes:
        """The bytes of an entry; QuarantineError for one that is not a regular file."""
        path = self._dir / self._name(name)
        with _fs.as_store_error(f"read {path}"):
            try:
                return _fs.read_file(path)
            except FileNotFoundError:
                raise QuarantineError(f"no file {name!r} in quarantine") from None
            except (_fs.NotAFile, PermissionError) as e:
                raise QuarantineError(f"{path.name} cannot be read: {e}") from None

    def restore(self, name: str) -> Job:
        """Put an entry back into its status directory: QuarantineError, and nothing
        changes, if it still does not parse or a job with its id exists elsewhere.

        The file's own bytes are written (a temp file, synced on a durable store, renamed
        into place without replacing anything), then the entry is removed: a crash in
        between leaves both, never neither. A pending job is announced to the pending
        index; a job that holds a unique key holds it again, beside any job that took it
        meanwhile (as after a retry). No event is recorded: the job's history did not
        change."""
        entry = self.get(name)
        if entry.job is None or entry.problem is not None:
            raise QuarantineError(f"{entry.name} stays in quarantine: {entry.problem}")
        job = entry.job
        with _fs.as_store_error(f"restore {entry.name}"), self._store.job_lock(job.metadata.id):
            data = self.read(entry.name)
            if self._parse(data, entry.name)[0] != job:
                raise QuarantineError(f"{entry.name} changed meanwhile: look at it again")
            self._refuse_taken(job, entry.name)
            self._write_back(job, data)
            _fs.unlink_quietly(entry.path)
            if self._store.durable:
                _fs.fsync_dir(self._dir)
        if isinstance(job, PendingJob):
            self._store.announce([job])
        log.info("restored %s to %s/", entry.name, job.status)
        return job

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _name(name: str) -> str:
        """A plain entry name: never a path out of the directory (bad input, exit 2)."""
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise InvalidJob(f"not a file name in quarantine: {name!r}")
        return name

    def _inspect(self, name: str) -> Quarantined | None:
        """None when there is no such entry (or it went meanwhile)."""
        path = self._dir / name
        try:
            st = path.lstat()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _fs.store_error(e, f"read {path}") from e
        job, problem = self._diagnose(path)
        found_in = name.split("~", 1)[0] if "~" in name else None
        return Quarantined(
            name=name,
            path=path,
            size=st.st_size,
            modified=datetime.fromtimestamp(st.st_mtime, UTC),
            found_in=found_in if found_in in STATUSES else None,
            job=job,
            problem=problem,
        )

    def _diagnose(self, path: Path) -> tuple[Job | None, str | None]:
        """What the file parses to, and why it could not go back now (None: it could)."""
        try:
            data = _fs.read_file(path)
        except FileNotFoundError:
            return None, "it is gone"
        except (_fs.NotAFile, PermissionError) as e:
            return None, f"cannot be read: {e}"
        except OSError as e:
            raise _fs.store_error(e, f"read {path}") from e
        job, problem = self._parse(data, path.name)
        if job is not None:
            problem = self._taken(job)
        return job, problem

    @staticmethod
    def _parse(data: bytes, name: str) -> tuple[Job | None, str | None]:
        try:
            return codec.decode(data, source=name), None
        except InvalidJob as e:  # the name is shown beside the problem: said once is enough
            return None, str(e).removeprefix(f"{name}: ")

    def _taken(self, job: Job) -> str | None:
        """Where a job with this id already is: a status directory, or in flight."""
        job_id = job.metadata.id
        paths = self._store.paths
        statuses = [s for s in STATUSES if os.path.lexists(paths.job(s, job_id))]
        if statuses:
            return f"job {job_id} is already in {', '.join(statuses)}/"
        prefix = f"{job_id}~"
        for directory in (paths.staging, paths.claimed):
            if any(name.startswith(prefix) for name in _names(directory)):
                return f"job {job_id} is being moved by another process"
        return None

    def _refuse_taken(self, job: Job, name: str) -> None:
        problem = self._taken(job)
        if problem is not None:
            raise QuarantineError(f"{name} stays in quarantine: {problem}")

    def _write_back(self, job: Job, data: bytes) -> None:
        """Under the job's lock (and its key's, held as a retry holds it)."""
        key = job.metadata.unique_key if isinstance(job, PendingJob | RunningJob) else None
        lock: AbstractContextManager[None] = self._keys.lock(key) if key else nullcontext()
        with lock:
            if key:
                self._keys.add_holder(key, job.metadata.id)
            dst = self._store.paths.job(job.status, job.metadata.id)
            tmp = self._store.paths.tmp_file(dst.name, self._store.owner)
            try:
                _fs.link_atomic(dst, data, tmp, durable=self._store.durable)
            except FileExistsError:
                raise QuarantineError(f"job {job.metadata.id} appeared in {job.status}/") from None


def _names(directory: Path) -> list[str]:
    try:
        return os.listdir(directory)
    except FileNotFoundError:
        return []
