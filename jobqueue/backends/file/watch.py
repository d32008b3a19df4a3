"""Wake workers when a job file appears, instead of waiting a poll interval.

watchdog's inotify observer delivers an event right after the write; where events are
not delivered (some network filesystems) the worker's ``poll_interval`` still applies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import (
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, EventDispatcher, EventQueue

log = logging.getLogger(__name__)

#: What wakes us: a write into a file (an appended line), and a file created or renamed
#: in. Asking inotify for these only keeps out the open and close events of every read,
#: the worker's own reads of the index included: each one went through watchdog's threads
#: while the woken worker was claiming, and delayed its job (docs/file-backend.md).
#: (A close after a write is left out too: its write already woke us.)
_WAKING = [FileModifiedEvent, FileCreatedEvent, FileMovedEvent]


class _CallAtOnce(EventQueue):
    """The observer's event queue, except that an event is not queued: the emitter thread
    that read it calls back there and then. watchdog's dispatcher thread would only call
    back in its turn, and each hand-over between threads delayed an idle worker's job
    (docs/file-backend.md)."""

    def __init__(self, callback: Callable[[], None]) -> None:
        super().__init__()
        self.callback = callback

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is EventDispatcher.stop_event:  # the dispatcher thread's, to end it
            super().put(item, block, timeout)
        else:
            self.callback()


class _Poke(FileSystemEventHandler):
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.callback()


def watch(paths: list[Path], callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` on changes in ``paths``; returns a function that stops watching.
    ``callback`` runs in one of watchdog's threads: it must be quick and must not raise."""
    observer = Observer()
    observer.daemon = True
    _call_from_emitters(observer, callback)
    for path in paths:
        observer.schedule(_Poke(callback), str(path), recursive=False, event_filter=_WAKING)
    try:
        observer.start()
    except OSError as e:  # e.g. out of inotify watches: polling still works
        log.warning("file events unavailable, polling instead: %s", e)
        return lambda: None

    def stop() -> None:
        # No long join: the observer thread is a daemon, and joining waits out watchdog's
        # hold on unpaired renames, which made every worker's stop slower by
        # that hold (docs/file-backend.md).
        logging.getLogger("watchdog.observers.inotify").addFilter(_quiet_stop)
        observer.stop()
        observer.join(timeout=0.05)

    return stop


def _call_from_emitters(observer: BaseObserver, callback: Callable[[], None]) -> None:
    """Before ``schedule``: the emitters it creates then call back themselves. watchdog
    has no public way to say so; where its internals differ, ``_Poke`` still calls back,
    from the dispatcher thread."""
    if isinstance(getattr(observer, "_event_queue", None), EventQueue):
        observer._event_queue = _CallAtOnce(callback)


def _quiet_stop(record: logging.LogRecord) -> bool:
    """watchdog logs an ERROR when an inotify event races ``stop()``; it is harmless
    (the watch is going away) and would alarm users at every worker shutdown."""
    return "called when the thread is inactive" not in record.getMessage()
