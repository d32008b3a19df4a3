"""Sorted listings of status directories, kept while a directory does not change.

Every ``scan`` (a page of ``query_jobs``, a dashboard search, retention) needs the ids
of a status directory in order; with 100,000 complete jobs, listing and sorting them
took ~120 ms, which a page paid several times over. A directory's mtime changes when a
name is added or removed, so a listing is reused while the mtime (and inode) are the
same. File timestamps are coarse, though (a clock tick): a change made within the tick
of the last one leaves the mtime as it was. So a listing is kept only when the
directory's mtime was already ``SETTLED_NS`` old when it was read (git's rule for its
"racy" index entries): any later change then stamps a newer, different mtime.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from pathlib import Path

from . import _fs

#: How old a directory's mtime must be for a listing of it to be reused.
SETTLED_NS = 2_000_000_000


class Listings:
    """The sorted ids (or just the number) of each directory of one store, as of its
    last change: counts are what ``stats`` and ``health`` read at every dashboard page."""

    def __init__(self) -> None:
        self._kept: dict[Path, tuple[tuple[int, int], list[str]]] = {}
        self._counts: dict[Path, tuple[tuple[int, int], int]] = {}
        self._lock = threading.Lock()

    def count(self, directory: Path) -> int:
        """How many job files ``directory`` holds (0 if it is missing)."""
        try:
            status = os.stat(directory)
        except FileNotFoundError:
            return 0
        stamp = (status.st_mtime_ns, status.st_ino)
        with self._lock:
            kept, counted = self._kept.get(directory), self._counts.get(directory)
        if kept is not None and kept[0] == stamp:
            return len(kept[1])
        if counted is not None and counted[0] == stamp:
            return counted[1]
        read_at = time.time_ns()
        n = _fs.count_entries(directory)
        with self._lock:
            if read_at - status.st_mtime_ns >= SETTLED_NS:
                self._counts[directory] = (stamp, n)
            else:
                self._counts.pop(directory, None)
        return n

    def sorted_ids(self, directory: Path) -> Sequence[str]:
        """The ids of the job files in ``directory``, in ascending order (OSError as
        ``os.stat`` and ``os.scandir`` raise it; a missing directory is empty)."""
        try:
            status = os.stat(directory)
        except FileNotFoundError:
            return ()
        stamp = (status.st_mtime_ns, status.st_ino)
        with self._lock:
            kept = self._kept.get(directory)
        if kept is not None and kept[0] == stamp:
            return kept[1]
        read_at = time.time_ns()
        ids = sorted(_fs.list_names(directory))
        with self._lock:
            if read_at - status.st_mtime_ns >= SETTLED_NS:
                self._kept[directory] = (stamp, ids)
            else:
                self._kept.pop(directory, None)
        return ids


def beyond(ids: Sequence[str], after: str | None, *, newest_first: bool) -> Iterator[str]:
    """The sorted ``ids`` past the cursor ``after``, in the order asked, found by
    bisection and yielded lazily: a page reads only as many as it shows."""
    if newest_first:
        end = len(ids) if after is None else bisect_left(ids, after)
        return (ids[i] for i in range(end - 1, -1, -1))
    start = 0 if after is None else bisect_right(ids, after)
    return (ids[i] for i in range(start, len(ids)))
