"""Connections: one small pool per handle, and the one rule for errors.

Every statement runs on a connection borrowed from a ``psycopg_pool.ConnectionPool`` of at
most ``POOL_SIZE`` connections (opened lazily, one kept), in autocommit mode: each
statement is its own transaction unless a caller asks for one. With the listener
(``wakeups``), a handle holds at most ``POOL_SIZE + 1`` connections: budget
hosts x processes x 5 against the server's ``max_connections``.

A thread inside ``ScheduleStore.lock`` is *bound* to the lock's connection: everything it
does on this handle meanwhile runs in the lock's transaction, so a scheduler never needs
a second connection while it holds one (four locked threads on a pool of four would
otherwise wait for each other), and the tick's job and the schedule's new state commit
together.

Dead peers: every connection probes a silent server and gives up on one that stopped
answering within seconds (``CONNECTION_DEFAULTS``: TCP keepalives and a user timeout),
since a worker cut off from the server must neither hang in a read for ever nor resume
unaware; the store URL may set other values.

Errors: a ``psycopg.Error`` (the server refused, the connection broke, the pool timed
out) leaves here as ``StoreError`` with the original as ``__cause__``, worded as what we
were doing; nothing else is touched, so ``StaleJob`` and ``InvalidJob`` keep their meaning.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from ...errors import StoreError

log = logging.getLogger(__name__)

#: Connections one handle may hold besides its listener.
POOL_SIZE = 4
#: How long an operation waits for a free connection (or for the server to come back).
POOL_TIMEOUT = 10.0
#: Seconds libpq waits for a new connection to be made.
CONNECT_TIMEOUT = 5
APPLICATION_NAME = "jobqueue"
#: What every connection gets unless the store URL sets it (``?keepalives_idle=30``
#: wins). A server can vanish without a word: a cut link, a server restarted or failed
#: over while the link was down, a NAT that forgot an idle flow. Without these, a
#: statement whose answer will never come waits for ever (a worker's lease thread then
#: stops for good: no heartbeat, no reaping, no clean exit), data sent into a cut is
#: retried for some 15 minutes, and the LISTEN connection never learns it is dead.
#: With them, a silent connection is probed after 5 s and given up after about 10 s
#: (well inside the default ``stale_after``, 30 s), so a worker back from a cut reaches
#: its next heartbeat, and learns whether it lost its jobs, within seconds. libpq
#: ignores them on a unix socket.
CONNECTION_DEFAULTS: Mapping[str, int] = MappingProxyType(
    {
        "connect_timeout": CONNECT_TIMEOUT,
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": 10_000,  # ms: data sent and not acknowledged this long
    }
)


def application_name(role: str, schema: str) -> str:
    """What ``pg_stat_activity`` shows for a connection: ``jobqueue <schema>`` for the
    pool, ``jobqueue-listen <schema>`` for the listener (63 bytes at most)."""
    return f"{role} {schema}"[:63]


Row = tuple[Any, ...]


def first_line(e: psycopg.Error) -> str:
    """The server's (or libpq's) first line is what a person needs: DETAIL and HINT
    lines, and libpq's "This probably means..." paragraph, follow it."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def store_error(e: psycopg.Error, what: str) -> StoreError:
    """One line: ``could not <what>: <first line>``."""
    return StoreError(f"could not {what}: {first_line(e)}")


@contextmanager
def store_errors(what: str) -> Iterator[None]:
    """Turn every psycopg error inside the block into a StoreError (see the docstring)."""
    try:
        yield
    except psycopg.Error as e:
        raise store_error(e, what) from e


def connection_options(conninfo: str, application_name: str) -> dict[str, Any]:
    """The keywords of every connection: autocommit, its name, and those of
    ``CONNECTION_DEFAULTS`` that ``conninfo`` does not set (a keyword given to psycopg
    overrides the URL's own, which would silently drop ``?connect_timeout=20``)."""
    given = conninfo_to_dict(conninfo)
    defaults = {k: v for k, v in CONNECTION_DEFAULTS.items() if k not in given}
    return {"autocommit": True, "application_name": application_name, **defaults}


def connect(conninfo: str, *, application_name: str = APPLICATION_NAME) -> psycopg.Connection:
    """A connection of our own (the listener's, the migrations'), in autocommit mode."""
    return psycopg.connect(conninfo, **connection_options(conninfo, application_name))


class Database:
    """The pool of one handle, and the thread-bound connection of a schedule lock."""

    def __init__(self, conninfo: str, schema: str, *, max_size: int = POOL_SIZE) -> None:
        self.conninfo = conninfo
        self._pid = os.getpid()
        self._bound = threading.local()
        self._pool = ConnectionPool(
            conninfo,
            kwargs=connection_options(conninfo, application_name(APPLICATION_NAME, schema)),
            min_size=1,
            max_size=max_size,
            timeout=POOL_TIMEOUT,
            num_workers=1,
            name=f"jobqueue-{id(self):x}",
            open=True,
        )

    def close(self) -> None:
        """Close every pooled connection (a forked child must not: they are the parent's)."""
        if os.getpid() == self._pid:
            self._pool.close(timeout=1.0)

    @contextmanager
    def connection(
        self, what: str, *, timeout: float | None = None
    ) -> Iterator[psycopg.Connection]:
        """A connection for one operation: this thread's bound one, else a pooled one."""
        bound: psycopg.Connection | None = getattr(self._bound, "conn", None)
        with store_errors(what):
            if bound is not None:
                with bound.transaction():  # a savepoint: a failed statement spares the lock
                    yield bound
                return
            self._check_process()
            broken = False
            try:
                with self._pool.connection(timeout=timeout) as conn:
                    try:
                        yield conn
                    except psycopg.OperationalError:
                        broken = conn.broken
                        raise
            finally:
                if broken:
                    self._drop_dead()

    @contextmanager
    def transaction(self, what: str) -> Iterator[psycopg.Connection]:
        """A connection inside a transaction (a savepoint when this thread is bound)."""
        with self.connection(what) as conn, conn.transaction():
            yield conn

    def fetch(self, what: str, query: str, params: Any = None) -> list[Row]:
        """Run one statement and return its rows."""
        with self.connection(what) as conn:
            return conn.execute(query, params).fetchall()

    def fetch_one(self, what: str, query: str, params: Any = None) -> Row | None:
        with self.connection(what) as conn:
            return conn.execute(query, params).fetchone()

    def run(self, what: str, query: str, params: Any = None) -> int:
        """Run one statement; how many rows it changed."""
        with self.connection(what) as conn:
            return conn.execute(query, params).rowcount

    @contextmanager
    def bound(self, conn: psycopg.Connection) -> Iterator[None]:
        """Route this thread's operations to ``conn`` for the block (see the docstring)."""
        if getattr(self._bound, "conn", None) is not None:
            raise RuntimeError("a schedule lock is not reentrant")
        self._bound.conn = conn
        try:
            yield
        finally:
            self._bound.conn = None

    def _drop_dead(self) -> None:
        """A connection died (a server restart, a killed session): its idle siblings
        most likely did too. Check them now, so one failure is all a caller sees."""
        try:
            self._pool.check()
        except psycopg.Error as e:
            log.debug("could not check the pooled connections: %s", e)

    def _check_process(self) -> None:
        """A forked child sharing the parent's sockets would corrupt both sessions."""
        if os.getpid() != self._pid:
            raise psycopg.InterfaceError(
                "this PostgreSQL handle belongs to the parent process: use reopen() after fork"
            )
