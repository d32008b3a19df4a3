"""The worker registry: ``jobs/.workers/<name>.json``, one small JSON file per worker.

A worker writes its record when it starts, rewrites it every heartbeat (and when the
jobs it runs change), and deletes it when it stops cleanly; a record left behind by a
killed worker stays until someone reads it as stale (see ``jobqueue.health``). The
backend only stores the records: the worker fills them and ``jobqueue.health`` judges
them.

Each write is a temp file renamed into place, so a reader sees a whole record or the
previous one. Records are not fsynced: after a power cut a heartbeat is stale anyway.
"""

from __future__ import annotations

import logging
import re
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from ... import codec
from ...backend import WorkerRecord
from . import _fs
from .layout import Layout

T = TypeVar("T")

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]+")
_MAX_STEM = 120


def file_name(name: str) -> str:
    """A file name for a worker name: readable, never hidden, never a path, and unique
    (the CRC of the full name tells apart names that sanitise to the same text)."""
    stem = _UNSAFE.sub("_", name)[:_MAX_STEM].lstrip(".") or "worker"
    return f"{stem}-{zlib.crc32(name.encode()):08x}.json"


class WorkerRecords:
    """The records of one data directory, in ``jobs/.workers/``."""

    def __init__(self, paths: Layout, owner: str) -> None:
        self.directory = paths.workers
        self._paths = paths
        self._owner = owner

    def put(self, record: WorkerRecord) -> None:
        """Rewritten at every heartbeat, so never fsynced: a stale record is harmless."""
        if not record.name:
            raise ValueError("a worker record needs a non-empty name")
        dst = self.directory / file_name(record.name)
        data = orjson.dumps(to_document(record), option=orjson.OPT_INDENT_2)
        tmp = self._paths.tmp_file(dst.name, self._owner)
        with _fs.as_store_error(f"write the record of worker {record.name}"):
            _fs.replace_atomic(dst, data, tmp, durable=False)

    def remove(self, name: str) -> None:
        """A worker that stops cleanly leaves no record to be judged stale."""
        with _fs.as_store_error(f"remove the record of worker {name}"):
            _fs.unlink_quietly(self.directory / file_name(name))

    def all(self) -> list[WorkerRecord]:
        """Every readable record, by name; unreadable ones are logged and skipped."""
        with _fs.as_store_error("list the worker records"):
            stems = _fs.list_names(self.directory)
            found = [_read(self.directory / f"{stem}.json") for stem in stems]
        return sorted((r for r in found if r is not None), key=lambda r: r.name)


def to_document(record: WorkerRecord) -> dict[str, Any]:
    """Every field of the record, times as ISO strings: a reader in another process judges
    staleness from it (``queue.workers()`` shows a part, via ``health.worker_dict``)."""
    return {
        "name": record.name,
        "host": record.host,
        "pid": record.pid,
        "pid_started": record.pid_started,
        "started_at": codec.format_time(record.started_at),
        "heartbeat_at": codec.format_time(record.heartbeat_at),
        "concurrency": record.concurrency,
        "running": list(record.running),
        "stale_after": record.stale_after,
        "types": list(record.types),
    }


def from_document(doc: dict[str, Any]) -> WorkerRecord:
    """KeyError, TypeError or ValueError when ``doc`` is not a record."""
    pid_started = doc.get("pid_started")
    return WorkerRecord(
        name=_typed(doc["name"], str),
        host=_typed(doc["host"], str),
        pid=_typed(doc["pid"], int),
        pid_started=None if pid_started is None else float(pid_started),
        started_at=_time(doc["started_at"]),
        heartbeat_at=_time(doc["heartbeat_at"]),
        concurrency=_typed(doc["concurrency"], int),
        running=tuple(str(i) for i in doc.get("running") or ()),
        stale_after=float(doc.get("stale_after", 30.0)),
        types=tuple(str(t) for t in doc.get("types") or ()),
    )


def _typed(value: Any, kind: type[T]) -> T:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"expected {kind.__name__}, not {type(value).__name__}")
    return value


def _time(value: Any) -> datetime:
    at = datetime.fromisoformat(_typed(value, str))
    if at.tzinfo is None:
        raise ValueError(f"{value!r} has no offset")
    return at


def _read(path: Path) -> WorkerRecord | None:
    try:
        doc = orjson.loads(_fs.read_file(path))  # never through a planted symlink
    except FileNotFoundError:
        return None  # the worker stopped between the listing and the read
    except (OSError, _fs.NotAFile, orjson.JSONDecodeError) as e:
        log.warning("skipping unreadable worker record %s: %s", path.name, e)
        return None
    if not isinstance(doc, dict):
        log.warning("skipping worker record %s: not a JSON object", path.name)
        return None
    try:
        return from_document(doc)
    except (KeyError, TypeError, ValueError) as e:
        log.warning("skipping worker record %s: not a worker record (%s)", path.name, e)
        return None
