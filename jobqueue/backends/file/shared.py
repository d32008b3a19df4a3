"""Small named state shared by every process on a data dir (rate limit logs, ...):
``jobs/.shared/<sha256 of name>``, read-modify-written under a lock stripe."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import _fs
from .layout import Layout

T = TypeVar("T")


class SharedFiles:
    """The backend's ``shared`` part: rate limits need one state across processes."""

    def __init__(self, layout: Layout, write: Callable[[Path, bytes], None]) -> None:
        self.layout = layout
        self._write = write

    def update(self, name: str, fn: Callable[[bytes | None], tuple[bytes, T]]) -> T:
        """Call ``fn`` with the current bytes (None at first) and store what it returns,
        atomically with respect to every other process."""
        import hashlib  # with its OpenSSL, ~3 ms of a one-shot command: only for rate limits

        path = self.layout.shared / hashlib.sha256(name.encode()).hexdigest()[:40]
        lock = _fs.file_lock(self.layout.lock_file("shared", name))
        with _fs.as_store_error(f"update the shared state {name!r}"), lock:
            try:
                current: bytes | None = path.read_bytes()
            except FileNotFoundError:
                current = None
            data, answer = fn(current)
            if data != current:
                self._write(path, data)
            return answer
