"""A value read at most once every ``ttl`` seconds, shared by the requests in between:
the header's health badge and the status tabs' counts are on every page, and counting
the whole store (``stats``, ``health``) takes 80 ms at 110,000 file jobs, more than a
page may spend on them. An action of this dashboard forgets the counts at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Recent(Generic[T]):
    """``get()`` returns ``read()``'s value, read again once it is ``ttl`` seconds old."""

    def __init__(
        self, read: Callable[[], T], ttl: float, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self._read, self._ttl, self._timer = read, ttl, timer
        self._lock = threading.Lock()
        self._value: tuple[float, T] | None = None

    def get(self) -> T:
        """The value, fresh enough (two requests at expiry may both read it: harmless)."""
        with self._lock:
            cached = self._value
        now = self._timer()
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        value = self._read()
        with self._lock:
            self._value = (now, value)
        return value

    def forget(self) -> None:
        """Read again at the next ``get`` (the value is known to have changed)."""
        with self._lock:
            self._value = None
