"""Wake-ups: one LISTEN connection per handle, a hint that polling backs up.

Every write that makes a job claimable, asks a running job to stop or records an event
sends a NOTIFY on the store's channel (``jobqueue.<schema>``) with the payload ``job``,
``cancel`` or ``event``: never data (payloads are capped at 8 kB and identical ones in a
transaction collapse into one). A daemon thread holds a dedicated autocommit
connection, outside the pool, that LISTENs and hands each notification to the
subscribers of its kind; event followers wait on a counter.

A hint only, never the truth: workers still poll, and so do followers. The first
``subscribe`` returns once the LISTEN is in place, so nothing sent after it is missed.
When the connection dies (a restart, ``pg_terminate_backend``, a network cut: an idle
LISTEN connection learns of a silent death only from the TCP keepalives every
connection has, see ``database.CONNECTION_DEFAULTS``), the thread reconnects with a
backoff and then wakes everyone once, because something may have happened while
nobody listened. With ``listen=false`` in the URL (PgBouncer in transaction mode loses
a session's LISTEN) there is no thread and nobody is woken.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg

from .database import application_name, connect, first_line

log = logging.getLogger(__name__)

#: The payloads (kinds of notification).
JOB, CANCEL, EVENT = "job", "cancel", "event"
#: How often the thread looks up from ``notifies`` to see whether it should stop.
_TICK = 0.5
_BACKOFF = (0.1, 0.5, 1.0, 2.0)
#: How long a first subscriber waits for the LISTEN to be in place (a server that is
#: down must not hold up a worker's start: it polls meanwhile).
READY_WAIT = 2.0


def channel_of(schema: str) -> str:
    """The NOTIFY channel of one store (a database holds many schemas, one per store)."""
    return f"jobqueue.{schema}"


class Listener:
    """The LISTEN thread of one handle, started at the first subscription or follow."""

    def __init__(self, conninfo: str, schema: str, *, enabled: bool) -> None:
        self.conninfo = conninfo
        self.schema = schema
        self.channel = channel_of(schema)
        self.enabled = enabled
        self._lock = threading.Condition()
        self._subscribers: dict[object, tuple[frozenset[str], Callable[[], None]]] = {}
        #: Bumped at each event notification (and at each reconnect): followers wait on it.
        self.events_seen = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        #: Set once the first LISTEN is in place; nobody waits for it past ``_ready_by``.
        self._ready = threading.Event()
        self._ready_by = 0.0
        #: The server pid of the LISTEN connection while there is one (tests kill it).
        self.backend_pid: int | None = None

    # --- subscribers -------------------------------------------------------------------

    def subscribe(self, kinds: frozenset[str], callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on each notification of these kinds; returns the unsubscribe."""
        if not self.enabled:
            return _nothing
        token = object()
        with self._lock:
            self._subscribers[token] = (kinds, callback)
        self.start()

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(token, None)

        return unsubscribe

    def wait_for_event(self, seen: int, timeout: float) -> int:
        """Wait until ``events_seen`` passes ``seen`` or ``timeout`` seconds went by (a
        plain sleep without a listener: the caller polls); the new count."""
        if not self.enabled:
            self._stop.wait(timeout)
            return seen
        self.start()
        with self._lock:
            self._lock.wait_for(lambda: self.events_seen != seen or self._stop.is_set(), timeout)
            return self.events_seen

    def start(self) -> None:
        """Start the thread if needed, and wait (``READY_WAIT`` at most) until it
        listens: a notification sent after a subscribe returns is then never missed."""
        with self._lock:
            if self._stop.is_set():
                return
            if self._thread is None:
                self._ready_by = time.monotonic() + READY_WAIT
                self._thread = threading.Thread(
                    target=self._run, name=f"jobqueue-listen-{self.channel}", daemon=True
                )
                self._thread.start()
        self._ready.wait(max(0.0, self._ready_by - time.monotonic()))

    def close(self) -> None:
        """The thread ends within ``_TICK`` seconds and closes its connection itself."""
        self._stop.set()
        with self._lock:
            self._subscribers.clear()
            self._lock.notify_all()

    # --- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                name = application_name("jobqueue-listen", self.schema)
                with connect(self.conninfo, application_name=name) as conn:
                    conn.execute(f'LISTEN "{self.channel}"')
                    failures = 0
                    if self._ready.is_set():  # a reconnect: wake everyone for what we missed
                        self._dispatch({JOB, CANCEL, EVENT})
                    self.backend_pid = conn.info.backend_pid
                    self._ready.set()
                    self._listen(conn)
            except psycopg.Error as e:
                self.backend_pid = None
                delay = _BACKOFF[min(failures, len(_BACKOFF) - 1)]
                failures += 1
                if not self._stop.is_set():
                    log.warning(
                        "LISTEN connection lost (%s); polling, retrying in %.1fs",
                        first_line(e),
                        delay,
                    )
                self._stop.wait(delay)
        self.backend_pid = None

    def _listen(self, conn: psycopg.Connection) -> None:
        """Each notification is handed on as it arrives; ``notifies`` returns after
        ``_TICK`` seconds so that a stop is noticed."""
        while not self._stop.is_set():
            for notification in conn.notifies(timeout=_TICK):
                self._dispatch({notification.payload})
                if self._stop.is_set():
                    return

    def _dispatch(self, kinds: set[str]) -> None:
        """Callbacks run on this thread, outside the lock; a failing one is logged."""
        with self._lock:
            if EVENT in kinds:
                self.events_seen += 1
                self._lock.notify_all()
            callbacks = [cb for wanted, cb in self._subscribers.values() if wanted & kinds]
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a wake-up callback failed")


def _nothing() -> None:
    return None


class PostgresWakeups:
    """The wakeups part: new claimable jobs and cancel requests, from any host."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Without LISTEN (``listen=false``) the callback is never called: workers poll."""
        return self._listener.subscribe(frozenset({JOB, CANCEL}), callback)
