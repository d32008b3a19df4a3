"""Live updates without load: ONE follower of the event log per dashboard, fanned out to
every open tab, with resume.

* **One follower.** A thread runs ``queue.events()`` and appends each event to a ring
  of the most recent ones, numbered ``<epoch>-<seq>``; N open tabs cost one tail of the
  log, not N (oban#496 shows what per-tab refreshes cost).
* **Fan-out.** Each open stream is a ``Subscription``: an asyncio queue on the server's
  event loop, fed from the follower thread with ``call_soon_threadsafe``. A tab that
  falls ``backlog`` events behind is told to reload rather than held in memory.
* **Resume.** The queue exposes no position in its log, so the ring is the position: a
  tab that reconnects with ``Last-Event-ID`` (or a page that was rendered at position
  ``after``) gets the ring's events past that id, then the live ones. An id of another
  epoch (the follower restarted, so events may have been missed) or one that fell off
  the ring gets ``RELOAD``: the page is read again, which is always correct.
* **Lifetime.** The follower starts with the first page or stream that needs it and
  stops ``grace`` seconds after the last stream closed, or at ``close()`` (the app's
  lifespan end). It checks both whenever the log has been quiet for ``idle`` seconds,
  which is how long a stop can take. Restarting the follow after such a quiet spell
  leaves a gap of the microseconds between two ``follow`` calls; an event written in it
  would be missed. The event-log protocol has no stoppable follow to avoid that.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..errors import StoreError
from ..events import JobEvent

if TYPE_CHECKING:
    from ..queue import JobQueue

log = logging.getLogger(__name__)

RING_SIZE = 2000
IDLE = 1.0
GRACE = 60.0
BACKLOG = 1000
ERROR_BACKOFF = 5.0
JOIN_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Item:
    """One event of the ring, with its id ``<epoch>-<seq>`` (the SSE ``id:``)."""

    id: str
    seq: int
    event: JobEvent


class _Signal:
    """A message that is not an event: ``RELOAD`` or ``CLOSED``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The tab must read the page again: events were or may have been missed.
RELOAD: Final = _Signal("RELOAD")
#: The dashboard is shutting down: end the stream.
CLOSED: Final = _Signal("CLOSED")

Message = Item | _Signal


class Subscription:
    """One open stream's queue, on the event loop that serves it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, backlog: int) -> None:
        self._loop = loop
        self._backlog = backlog
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._lost = False

    def offer(self, message: Message) -> bool:
        """From any thread: queue ``message``; False once the loop is gone."""
        try:
            self._loop.call_soon_threadsafe(self._put, message)
        except RuntimeError:  # the loop was closed: the stream is over
            return False
        return True

    def _put(self, message: Message) -> None:
        if self._lost:
            return
        if isinstance(message, Item) and self._queue.qsize() >= self._backlog:
            self._lost = True
            message = RELOAD  # too far behind: re-reading the page is cheaper than catching up
        self._queue.put_nowait(message)

    async def next(self, timeout: float) -> Message | None:
        """The next message, or None after ``timeout`` seconds without one."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None


@dataclass(frozen=True, slots=True)
class Start:
    """What a new stream begins with: ``replay`` (ring events past its id) or ``reload``."""

    subscription: Subscription
    replay: tuple[Item, ...]
    reload: bool


class LiveFeed:
    """The dashboard's one follower of the event log (see the module docstring)."""

    def __init__(
        self,
        queue: JobQueue,
        *,
        ring_size: int = RING_SIZE,
        idle: float = IDLE,
        grace: float = GRACE,
        backlog: int = BACKLOG,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self.idle, self.grace, self.backlog = idle, grace, backlog
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._ring: deque[Item] = deque(maxlen=ring_size)
        self._subs: set[Subscription] = set()
        self._epoch = ""
        self._seq = 0
        self._alone_since = monotonic()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- for pages and streams ---------------------------------------------------------

    def position(self) -> str | None:
        """The id of the newest event, starting the follower if needed: a page reads it
        before its data, and its stream resumes from it, so nothing falls in between.
        None when the event log cannot be read: the page then renders without updates."""
        with self._lock:
            try:
                self._ensure_running()
            except StoreError as e:
                log.warning("dashboard: cannot follow the event log: %s", e)
                return None
            return f"{self._epoch}-{self._seq}"

    def subscribe(self, last_id: str | None, loop: asyncio.AbstractEventLoop) -> Start:
        """Open a stream that resumes after ``last_id`` (None: from now on); StoreError
        when the event log cannot be read."""
        sub = Subscription(loop, self.backlog)
        with self._lock:
            self._ensure_running()
            replay = self._after(last_id)
            self._subs.add(sub)
        return Start(sub, tuple(replay or ()), reload=replay is None)

    def unsubscribe(self, sub: Subscription) -> None:
        """The stream ended; the follower stops ``grace`` seconds after the last one."""
        with self._lock:
            self._subs.discard(sub)
            if not self._subs:
                self._alone_since = self._monotonic()

    @property
    def running(self) -> bool:
        """Whether the follower thread is alive (tests check it stops)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def close(self, *, wait: bool = True) -> None:
        """End every stream and stop the follower; with ``wait``, block until it has
        stopped (at most ``idle`` seconds: it notices at its next quiet tick)."""
        self._stop.set()
        with self._lock:
            subs, self._subs = list(self._subs), set()
            thread = self._thread
        for sub in subs:
            sub.offer(CLOSED)
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT)

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """The app's lifespan: nothing to start (the follower starts on demand); at the
        end, close without waiting: the daemon thread ends within ``idle`` seconds, and a
        server's shutdown need not wait for it. (When mounted, the host's lifespan does
        not reach us: the follower then stops ``grace`` seconds after the last tab.)"""
        try:
            yield
        finally:
            self.close(wait=False)

    # --- the ring ----------------------------------------------------------------------

    def _after(self, last_id: str | None) -> list[Item] | None:
        """Ring items past ``last_id``; None when the id cannot be resumed from."""
        if last_id is None:
            return []
        epoch, _, seq_text = last_id.rpartition("-")
        if epoch != self._epoch or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        oldest = self._ring[0].seq if self._ring else self._seq + 1
        if seq > self._seq or seq < oldest - 1:
            return None  # from the future, or fell off the ring
        return [item for item in self._ring if item.seq > seq]

    def _publish(self, event: JobEvent) -> None:
        with self._lock:
            self._seq += 1
            item = Item(f"{self._epoch}-{self._seq}", self._seq, event)
            self._ring.append(item)
            subs = list(self._subs)
        for sub in subs:
            if not sub.offer(item):
                self.unsubscribe(sub)

    # --- the follower thread -----------------------------------------------------------

    def _ensure_running(self) -> None:
        """(Under the lock.) Start the follower unless it runs: a new epoch, an empty
        ring, and a follow whose position is taken now, before this call returns."""
        if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
            return
        self._new_epoch()
        stream = self.queue.events(idle_timeout=self.idle)
        self._alone_since = self._monotonic()
        self._thread = threading.Thread(
            target=self._run, args=(stream,), name="jobqueue-dashboard-live", daemon=True
        )
        self._thread.start()

    def _new_epoch(self) -> None:
        self._epoch, self._seq = secrets.token_hex(4), 0
        self._ring.clear()

    def _run(self, stream: Iterator[JobEvent]) -> None:
        current: Iterator[JobEvent] | None = stream
        try:
            while current is not None:
                self._drain(current)
                current = self._next_stream()
        except Exception:  # a bug: open tabs must not wait for events that never come
            log.exception("dashboard: the event-log follower stopped")
            self._offer_all(RELOAD)
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _drain(self, stream: Iterator[JobEvent]) -> None:
        """Publish the stream's events until it goes quiet for ``idle``, or we must stop."""
        try:
            for event in stream:
                self._publish(event)
                if self._should_stop():
                    break
        except StoreError as e:
            self._recover(e)
        finally:
            if isinstance(stream, Generator):  # stop its file watch or cursor now
                stream.close()

    def _next_stream(self) -> Iterator[JobEvent] | None:
        """A new follow after a quiet spell, or None when the follower should stop."""
        while True:
            with self._lock:
                if self._should_stop():
                    return None
                try:
                    return self.queue.events(idle_timeout=self.idle)
                except StoreError as e:
                    error = e
            self._recover(error)

    def _recover(self, error: StoreError) -> None:
        """The log could not be read: wait, then start a new epoch, since events may have
        been missed, and tell every open tab to reload."""
        log.warning("dashboard: following the event log failed, retrying: %s", error)
        self._stop.wait(ERROR_BACKOFF)
        with self._lock:
            self._new_epoch()
        self._offer_all(RELOAD)

    def _offer_all(self, message: Message) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.offer(message)

    def _should_stop(self) -> bool:
        if self._stop.is_set():
            return True
        return not self._subs and self._monotonic() - self._alone_since >= self.grace
