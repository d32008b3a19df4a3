"""An in-memory, claim-ordered view of ``pending/`` that costs O(1) per claim.

Listing ``pending/`` grows with the backlog, and reading every file far more, so a
claim must not do either. Instead every writer that puts a job into ``pending/``
appends one line to ``jobs/.index/pending.log``::

    <run_at in µs since the epoch> <priority> <type> <id>

and each store instance reads only the bytes appended since its last look, keeping per
job type a heap of due jobs (priority, run_at, id) and a heap of deferred ones (run_at).
The log is a hint, never the truth: a claim is the rename out of ``pending/``, so an
entry for a job that is gone just fails to rename and is dropped. What the log can miss
(a crash between the file and its line, a file moved in by hand) is found by
``reconcile``, a listing of ``pending/``. It runs when a claim finds nothing (see
FileStore.claim), once a few seconds after a process starts, when exact counts are
asked for, and when a claim meets many entries whose files are gone; not before a fresh
process's first claim, which would otherwise wait for a listing of the whole backlog.

Many lines at once (an ``enqueue_many`` batch, a compaction) are written as a sorted
run: a ``#sorted <bytes> <lines>`` header, then the lines in claim order. A reader
takes a run's lines a chunk at a time, only while the run's next line could beat what
it holds, so a fresh process parses a few hundred lines of each run, not the backlog
(docs/file-backend.md). A run still being written (its bytes not all there yet) waits
like a partial line; a damaged one is read line by line.

The log is compacted (rewritten as one run of the live entries) under ``.index/lock``
once it holds many dead lines; appenders take no lock, and readers notice the new file
by its inode and reload.
"""

from __future__ import annotations

import heapq
import itertools
import os
import stat
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from . import _fs

_COMPACT_MIN_LINES = 50_000
_RUN_MIN_LINES = 64  # fewer lines are appended loose: read at once, they cost little
_RUN_CHUNK = 16 * 1024  # bytes of a run parsed at a time (more as the run is drained)
_RUN_TAG = b"#sorted "
_MISSES_BEFORE_RECONCILE = 64  # at least; see pop_due


class Entry(NamedTuple):
    """Where a pending job sorts: (priority, run_at, id), plus its type for filtering.

    A tuple, not a dataclass: a fresh process builds one per pending job, and tuples are
    made and compared in C, which made a fresh process's first claim much faster
    (docs/file-backend.md)."""

    priority: int
    run_at_us: int
    id: str
    type: str

    def line(self) -> bytes:
        """What every process reads back with ``parse``: the run_at first, then the rest."""
        return f"{self.run_at_us} {self.priority} {self.type} {self.id}\n".encode()

    @classmethod
    def parse(cls, line: bytes) -> Entry | None:
        """None for a torn or foreign line: the log is a hint, never the truth."""
        parts = line.split()
        if len(parts) != 4:
            return None  # a torn or foreign line: reconcile finds the job anyway
        try:
            return cls(int(parts[1]), int(parts[0]), parts[3].decode(), parts[2].decode())
        except (ValueError, UnicodeDecodeError):
            return None


def parse_lines(data: bytes) -> list[Entry]:
    """Loose lines and run chunks are read many at a time; bad lines are skipped."""
    return [e for e in map(Entry.parse, data.splitlines()) if e is not None]


def run_bytes(entries: Iterable[Entry]) -> bytes:
    """Entries as one sorted run: the header, then their lines in claim order."""
    body = b"".join(e.line() for e in sorted(entries))
    return b"%s%d %d\n%s" % (_RUN_TAG, len(body), body.count(b"\n"), body)


def split_log(data: bytes) -> tuple[list[bytes], list[bytes], int]:
    """Cut log bytes into stretches of loose lines and the bodies of sorted runs.
    Returns them and how many bytes were used: what follows is still being written."""
    loose: list[bytes] = []
    runs: list[bytes] = []
    pos = 0
    while pos < len(data):
        if data.startswith(_RUN_TAG, pos):
            span = _run_span(data, pos)
            if span == (pos, pos):
                break
            if span is not None:
                runs.append(data[span[0] : span[1]])
                pos = span[1]
                continue
        # Loose lines, up to the next run (a damaged header at pos is one of them).
        next_run = data.find(b"\n" + _RUN_TAG, pos)
        end = data.rfind(b"\n", pos, len(data) if next_run < 0 else next_run + 1) + 1
        if end <= pos:
            break  # a line still being written
        loose.append(data[pos:end])
        pos = end
    return loose, runs, pos


def _run_span(data: bytes, pos: int) -> tuple[int, int] | None:
    """Where the body of the run whose header is at ``pos`` starts and ends: (pos, pos)
    while it is still being written, None if the header or body is damaged."""
    body = data.find(b"\n", pos) + 1
    if body == 0:
        return pos, pos
    try:
        _, size, lines = data[pos:body].split()
        end, count = body + int(size), int(lines)
    except ValueError:
        return None
    if end > len(data):
        return pos, pos
    if data.count(b"\n", body, end) != count or data[end - 1 : end] not in (b"\n", b""):
        return None  # torn (a short write, then someone else's lines)
    return body, end


class _Run:
    """A sorted run not read yet: ``head`` is its next entry (None once drained), and
    everything after it sorts after it."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._pos = 0
        self.lines_left = body.count(b"\n")
        self.head: Entry | None = None
        self._peek()

    def take(self, everything: bool = False) -> list[Entry]:
        """The next chunk, in order; chunks grow with what was taken (few, for a drain)."""
        size = len(self._body) if everything else max(_RUN_CHUNK, self._pos)
        end = self._body.rfind(b"\n", self._pos, self._pos + size) + 1
        if end <= self._pos:  # one line longer than the chunk
            end = self._body.find(b"\n", self._pos) + 1 or len(self._body)
        lines = self._body[self._pos : end]
        self._pos = end
        self.lines_left -= lines.count(b"\n")
        self._peek()
        return parse_lines(lines)

    def _peek(self) -> None:
        self.head = None
        while self.head is None and self._pos < len(self._body):
            end = self._body.find(b"\n", self._pos) + 1 or len(self._body)
            self.head = Entry.parse(self._body[self._pos : end])
            if self.head is None:  # not a line we wrote: skip it
                self._pos = end
                self.lines_left -= 1


class _TypeQueue:
    """Due and deferred heaps for one job type (entries may be stale: check ``live``)."""

    def __init__(self) -> None:
        self.due: list[Entry] = []
        self.deferred: list[tuple[int, Entry]] = []

    def push(self, entry: Entry, now_us: int) -> None:
        if entry.run_at_us <= now_us:
            heapq.heappush(self.due, entry)
        else:
            heapq.heappush(self.deferred, (entry.run_at_us, entry))

    def extend(self, entries: list[Entry], now_us: int) -> None:
        """Many at once (a first read of the log): one heapify instead of n pushes."""
        self.due.extend(e for e in entries if e.run_at_us <= now_us)
        self.deferred.extend((e.run_at_us, e) for e in entries if e.run_at_us > now_us)
        heapq.heapify(self.due)
        heapq.heapify(self.deferred)

    def promote(self, now_us: int) -> None:
        while self.deferred and self.deferred[0][0] <= now_us:
            heapq.heappush(self.due, heapq.heappop(self.deferred)[1])

    def head(self, live: dict[str, Entry]) -> Entry | None:
        while self.due and live.get(self.due[0].id) != self.due[0]:
            heapq.heappop(self.due)
        return self.due[0] if self.due else None

    def next_run_at(self, live: dict[str, Entry]) -> int | None:
        """A due entry's run_at if there is one, else the earliest deferred run_at."""
        due = self.head(live)
        if due is not None:
            return due.run_at_us
        while self.deferred and live.get(self.deferred[0][1].id) != self.deferred[0][1]:
            heapq.heappop(self.deferred)
        return self.deferred[0][0] if self.deferred else None


class PendingIndex:
    """Claim order for ``pending/``; thread-safe; one per store instance."""

    def __init__(
        self, index_dir: Path, pending_dir: Path, read_entry: Callable[[str], Entry | None]
    ) -> None:
        self._log = index_dir / "pending.log"
        self._lock_path = index_dir / "lock"
        self._appender = _fs.Appender()
        self._pending_dir = pending_dir
        self._read_entry = read_entry
        self._mutex = threading.RLock()
        self._live: dict[str, Entry] = {}
        self._queues: dict[str, _TypeQueue] = {}
        self._runs: list[_Run] = []
        self._now_us = 0  # as of the last refresh (to sort entries read without a time)
        self._offset = 0
        self._inode: int | None = None
        self._lines_read = 0
        self._reconciled = False

    def _file_lock(self) -> _fs.FileLock:
        return _fs.file_lock(self._lock_path)

    # --- writers ----------------------------------------------------------------------

    def append(self, entries: Iterable[Entry]) -> None:
        """Announce jobs now in ``pending/`` to every process (and to this one at once)."""
        batch = list(entries)
        if len(batch) >= _RUN_MIN_LINES:
            data = run_bytes(batch)
        else:
            data = b"".join(e.line() for e in batch)
        if not data:
            return
        # No lock (it was a large share of an enqueue): if a compaction replaced the log just
        # after our write, our lines may be in the old file only, so write them again.
        # A line read twice is harmless: the index keeps the last entry per id.
        while self._appender.write(self._log, data) != _inode(self._log):
            pass

    # --- readers ----------------------------------------------------------------------

    @property
    def reconciled(self) -> bool:
        """Has this index been matched to a listing of ``pending/`` yet?"""
        return self._reconciled

    def refresh(self, now_us: int, *, exact: bool = False) -> None:
        """Take in the lines appended since the last look, and reconcile with a listing of
        pending/ when ``exact`` counts are wanted."""
        with self._mutex:
            self._now_us = now_us
            self._read_new_lines(now_us)
            if exact:
                self.reconcile(now_us)
            if self._lines_read > max(_COMPACT_MIN_LINES, 4 * self._size()):
                self._compact(now_us)

    def _size(self) -> int:
        """Entries held, and lines of runs not read yet."""
        return len(self._live) + sum(run.lines_left for run in self._runs)

    def _read_new_lines(self, now_us: int) -> None:
        try:
            st = os.lstat(self._log)
        except FileNotFoundError:
            return
        if not stat.S_ISREG(st.st_mode):
            return  # a link planted in the tree is never read through (doctor reports it)
        if st.st_ino != self._inode:  # compacted: what we did not read yet is in it
            self._inode, self._offset, self._lines_read, self._runs = st.st_ino, 0, 0, []
        if st.st_size <= self._offset:
            return
        fd = os.open(self._log, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            data = os.pread(fd, st.st_size - self._offset, self._offset)
        finally:
            os.close(fd)
        loose, bodies, used = split_log(data)  # what is still being written waits
        self._offset += used
        runs = [_Run(body) for body in bodies]
        self._lines_read += sum(len(s.splitlines()) for s in loose)
        self._lines_read += sum(run.lines_left for run in runs)
        self._add_all([e for stretch in loose for e in parse_lines(stretch)], now_us)
        self._runs += [run for run in runs if run.head is not None]

    def _read_run(self, run: _Run, now_us: int, everything: bool = False) -> None:
        """Take a chunk of ``run`` into the heaps. An id the index holds already came from a
        later line (a run is read after the lines that follow it), so that one stays."""
        self._add_all([e for e in run.take(everything) if e.id not in self._live], now_us)
        if run.head is None:
            self._runs.remove(run)

    def _read_runs(self, now_us: int) -> None:
        """Everything (for a listing, a count, the earliest deferred job)."""
        for run in list(self._runs):
            self._read_run(run, now_us, everything=True)

    def _add_all(self, entries: list[Entry], now_us: int) -> None:
        if len(entries) < 64:
            for entry in entries:
                self._add(entry, now_us)
            return
        by_type: dict[str, list[Entry]] = {}
        for entry in entries:
            self._live[entry.id] = entry
            by_type.setdefault(entry.type, []).append(entry)
        for job_type, group in by_type.items():
            self._queues.setdefault(job_type, _TypeQueue()).extend(group, now_us)

    def _add(self, entry: Entry, now_us: int) -> None:
        self._live[entry.id] = entry
        self._queues.setdefault(entry.type, _TypeQueue()).push(entry, now_us)

    def discard(self, job_id: str) -> None:
        """A deleted pending job leaves this index at once, not at its next failed rename."""
        with self._mutex:
            self._live.pop(job_id, None)

    def reconcile(self, now_us: int) -> None:
        """Match the index to a listing of ``pending/``: the only O(backlog) step."""
        with self._mutex:
            self._read_runs(now_us)  # else every job in an unread run would look missed
            on_disk = set(_fs.list_names(self._pending_dir))
            for job_id in self._live.keys() - on_disk:
                del self._live[job_id]
            for job_id in on_disk - self._live.keys():
                entry = self._read_entry(job_id)
                if entry is not None:
                    self._add(entry, now_us)
            self._reconciled = True

    def pop_due(self, now_us: int, types: Collection[str] | None) -> Iterator[Entry]:
        """Best due entries first, each removed before it is yielded (the caller then owns
        the attempt to claim it; a job it puts back into pending/ is announced again).

        Entries the caller passes over are mostly jobs claimed elsewhere since the last
        compaction, and they come first (claimed first). Once they outnumber a quarter of
        the index, a listing of ``pending/`` costs less than a failed rename for each (see
        docs/file-backend.md), so a fresh index lists then."""
        with self._mutex:
            misses = max(_MISSES_BEFORE_RECONCILE, self._size() // 4)
        for tried in itertools.count():
            with self._mutex:
                if tried == misses and not self._reconciled:
                    self.reconcile(now_us)
                best = self._best(now_us, types)
                if best is None:
                    return
                del self._live[best.id]
            yield best

    def _best(self, now_us: int, types: Collection[str] | None) -> Entry | None:
        """The best entry held, once no unread line of a run can beat it."""
        while True:
            best = self._best_held(now_us, types)
            run = min(self._runs, key=attrgetter("head"), default=None)
            if run is None or (best is not None and run.head is not None and best <= run.head):
                return best
            self._read_run(run, now_us)

    def _best_held(self, now_us: int, types: Collection[str] | None) -> Entry | None:
        names = self._queues.keys() if types is None else types
        heads = []
        for name in names:
            queue = self._queues.get(name)
            if queue is not None:
                queue.promote(now_us)
                head = queue.head(self._live)
                if head is not None:
                    heads.append(head)
        return min(heads) if heads else None

    def next_due_us(self, types: Collection[str] | None) -> int | None:
        """When a pending job of these types is due (for worker timers): a due job's
        run_at if one is due already (not always the earliest), else the earliest
        deferred one. Lines appended since the last look are read first."""
        with self._mutex:
            self._read_new_lines(self._now_us)
            self._read_runs(self._now_us)
            names = self._queues.keys() if types is None else types
            times = [
                t
                for name in names
                if (q := self._queues.get(name)) and (t := q.next_run_at(self._live)) is not None
            ]
            return min(times) if times else None

    def oldest_due_us(self, now_us: int) -> int | None:
        """The earliest run_at of the jobs due now (for health: how long the backlog waits)."""
        with self._mutex:
            self._read_runs(now_us)
            return min(
                (e.run_at_us for e in self._live.values() if e.run_at_us <= now_us), default=None
            )

    def counts(self, now_us: int) -> tuple[int, int]:
        """(pending, delayed) as of the last refresh."""
        with self._mutex:
            self._read_runs(now_us)
            delayed = sum(1 for e in self._live.values() if e.run_at_us > now_us)
            return len(self._live), delayed

    def _compact(self, now_us: int) -> None:
        """Rewrite the log from the live entries, so it stops growing with history."""
        with self._file_lock():  # one compactor at a time; appenders take no lock
            old = os.open(self._log, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                self._read_new_lines(now_us)
                read_up_to = self._offset
                self.reconcile(now_us)
                tmp = self._log.with_name(f"pending.log.{os.getpid()}.tmp")
                data = run_bytes(self._live.values())
                _fs.replace_atomic(self._log, data, tmp, durable=False)
                # Lines appended to the old file meanwhile: their writers saw the old
                # inode (else they write again), so carry them over ourselves.
                late = os.pread(old, os.fstat(old).st_size - read_up_to, read_up_to)
            finally:
                os.close(old)
            st = os.stat(self._log)
            self._inode, self._offset, self._lines_read = st.st_ino, st.st_size, len(self._live)
            self._carry_over(late[: late.rfind(b"\n") + 1], now_us)

    def _carry_over(self, lines: bytes, now_us: int) -> None:
        if lines:
            self._appender.write(self._log, lines)
            self._read_new_lines(now_us)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None
