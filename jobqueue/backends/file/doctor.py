"""``jobqueue doctor``: check a data directory, and with ``repair`` fix what is safe.

Checking never changes anything (it decodes files itself instead of going through the
store, which would quarantine on read). Repairs never lose a byte: a file that is
wrong where it lies is moved to ``.quarantine/`` (which then needs a person, so the
verdict stays unhealthy); crash leftovers and a running copy beside its later state
are handled by ``FileStore.recover``; lost running jobs are reaped; loose permissions
are tightened.

Kinds of finding, and what ``repair`` does:

* ``unknown``     a status dir entry that is not ``<id>.json`` as a regular file -> quarantine
* ``corrupt``     a job file that cannot be read or decoded, or names another id -> quarantine
* ``duplicate``   one id in several status dirs (by hand): the older copy -> quarantine
* ``lost``        a running job whose worker is gone (dead pid, or stale heartbeat) -> reap
* ``leftover``    what a killed process left: temp file, staged job, batch, cancel request,
                  or a running copy beside the job's later state -> recover
* ``symlink``     a symbolic link in a hidden directory (never followed) -> quarantine
* ``stray``       a non-hidden entry in jobs/ besides the status dirs -> needs a person
* ``quarantined`` a file waiting in .quarantine/ -> needs a person
* ``permissions`` readable or writable by group or others -> chmod 0600 / 0700
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ... import codec, reaper
from ...errors import InvalidJob
from ...ids import check_id
from ...job import STATUSES, RunningJob, Status
from ...process import hostname
from . import _fs, recovery
from .backend import FileCancels
from .file import FileStore
from .layout import HIDDEN


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem, named by kind, so that ``repair`` knows what it may do about it."""

    kind: str
    path: Path
    message: str
    #: Whether ``repair`` fixes it (quarantined and stray files wait for a person).
    repairable: bool = True


@dataclass
class Report:
    """What ``check`` or ``repair`` leaves for ``jobqueue doctor`` to print."""

    findings: list[Finding] = field(default_factory=list)
    repaired: int = 0

    @property
    def healthy(self) -> bool:
        """The verdict ``jobqueue doctor`` exits on."""
        return not self.findings


_QUARANTINED_BY_REPAIR = ("unknown", "corrupt", "duplicate", "symlink")


def check(store: FileStore, now: datetime, stale_after: timedelta) -> Report:
    """Every problem in the tree, without changing anything."""
    finders: list[Callable[[FileStore], Iterator[Finding]]] = [
        _status_dirs, _duplicates, _leftovers, _symlinks, _strays, _quarantined, _permissions,
    ]  # fmt: skip
    report = Report()
    for finder in finders:
        report.findings.extend(finder(store))
    report.findings.extend(_lost_jobs(store, now, stale_after))
    return report


def repair(store: FileStore, now: datetime, stale_after: timedelta) -> Report:
    """Fix what ``check`` finds where that is safe; returns what is still wrong after,
    with ``repaired`` counting the findings that are gone."""
    before = check(store, now, stale_after)
    for finding in before.findings:
        if finding.kind in _QUARANTINED_BY_REPAIR and finding.repairable:
            store.quarantine_file(finding.path, finding.message)
        elif finding.kind == "permissions":
            _tighten(finding.path)
    # reap() runs recover() first: leftovers, and running copies beside their later state.
    reaper.reap(store, FileCancels(store), now, stale_after)
    after = check(store, now, stale_after)
    still = {(f.kind, f.path) for f in after.findings}
    after.repaired = sum((f.kind, f.path) not in still for f in before.findings)
    return after


# --- job files ------------------------------------------------------------------------------


def _status_dirs(store: FileStore) -> Iterator[Finding]:
    for status in STATUSES:
        for entry in _scandir(store.paths.status_dir(status)):
            finding = _check_entry(Path(entry.path), entry, status)
            if finding is not None:
                yield finding


def _check_entry(path: Path, entry: os.DirEntry[str], status: Status) -> Finding | None:
    where = f"{status}/{entry.name}"
    stem = entry.name.removesuffix(".json")
    try:
        is_file = entry.is_file(follow_symlinks=False)
        check_id(stem)
    except (OSError, InvalidJob):
        is_file = False
    if not is_file or not entry.name.endswith(".json"):
        return Finding("unknown", path, f"{where} is not a job file (<id>.json, a regular file)")
    try:
        job = codec.decode(_fs.read_file(path), source=where, expect=status)
    except FileNotFoundError:
        return None  # moved on meanwhile
    except (OSError, _fs.NotAFile) as e:
        return Finding("corrupt", path, f"{where} cannot be read: {e}")
    except InvalidJob as e:
        return Finding("corrupt", path, str(e))
    if job.metadata.id != stem:
        return Finding("corrupt", path, f"{where}: its metadata.id is {job.metadata.id!r}")
    return None


def _duplicates(store: FileStore) -> Iterator[Finding]:
    seen: dict[str, list[Status]] = defaultdict(list)
    for status in STATUSES:
        for job_id in _fs.list_names(store.paths.status_dir(status)):
            seen[job_id].append(status)
    for job_id, statuses in seen.items():
        if len(statuses) < 2:
            continue
        for status in _older_copies(store, job_id, statuses):
            message = f"{job_id} is in {', '.join(statuses)}/: {status}/ is the older copy"
            # A running copy is what a worker killed during its final move leaves: recovery
            # drops it. Other duplicates were made by hand: the older goes to quarantine.
            kind = "leftover" if status == "running" else "duplicate"
            yield Finding(kind, store.paths.job(status, job_id), message)


def _older_copies(store: FileStore, job_id: str, statuses: list[Status]) -> list[Status]:
    """running/ is always older than any other copy (a final move writes the new file
    first); otherwise the most recently written file wins."""
    if "running" in statuses:
        return ["running"]
    mtimes = {}
    for status in statuses:
        try:
            mtimes[status] = store.paths.job(status, job_id).lstat().st_mtime
        except FileNotFoundError:
            continue
    if len(mtimes) < 2:
        return []
    newest = max(mtimes, key=lambda s: mtimes[s])
    return [s for s in mtimes if s != newest]


def _lost_jobs(store: FileStore, now: datetime, stale_after: timedelta) -> Iterator[Finding]:
    host = hostname()
    for job_id in _fs.list_names(store.paths.status_dir("running")):
        path = store.paths.job("running", job_id)
        try:
            job = codec.decode(_fs.read_file(path), source=str(path), expect="running")
        except (OSError, _fs.NotAFile, InvalidJob):
            continue  # reported as unknown or corrupt already
        if not isinstance(job, RunningJob):
            continue
        reason = reaper.lost_reason(job, now, stale_after, host)
        if reason is not None:
            yield Finding("lost", path, f"running job {job_id}: {reason}")


# --- everything else ----------------------------------------------------------------------


def _leftovers(store: FileStore) -> Iterator[Finding]:
    p = store.paths
    kinds = (
        (p.tmp, recovery.is_orphaned_tmp, "temp file"),
        (p.staging, recovery.is_dead_staged, "staged job"),
        (p.claimed, recovery.is_dead_staged, "claimed job's original"),
        (p.batches, recovery.is_dead_batch, "enqueue_many batch"),
    )
    for directory, is_leftover, what in kinds:
        for entry in _scandir(directory):
            if is_leftover(entry):
                yield Finding("leftover", Path(entry.path), f"{what} left by a dead process")
    for job_id in recovery.orphan_cancel_requests(p):
        message = f"cancel request for {job_id}, which is not running"
        yield Finding("leftover", p.cancel_request(job_id), message)


def _symlinks(store: FileStore) -> Iterator[Finding]:
    for name in HIDDEN:
        for entry in _scandir(store.paths.jobs / f".{name}"):
            if entry.is_symlink() and name != "quarantine":
                message = f".{name}/{entry.name} is a symbolic link (never followed)"
                yield Finding("symlink", Path(entry.path), message)


def _strays(store: FileStore) -> Iterator[Finding]:
    for entry in _scandir(store.paths.jobs):
        if entry.name not in STATUSES and not entry.name.startswith("."):
            message = f"jobs/{entry.name} is not a status directory (keep your files elsewhere)"
            yield Finding("stray", Path(entry.path), message, repairable=False)


def _quarantined(store: FileStore) -> Iterator[Finding]:
    for entry in _scandir(store.paths.quarantine):
        message = f"quarantined: {entry.name} (inspect it, then fix and move it back, or delete)"
        yield Finding("quarantined", Path(entry.path), message, repairable=False)


def _permissions(store: FileStore) -> Iterator[Finding]:
    for path in _walk(store.paths.root):
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISLNK(mode) and mode & 0o077:
            message = f"{path} is readable or writable by others ({stat.filemode(mode)})"
            yield Finding("permissions", path, message)


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in (*dirnames, *filenames):
            yield Path(dirpath) / name


def _tighten(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode):
            os.chmod(path, _fs.DIR_MODE if stat.S_ISDIR(mode) else _fs.FILE_MODE)
    except OSError:
        pass  # gone, or not ours: the next check reports it again


def _scandir(path: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
