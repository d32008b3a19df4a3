"""SIGTERM/SIGINT for a worker running in the main thread.

The handler does no work itself: it starts a thread that does. A signal handler runs
between two bytecodes of the main thread, which may at that instant hold the internal
lock of an Event or Condition the stop logic needs; taking it from the handler would
deadlock.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install(on_signal: Callable[[int], None]) -> Callable[[], None] | None:
    """Route SIGTERM/SIGINT to ``on_signal(signum)`` (in a fresh thread); returns a
    function that restores the previous handlers, or None off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {s: signal.getsignal(s) for s in SIGNALS}

    def handler(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=on_signal, args=(signum,), name="jobqueue-signal").start()

    for s in SIGNALS:
        signal.signal(s, handler)

    def restore() -> None:
        for s, old in previous.items():
            signal.signal(s, old)

    return restore
