"""Schedule files: ``<data-dir>/schedules/<name>.json``, one per schedule.

Writes are atomic and durable like job writes (temp file, fsync, rename, fsync of the
directory). Every read-decide-write of a schedule happens under that schedule's lock,
``schedules/.locks/<name>.lock``, so two schedulers, or a scheduler and ``pause``, never
both act on the same state. Locks and temp files live in hidden directories: ``ls
schedules`` shows schedule files and nothing else. Lock files are never deleted (a
deleted lock file lets two processes lock two different inodes).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import InvalidJob
from ...ids import check_schedule_name
from ...process import owner_token
from . import _fs
from .layout import tmp_path
from .recovery import is_orphaned_tmp

if TYPE_CHECKING:
    from ...schedules.model import Schedule

log = logging.getLogger(__name__)


class ScheduleFiles:
    """The schedule files of one data directory. Thread- and process-safe under ``lock``."""

    def __init__(self, data_dir: Path, *, durable: bool = True, create: bool = True) -> None:
        self.root = data_dir / "schedules"
        self.locks = self.root / ".locks"
        self.tmp = self.root / ".tmp"
        self.durable = durable
        self._owner = owner_token()
        self._broken: set[str] = set()
        if create:
            _fs.make_dirs(self.root, self.locks, self.tmp)
            self._remove_dead_temp_files()

    def __repr__(self) -> str:
        return f"ScheduleFiles({str(self.root)!r})"

    def path(self, name: str) -> Path:
        """The name is checked here, so no schedule name can point outside ``schedules/``."""
        return self.root / f"{check_schedule_name(name)}.json"

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """The lock's own failure is a StoreError; an error inside the block is not."""
        path = self.locks / f"{check_schedule_name(name)}.lock"
        lock = _fs.file_lock(path)
        with _fs.as_store_error(f"lock schedule {name}"):
            lock.__enter__()
        try:
            yield
        finally:
            lock.__exit__()

    def get(self, name: str) -> Schedule | None:
        """The schedule, or None; InvalidJob if its file is corrupt."""
        path = self.path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise _fs.store_error(e, f"read {path.name}") from e
        from ...schedules import codec  # not loaded by a process that opens no schedule

        return codec.decode(data, str(path))

    def all(self) -> list[Schedule]:
        """Every readable schedule, by name; a corrupt file is logged and left alone."""
        found: list[Schedule] = []
        with _fs.as_store_error("list the schedules"):
            names = sorted(_fs.list_names(self.root))
        for name in names:
            try:
                schedule = self.get(name)
            except InvalidJob as e:
                self._warn_once(name, str(e))
                continue
            self._broken.discard(name)
            if schedule is not None:
                found.append(schedule)
        return found

    def _warn_once(self, name: str, problem: str) -> None:
        """The scheduler lists schedules every second: say it once per broken file."""
        if name not in self._broken:
            self._broken.add(name)
            log.warning("skipping schedule %s until its file is fixed: %s", name, problem)

    def put(self, schedule: Schedule) -> None:
        """Write the schedule's file atomically (call under its lock)."""
        from ...schedules import codec

        dst = self.path(schedule.name)
        tmp = tmp_path(self.tmp, dst.name, self._owner)
        _fs.replace_atomic(dst, codec.encode(schedule), tmp, durable=self.durable)

    def delete(self, name: str) -> bool:
        """Remove the schedule's file (call under its lock); False if there was none."""
        path = self.path(name)
        try:
            removed = _fs.unlink_quietly(path)
        except OSError as e:
            raise _fs.store_error(e, f"remove {path.name}") from e
        if removed and self.durable:
            with _fs.as_store_error(f"remove schedule {name}"):
                _fs.fsync_dir(self.root)
        return removed

    def _remove_dead_temp_files(self) -> None:
        """A writer that crashed between write and rename left its temp file behind."""
        for entry in os.scandir(self.tmp):
            if is_orphaned_tmp(entry):
                _fs.unlink_quietly(Path(entry.path))
