"""``jobqueue worker --processes P``: P worker processes, restarted when one dies.

Each child is a plain ``jobqueue worker`` process. A child that dies without being
asked to stop has its running jobs reaped at once (its pid is gone, so the reaper
needs no stale timeout) and is replaced. SIGTERM/SIGINT are forwarded to every child,
which then drain as they would alone; the supervisor exits 0 once they have.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

log = logging.getLogger(__name__)

_RESTART_BACKOFF = 1.0


class Supervisor:
    def __init__(
        self, command: Sequence[str], processes: int, on_child_died: Callable[[], object]
    ) -> None:
        self.command = list(command)
        self.processes = processes
        self.on_child_died = on_child_died
        self.children: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._last_restart = 0.0

    def run(self) -> int:
        previous = {s: signal.signal(s, self._forward) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.children = [self._spawn() for _ in range(self.processes)]
            while not self._stopping.wait(0.2) and self._any_running():
                self._replace_dead()
            for child in self.children:
                child.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(self.command)
        log.info("started worker process %d", child.pid)
        return child

    def _any_running(self) -> bool:
        return any(child.poll() is None for child in self.children)

    def _replace_dead(self) -> None:
        """A child that exits 0 is done (``--burst``); any other exit is a death."""
        for i, child in enumerate(self.children):
            code = child.poll()
            if code is None or code == 0 or self._stopping.is_set():
                continue
            log.error("worker process %d exited with %s: restarting it", child.pid, code)
            self.on_child_died()
            wait = self._last_restart + _RESTART_BACKOFF - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # a child that dies at once must not spin the supervisor
            self._last_restart = time.monotonic()
            self.children[i] = self._spawn()

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        self._stopping.set()
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signum)
