"""The event log: ``jobs/.events/<UTC hour>.log``, one JSON object a line.

Every process appends (O_APPEND, one write per event, so lines never interleave) and
any process can tail it, which is how ``queue.events()`` sees what happens elsewhere.
One file per hour keeps replay (``since``) and metrics windows cheap to find, and old
hours are deleted after ``RETENTION``. Events are a record, not the truth: no fsync.

A line holds ``event, job_id, job_type, at``, the metrics fields ``retry_count``,
``duration_s`` and ``wait_s`` (absent from lines written before it), then ``job`` (the
job document), in that order: metrics read the head of a line without decoding the
document (``read_samples``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ... import codec
from ...errors import InvalidJob
from ...events import EVENT_NAMES, EventName, JobEvent
from ...job import Job
from ...metrics import Sample, last_attempt_seconds, last_attempt_wait
from . import _fs

if TYPE_CHECKING:
    import mmap

log = logging.getLogger(__name__)

RETENTION = timedelta(hours=48)
_HOUR_FORMAT = "%Y%m%dT%H"


def hour_file(directory: Path, at: datetime) -> Path:
    """One file per UTC hour: replay and metrics find their files by name alone."""
    return directory / f"{at.astimezone(UTC).strftime(_HOUR_FORMAT)}.log"


def hour_of(path: Path) -> datetime | None:
    """Tells hour files from anything else in ``.events/``, and their age for pruning."""
    try:
        return datetime.strptime(path.stem, _HOUR_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


class EventLog:
    """The log of one data directory: every process appends, any process reads."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pruned_hour: str | None = None
        self._mutex = threading.Lock()
        self._appender = _fs.Appender()
        self._current: tuple[int, Path] | None = None

    def append(self, event: EventName, job: Job, at: datetime) -> None:
        """Called after the transition is written: a lost event never loses a job."""
        line = orjson.dumps(
            {"event": event, "job_id": job.metadata.id, "job_type": job.metadata.type,
             "at": codec.format_time(at), "retry_count": job.metadata.retry_count,
             "duration_s": last_attempt_seconds(job), "wait_s": last_attempt_wait(job),
             "job": codec.to_document(job)}
        ) + b"\n"  # fmt: skip
        path = self._hour_file(at)
        try:
            self._appender.write(path, line)
        except OSError as e:  # the job itself was written: losing its event is not fatal
            log.warning("could not record event %s of %s: %s", event, job.metadata.id, e)
        self._prune(path.stem, at)

    def _hour_file(self, at: datetime) -> Path:
        """hour_file, built once an hour (twice per job otherwise)."""
        hour = int(at.timestamp()) // 3600
        cached = self._current
        if cached is None or cached[0] != hour:
            cached = self._current = (hour, hour_file(self.directory, at))
        return cached[1]

    def _prune(self, hour: str, now: datetime) -> None:
        """Once an hour (per process), delete hour files older than RETENTION."""
        with self._mutex:
            if self._pruned_hour == hour:
                return
            self._pruned_hour = hour
        for path in self.files():
            started = hour_of(path)
            if started is not None and started < now - RETENTION:
                _fs.unlink_quietly(path)

    def files(self, since: datetime | None = None) -> list[Path]:
        """Hour files, oldest first; only those that can hold events at or after ``since``."""
        # Not Path.glob: it swallows errors, and a broken store would read as no events.
        names = _fs.list_names(self.directory, suffix=".log")
        paths = sorted(self.directory / f"{n}.log" for n in names)
        paths = [p for p in paths if hour_of(p) is not None]
        if since is None:
            return paths
        first = hour_file(self.directory, since).name
        return [p for p in paths if p.name >= first]

    def read(self, since: datetime, until: datetime | None = None) -> Iterator[JobEvent]:
        """Every recorded event with ``since <= at`` (and ``at < until``), in file order."""
        for path in self.files(since):
            for event in parse_lines(_read(path)):
                if event.at >= since and (until is None or event.at < until):
                    yield event

    def read_samples(self, since: datetime, until: datetime | None = None) -> Iterator[Sample]:
        """Like ``read``, reduced to the ``Sample`` of each completed, failed and retrying
        event, in no particular order (metrics add them up)."""
        for path in self.files(since):
            for head in _sampled_heads(path):
                sample = parse_sample(head)
                if (
                    sample is None
                    or sample.at < since
                    or (until is not None and sample.at >= until)
                ):
                    continue
                yield sample


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def parse_lines(data: bytes) -> Iterator[JobEvent]:
    """Replay and tails read whole chunks: a bad line costs only itself."""
    for line in data.splitlines():
        event = parse_line(line)
        if event is not None:
            yield event


def parse_line(line: bytes) -> JobEvent | None:
    """One event, or None for a torn or foreign line (logged, never fatal)."""
    try:
        doc: Any = orjson.loads(line)
        name = doc["event"]
        if name not in EVENT_NAMES:
            raise ValueError(f"unknown event {name!r}")
        return JobEvent(
            event=name,
            job_id=doc["job_id"],
            job_type=doc["job_type"],
            at=datetime.fromisoformat(doc["at"]),
            job=codec.from_document(doc["job"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, InvalidJob) as e:
        log.warning("skipping an unreadable event line: %s", e)
        return None


_SAMPLED = tuple(f'{{"event":"{name}"'.encode() for name in ("completed", "failed", "retrying"))
_JOB_KEY = b',"job":'


def _sampled_heads(path: Path) -> Iterator[bytes]:
    """The head (the JSON object up to the job document) of each sampled line of one hour
    file. Most of a line is the job document, so the file is searched in place (mmap,
    ``find``) rather than read and split, which is much faster (docs/file-backend.md)."""
    import mmap  # only metrics read: an enqueue does not load it

    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            for prefix in _SAMPLED:
                for start in _line_starts(mm, prefix):
                    end = mm.find(b"\n", start)
                    cut = mm.find(_JOB_KEY, start, end if end >= 0 else len(mm))
                    if cut > 0:  # else a torn or foreign line
                        yield mm[start:cut] + b"}"
    except (FileNotFoundError, ValueError):  # ValueError: an empty file cannot be mapped
        return


def _line_starts(mm: mmap.mmap, prefix: bytes) -> Iterator[int]:
    if mm[: len(prefix)] == prefix:
        yield 0
    needle = b"\n" + prefix
    at = mm.find(needle)
    while at >= 0:
        yield at + 1
        at = mm.find(needle, at + len(needle))


def parse_sample(head: bytes) -> Sample | None:
    """The metrics of one line's head (``append`` writes the sample's fields before the job
    document); None, logged, if it does not read."""
    try:
        doc: Any = orjson.loads(head)
        return Sample(doc["event"], doc["job_type"], datetime.fromisoformat(doc["at"]),
                      doc["retry_count"], doc["duration_s"], doc.get("wait_s"))  # fmt: skip
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        log.warning("skipping an unreadable event line: %s", e)
        return None


class Tail:
    """Follows the log across hour files: ``poll()`` returns the events appended since
    the last call. Starts at the end of the log, or replays from ``since``."""

    def __init__(self, log: EventLog, since: datetime | None) -> None:
        self.log = log
        self.since = since
        self._path: Path | None = None
        self._offset = 0
        if since is None:
            files = log.files()
            if files:
                self._path, self._offset = files[-1], files[-1].stat().st_size

    def poll(self) -> list[JobEvent]:
        """``follow`` calls it at each file event or poll tick."""
        events: list[JobEvent] = []
        for path in self._pending_files():
            events.extend(self._read_from(path))
        return events

    def _pending_files(self) -> list[Path]:
        if self._path is None:
            return self.log.files(self.since)
        return [p for p in self.log.files() if p.name >= self._path.name]

    def _read_from(self, path: Path) -> list[JobEvent]:
        if path != self._path:
            self._path, self._offset = path, 0
        try:
            with open(path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
        self._offset += end
        events = list(parse_lines(data[:end]))
        if self.since is not None:
            events = [e for e in events if e.at >= self.since]
        return events


def follow(tail: Tail, directory: Path, idle_timeout: float | None) -> Iterator[JobEvent]:
    """Yield what ``tail`` finds, woken by file events in ``directory`` (polling every
    0.25 s as the fallback); ends after ``idle_timeout`` seconds without an event."""
    from .watch import watch  # watchdog: only for a process that follows events

    wake = threading.Event()
    unsubscribe = watch([directory], wake.set)
    try:
        idle_since = time.monotonic()
        while True:
            wake.clear()  # before reading: a write during the read wakes the next wait
            events = tail.poll()
            yield from events
            if events:  # read on at once: a replay comes in batches, a burst too
                idle_since = time.monotonic()
                continue
            left = None if idle_timeout is None else idle_timeout - (time.monotonic() - idle_since)
            if left is not None and left <= 0:
                return
            wake.wait(0.25 if left is None else min(0.25, left))
    finally:
        unsubscribe()
