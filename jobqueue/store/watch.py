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
        observer.unschedule_all()  # drop the watches first: fewer events race the stop
        observer.stop()
        observer.join(timeout=5)

    return stop
