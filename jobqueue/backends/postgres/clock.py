"""The server's clock, read from this host: the time every process on a store agrees on.

Many hosts share one store, and their clocks disagree; the server's does not disagree
with itself. So the server's clock is the store's clock: ``ServerClock.now()`` is this
host's clock plus its measured offset from the server's ``clock_timestamp()`` (the
middle of the round trip, the fastest of a few), re-measured every ``REFRESH`` seconds
so a host clock stepped by NTP is followed. Reading the offset costs no round trip per
call, which matters: a worker reads the clock on every loop.

A query that fails, or a pool with no free connection, keeps the last offset: reading
the time never raises and never waits long. A forked child keeps the parent's offset
and never touches the parent's connections.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

log = logging.getLogger(__name__)

#: Seconds between two measurements of the offset.
REFRESH = 60.0
_SAMPLES = 3

HostClock = Callable[[], float]
#: Runs ``SELECT clock_timestamp()`` and gives back its answer (or raises).
ServerTime = Callable[[], datetime]


def measure(server_time: ServerTime, host: HostClock) -> float:
    """Seconds to add to ``host()`` to get the server's time: the sample with the
    shortest round trip, taken at its middle."""
    best: tuple[float, float] | None = None
    for _ in range(_SAMPLES):
        before = host()
        at = server_time().timestamp()
        after = host()
        sample = (after - before, at - (before + after) / 2)
        if best is None or sample[0] < best[0]:
            best = sample
    assert best is not None
    return best[1]


def server_time_on(conn: psycopg.Connection) -> ServerTime:
    def read() -> datetime:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        at: datetime = row[0]
        return at

    return read


class ServerClock:
    """``jobqueue.clock.Clock`` on the server's time (see the module docstring)."""

    def __init__(
        self,
        offset: float,
        refresh: Callable[[], float] | None = None,
        *,
        host: HostClock = time.time,
        every: float = REFRESH,
    ) -> None:
        """``refresh`` measures the offset anew (None: never)."""
        self.offset = offset
        self._refresh = refresh
        self._host = host
        self._every = every
        self._measured = time.monotonic()
        self._pid = os.getpid()
        self._busy = threading.Lock()

    def now(self) -> datetime:
        if time.monotonic() - self._measured >= self._every:
            self._remeasure()
        return datetime.fromtimestamp(self._host() + self.offset, UTC)

    def _remeasure(self) -> None:
        if self._refresh is None or os.getpid() != self._pid:
            return
        if not self._busy.acquire(blocking=False):
            return  # another thread is measuring: use the offset we have
        try:
            self._measured = time.monotonic()
            offset = self._refresh()
        except Exception as e:  # never let reading the time fail
            log.debug("could not measure the server's clock: %s", e)
        else:
            if abs(offset - self.offset) > 1.0:
                log.warning(
                    "this host's clock moved %.1fs against the server's", offset - self.offset
                )
            self.offset = offset
        finally:
            self._busy.release()
