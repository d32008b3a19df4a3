"""The event log: ``jobs/.events/<UTC hour>.log``, one JSON object a line.

Every process appends (O_APPEND, one write per event, so lines never interleave) and
any process can tail it, which is how ``queue.events()`` sees what happens elsewhere.
One file per hour keeps replay (``since``) and metrics windows cheap to find, and old
hours are deleted after ``RETENTION``. Events are a record, not the truth: no fsync.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from .. import codec
from ..errors import InvalidJob
from ..events import EVENT_NAMES, EventName, JobEvent
from ..job import Job
from . import _fs

log = logging.getLogger(__name__)

RETENTION = timedelta(hours=48)
_HOUR_FORMAT = "%Y%m%dT%H"


def hour_file(directory: Path, at: datetime) -> Path:
    return directory / f"{at.astimezone(UTC).strftime(_HOUR_FORMAT)}.log"


def hour_of(path: Path) -> datetime | None:
    try:
        return datetime.strptime(path.stem, _HOUR_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


class EventLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._pruned_hour: str | None = None
        self._mutex = threading.Lock()

    def append(self, event: EventName, job: Job, at: datetime) -> None:
        line = orjson.dumps(
            {"event": event, "job_id": job.metadata.id, "job_type": job.metadata.type,
             "at": codec.format_time(at), "job": codec.to_document(job)}
        ) + b"\n"  # fmt: skip
        path = hour_file(self.directory, at)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _fs.FILE_MODE)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as e:  # the job itself was written: losing its event is not fatal
            log.warning("could not record event %s of %s: %s", event, job.metadata.id, e)
        self._prune(path.stem, at)

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
        paths = sorted(p for p in self.directory.glob("*.log") if hour_of(p) is not None)
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


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def parse_lines(data: bytes) -> Iterator[JobEvent]:
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
