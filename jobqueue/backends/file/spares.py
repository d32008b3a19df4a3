"""Spare files: the inodes of files this process no longer needs, kept to be written again.

Creating a file was the most expensive step of a job's life here: allocating an inode
costs far more kernel time than writing into a file that exists and renaming it (the
numbers: docs/file-backend.md). A claim and an end each write one new file. So the
pending file of a claimed job, once its attempt's end is on disk (see ``claims``), is
not deleted: it is renamed into ``.tmp/`` as a spare, and the next write of this
process fills it instead of creating a file. Nobody reads a spare: it has a temp
file's name, carries this process's owner
token (recovery deletes it once the process is gone), and a file only ever leaves here
by the rename that puts a complete document in place.

After a power cut, a spare filled without an fsync (a running file, or an end waiting
for its group's barrier) may show its old bytes under its new name: a pending document.
Under another job's name, or in running/ or an end directory, reading it quarantines it
and recovery puts the claim's original back into pending/ (see ``claims``); in pending/
under its own job's name (a retry) it is an older state of that job, which runs again.
Either way no job is lost.
"""

from __future__ import annotations

import collections
import os
import threading
from pathlib import Path

from . import _fs
from .layout import tmp_path

#: Enough for a group of ends and the writes in flight; beyond that they are deleted.
KEEP = 256


class Spares:
    """This process's spares: retired originals in, the next writes' temp files out."""

    def __init__(self, tmp: Path, owner: str) -> None:
        self._tmp = tmp
        self._owner = owner
        self._spares: collections.deque[Path] = collections.deque()
        self._lock = threading.Lock()

    def put(self, path: Path) -> None:
        """Keep ``path`` (a file no longer needed) as a spare, or delete it."""
        with self._lock:
            full = len(self._spares) >= KEEP
        if full:
            _fs.unlink_quietly(path)
            return
        spare = tmp_path(self._tmp, "spare", self._owner)
        try:
            os.rename(path, spare)
        except OSError:
            return  # gone already: nothing to keep
        with self._lock:
            self._spares.append(spare)

    def take(self) -> Path | None:
        """A file to fill instead of creating one; None when none is kept."""
        with self._lock:
            return self._spares.popleft() if self._spares else None

    def clear(self) -> None:
        """Delete the spares (the process is leaving: left behind, they would read as a
        dead process's temp files until the next recovery)."""
        with self._lock:
            spares, self._spares = list(self._spares), collections.deque()
        for spare in spares:
            _fs.unlink_quietly(spare)
