"""``jobqueue doctor``: check a data directory, and with ``repair`` fix what is safe.

Checking never changes anything (it decodes files itself instead of going through the
store, which would quarantine on read). Repairs only ever move files aside or finish
an interrupted step, so nothing is lost: corrupt files and stray entries go to
``.quarantine/``; crash leftovers are handled by ``FileStore.recover``; lost running
jobs are reaped; loose permissions are tightened.
"""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from .. import codec, reaper
from ..errors import InvalidJob
from ..ids import check_id
from ..job import STATUSES, RunningJob, Status
from ..process import hostname
from . import _fs, recovery
from .file import FileStore


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    path: Path
    message: str
    #: Whether ``repair`` fixes it (quarantined files wait for a person).
    repairable: bool = True


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    repaired: int = 0

    @property
    def healthy(self) -> bool:
        return not self.findings


def check(store: FileStore, now: datetime, stale_after: timedelta) -> Report:
    """Every problem in the tree, without changing anything."""
    report = Report()
    for finder in (_status_dirs, _duplicates, _leftovers, _quarantined, _permissions):
        report.findings.extend(finder(store))
    report.findings.extend(_lost_jobs(store, now, stale_after))
    return report


def repair(store: FileStore, now: datetime, stale_after: timedelta) -> Report:
    """Fix what ``check`` finds where that is safe; returns what is still wrong after."""
    before = check(store, now, stale_after)
    for finding in before.findings:
        if finding.kind in ("stray", "corrupt", "duplicate"):
            store.quarantine_file(finding.path, finding.message)
        elif finding.kind == "permissions":
            _tighten(finding.path)
    store.recover()
    reaper.reap(store, now, stale_after)
    after = check(store, now, stale_after)
    after.repaired = len(before.findings) - len(after.findings)
    return after


def _status_dirs(store: FileStore) -> Iterator[Finding]:
    for status in STATUSES:
        directory = store.paths.status_dir(status)
        for entry in os.scandir(directory):
            yield from _check_entry(Path(entry.path), entry, status)


def _check_entry(path: Path, entry: os.DirEntry[str], status: Status) -> Iterator[Finding]:
    if entry.is_symlink() or not entry.is_file(follow_symlinks=False):
        yield Finding("stray", path, f"{status}/{entry.name} is not a regular job file")
        return
    try:
        check_id(entry.name.removesuffix(".json"))
        if not entry.name.endswith(".json"):
            raise InvalidJob("not a .json file")
        job = codec.decode(path.read_bytes(), source=f"{status}/{entry.name}", expect=status)
    except InvalidJob as e:
        yield Finding("corrupt", path, str(e))
        return
    if job.metadata.id != entry.name.removesuffix(".json"):
        yield Finding("corrupt", path, f"{status}/{entry.name}: name does not match its id")


def _duplicates(store: FileStore) -> Iterator[Finding]:
    seen: dict[str, list[Status]] = defaultdict(list)
    for status in STATUSES:
        for job_id in _fs.list_names(store.paths.status_dir(status)):
            seen[job_id].append(status)
    for job_id, statuses in seen.items():
        if len(statuses) > 1:
            older = _older_copies(store, job_id, statuses)
            for status in older:
                message = f"{job_id} is in {', '.join(statuses)}/: {status}/ is the older copy"
                yield Finding("duplicate", store.paths.job(status, job_id), message)


def _older_copies(store: FileStore, job_id: str, statuses: list[Status]) -> list[Status]:
    """running/ is always older than any other copy; otherwise the newest file wins."""
    if "running" in statuses:
        return ["running"]
    mtimes = {s: store.paths.job(s, job_id).stat().st_mtime for s in statuses}
    newest = max(mtimes, key=lambda s: mtimes[s])
    return [s for s in statuses if s != newest]


def _leftovers(store: FileStore) -> Iterator[Finding]:
    p = store.paths
    kinds = (
        (p.tmp, recovery.is_orphaned_tmp, "temp file"),
        (p.staging, recovery.is_dead_staged, "staged job"),
        (p.batches, recovery.is_dead_batch, "enqueue_many batch"),
    )
    for directory, is_leftover, what in kinds:
        for entry in os.scandir(directory):
            if is_leftover(entry):
                yield Finding("leftover", Path(entry.path), f"{what} left by a dead process")


def _quarantined(store: FileStore) -> Iterator[Finding]:
    for entry in os.scandir(store.paths.quarantine):
        message = f"quarantined: {entry.name} (inspect it, then fix and move it back, or delete)"
        yield Finding("quarantined", Path(entry.path), message, repairable=False)


def _permissions(store: FileStore) -> Iterator[Finding]:
    for path in _walk(store.paths.root):
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            message = f"{path} is readable or writable by others ({stat.filemode(mode)})"
            yield Finding("permissions", path, message)


def _walk(root: Path) -> Iterator[Path]:
    yield root
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in (*dirnames, *filenames):
            yield Path(dirpath) / name


def _tighten(path: Path) -> None:
    mode = _fs.DIR_MODE if path.is_dir() else _fs.FILE_MODE
    os.chmod(path, mode)


def _lost_jobs(store: FileStore, now: datetime, stale_after: timedelta) -> Iterator[Finding]:
    host = hostname()
    for job_id in _fs.list_names(store.paths.status_dir("running")):
        path = store.paths.job("running", job_id)
        try:
            job = codec.decode(path.read_bytes(), source=str(path), expect="running")
        except (OSError, InvalidJob):
            continue  # reported as corrupt already
        if not isinstance(job, RunningJob):
            continue
        reason = reaper.lost_reason(job, now, stale_after, host)
        if reason is not None:
            yield Finding("lost", path, f"running job {job_id}: {reason}")
