"""The worker registry: ``jobs/.workers/<name>.json``, one small JSON file per worker.

A worker writes its record when it starts, rewrites it every heartbeat (and when the
jobs it runs change), and deletes it when it stops cleanly; a record left behind by a
killed worker stays until someone reads it as stale (see ``jobqueue.health``). The store
only keeps the documents: it neither builds nor judges them.

Each write is a temp file renamed into place, so a reader sees a whole record or the
previous one. Records are not fsynced: after a power cut a heartbeat is stale anyway.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from . import _fs

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]+")
_MAX_STEM = 120


def file_name(name: str) -> str:
    """A file name for a worker name: readable, never hidden, never a path, and unique
    (the CRC of the full name tells apart names that sanitise to the same text)."""
    stem = _UNSAFE.sub("_", name)[:_MAX_STEM].lstrip(".") or "worker"
    return f"{stem}-{zlib.crc32(name.encode()):08x}.json"


class WorkerRecords:
    """Reads and writes the records in one directory."""

    def __init__(self, directory: Path, tmp_file: Callable[[str], Path]) -> None:
        self.directory = directory
        #: ``tmp_file(name)``: where to write a record before renaming it into place.
        self._tmp_file = tmp_file

    def put(self, doc: Mapping[str, Any]) -> None:
        name = doc.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("a worker record needs a non-empty 'name'")
        dst = self.directory / file_name(name)
        data = orjson.dumps(dict(doc), option=orjson.OPT_INDENT_2)
        _fs.replace_atomic(dst, data, self._tmp_file(dst.name), durable=False)

    def remove(self, name: str) -> None:
        _fs.unlink_quietly(self.directory / file_name(name))

    def all(self) -> list[dict[str, Any]]:
        """Every readable record, by file name; unreadable ones are logged and skipped."""
        records = []
        for stem in sorted(_fs.list_names(self.directory)):
            doc = _read(self.directory / f"{stem}.json")
            if doc is not None:
                records.append(doc)
        return records


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(_fs.read_file(path))  # never through a planted symlink
    except FileNotFoundError:
        return None  # the worker stopped between the listing and the read
    except (OSError, _fs.NotAFile, orjson.JSONDecodeError) as e:
        log.warning("skipping unreadable worker record %s: %s", path.name, e)
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        log.warning("skipping worker record %s: not a worker document", path.name)
        return None
    return doc
