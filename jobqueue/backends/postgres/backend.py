"""``PostgresBackend``: ``jobqueue.backend.Backend`` on a PostgreSQL schema
(``postgresql://user@host/db?schema=jobs``; options in ``url``).

Any number of processes on any number of hosts share one store. The parts:

* ``jobs`` (``jobs``): one row per job; claims with ``FOR UPDATE SKIP LOCKED``; every
  move a compare-and-set whose fence is the job's current attempt (see ``jobs``).
* ``events`` (``events``): followed in transaction order, never by a serial id.
* ``cancels``, ``workers``, ``schedules`` (advisory lock per name), ``shared`` (row lock).
* ``wakeups`` (``listener``): LISTEN/NOTIFY as a hint, polling as the fallback.

**Time.** The protocol hands the store the caller's times: ``now`` arguments, and the
times inside the jobs it writes (``run_at``, ``heartbeat_at`` ...), and the reaper,
health and the scheduler compare times above the store, in Python. So the store takes
the caller's times as given and compares them as given (``run_at <= now`` in the claim
statement). It must: tests drive a ``FakeClock`` through the same calls and expect a
job deferred by ten fake seconds to be claimed ten fake seconds later, which
``now()`` inside SQL would ignore; and mixing the two (the server's ``now()`` for the
claim, the caller's clock in the documents and the reaper) would compare one host's
times with another's.

What puts every comparison on the server's clock is where the callers' times come
from: ``backend.clock``, a ``ServerClock``, is this host's clock plus its measured
offset from the server's ``clock_timestamp()``. A queue that reads it
(``JobQueue(backend, clock=backend.clock)``) writes the server's instants (heartbeats,
retry times, a schedule's next tick, rate-limit stamps) and claims and reaps with the
server's ``now``, like every other host, whatever its own clock says: an hour off
changes nothing. Durations (a delay, ``stale_after``) survive any offset; instants all
get the correction. A test's ``FakeClock`` given to the queue replaces it, as it should.
The server's ``clock_timestamp()`` itself stamps only what no caller compares: the
``updated_at`` columns, and the event rows' ``recorded_at`` that retention prunes by.

**Connections.** At most ``POOL_SIZE`` (4) pooled connections per handle, plus one
LISTEN connection once something subscribes or follows events: 5 per worker process.
A handle is never shared with a forked child: ``reopen()`` opens a new one.
"""

from __future__ import annotations

import time

import psycopg

from . import migrations
from .cancels import PostgresCancels
from .clock import HostClock, ServerClock, measure, server_time_on
from .database import POOL_SIZE, Database, connect, store_errors
from .events import PostgresEvents
from .jobs import PostgresJobs
from .listener import Listener, PostgresWakeups, channel_of
from .schedules import PostgresSchedules
from .shared import PostgresShared
from .url import Settings, parse
from .workers import PostgresWorkers

#: The oldest server with what the schema uses (xid8 and pg_snapshot, for the event log).
MIN_SERVER_VERSION = 130000


class PostgresBackend:
    """One PostgreSQL schema. Thread-safe; any number of processes and hosts share it."""

    process_local = False

    def __init__(
        self,
        url: str | Settings,
        *,
        create: bool = True,
        host_clock: HostClock = time.time,
        pool_size: int = POOL_SIZE,
    ) -> None:
        """``create=False``: create and migrate nothing (NoQueue when there is no store).
        ``host_clock``: this host's clock, in seconds (tests set it an hour off)."""
        self.settings = url if isinstance(url, Settings) else parse(url)
        self._host_clock = host_clock
        s = self.settings
        offset = self._open(create)
        self._db = Database(s.conninfo, s.schema, max_size=pool_size)
        self.clock = ServerClock(offset, self._measure, host=host_clock)
        self._listener = Listener(s.conninfo, s.schema, enabled=s.listen)
        channel = channel_of(s.schema)
        self.events = PostgresEvents(self._db, s.schema, self._listener)
        self.jobs = PostgresJobs(self._db, s.schema, channel, self.events)
        self.cancels = PostgresCancels(self._db, s.schema, channel)
        self.workers = PostgresWorkers(self._db, s.schema)
        self.schedules = PostgresSchedules(self._db, s.schema)
        self.shared = PostgresShared(self._db, s.schema)
        self.wakeups = PostgresWakeups(self._listener)

    def _open(self, create: bool) -> float:
        """Check the server and the schema (migrating it when it is older) on a
        connection of its own; the clock offset, measured on it."""
        s = self.settings
        with store_errors(f"open {s.location}"), connect(s.conninfo) as conn:
            check_server(conn)
            migrations.ensure(conn, s.schema, s.location, create=create, migrate_older=s.migrate)
            return measure(server_time_on(conn), self._host_clock)

    def _measure(self) -> float:
        with self._db.connection("read the server's clock", timeout=0.2) as conn:
            return measure(server_time_on(conn), self._host_clock)

    def __repr__(self) -> str:
        return f"PostgresBackend({self.location!r})"

    @property
    def location(self) -> str:
        """The URL without its password."""
        return self.settings.location

    @property
    def url(self) -> str:
        """The URL this handle was opened with (a child process opens the same store)."""
        return self.settings.url

    @property
    def listener(self) -> Listener:
        """The LISTEN thread (tests kill its connection)."""
        return self._listener

    def reopen(self) -> PostgresBackend:
        """A new pool and listener: nothing of this handle's is shared with the new one."""
        return PostgresBackend(self.settings, host_clock=self._host_clock)

    def close(self) -> None:
        """Close the pool and stop the listener; writes are all committed already."""
        self._listener.close()
        self._db.close()


def check_server(conn: psycopg.Connection) -> None:
    """The schema needs PostgreSQL 13 (xid8) and a UTF-8 database (job documents are
    UTF-8 text compared by digest)."""
    version = conn.info.server_version
    if version < MIN_SERVER_VERSION:
        raise psycopg.NotSupportedError(
            f"jobqueue needs PostgreSQL 13 or later, this server is {version // 10000}"
        )
    encoding = conn.execute("SHOW server_encoding").fetchone()
    if encoding is None or encoding[0] != "UTF8":
        raise psycopg.NotSupportedError(
            f"jobqueue needs a UTF8 database, this one is {encoding[0] if encoding else '?'}"
        )
