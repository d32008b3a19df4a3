"""Wake workers when a job file appears, instead of waiting a poll interval.

watchdog's inotify observer delivers an event within a millisecond of the rename into
``pending/``; where events are not delivered (some network filesystems) the worker's
``poll_interval`` still applies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger(__name__)


class _Poke(FileSystemEventHandler):
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("created", "moved", "modified", "closed"):
            self.callback()


def watch(paths: list[Path], callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` on changes in ``paths``; returns a function that stops watching."""
    observer = Observer()
    observer.daemon = True
    for path in paths:
        observer.schedule(_Poke(callback), str(path), recursive=False)
    try:
        observer.start()
    except OSError as e:  # e.g. out of inotify watches: polling still works
        log.warning("file events unavailable, polling instead: %s", e)
        return lambda: None

    def stop() -> None:
        # No long join: the observer thread is a daemon, and joining waits out watchdog's
        # 0.5 s hold on unpaired renames, which made every worker stop 0.5 s slower.
        logging.getLogger("watchdog.observers.inotify").addFilter(_quiet_stop)
        observer.stop()
        observer.join(timeout=0.05)

    return stop


def _quiet_stop(record: logging.LogRecord) -> bool:
    """watchdog logs an ERROR when an inotify event races ``stop()``; it is harmless
    (the watch is going away) and would alarm users at every worker shutdown."""
    return "called when the thread is inactive" not in record.getMessage()
