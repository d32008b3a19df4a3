"""``jobqueue worker --processes P``: P worker processes, restarted when one dies.

Each child is a plain ``jobqueue worker`` process, told the store by its URL. A child
that dies without being asked to stop has its running jobs reaped at once (its pid is
gone, so the reaper needs no stale timeout) and is replaced. SIGTERM/SIGINT are
forwarded to every child, which then drain as they would alone; the supervisor exits 0
once they have.

Children run in their own process group: a terminal's Ctrl-C then reaches only the
supervisor, which forwards it once (a second SIGINT would mean "stop now"). A hangup
(the terminal closed) is forwarded as SIGTERM, so children do not outlive us.

A child that exits 2 was given bad input (an unimportable MODULE:ATTR, a bad option):
restarting it cannot help, so it is not replaced, and the supervisor exits 2 once no
child is left.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

log = logging.getLogger(__name__)

_RESTART_BACKOFF = 1.0
BAD_INPUT = 2  # the CLI's exit code for bad input
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Supervisor:
    def __init__(
        self,
        command: Sequence[str],
        processes: int,
        on_child_died: Callable[[], object],
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env``: the children's environment (None: ours)."""
        self.command = list(command)
        self.processes = processes
        self.on_child_died = on_child_died
        self.env = None if env is None else dict(env)
        self.children: list[subprocess.Popen[bytes]] = []
        self._stopping = threading.Event()
        self._last_restart = 0.0
        self._signal: int = signal.SIGTERM
        #: Children the current stop signal was forwarded to: each gets it exactly once.
        self._told: set[int] = set()

    def run(self) -> int:
        previous = {s: signal.signal(s, self._on_signal) for s in _FORWARDED}
        try:
            self.children = [self._spawn() for _ in range(self.processes)]
            while not self._stopping.wait(0.2):
                self._replace_dead()
                if not self._any_running():
                    break  # every child finished (--burst)
            if self._stopping.is_set():
                self._tell_children()  # any started while the signal was being forwarded
            for child in self.children:
                child.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        bad_input = all(child.returncode == BAD_INPUT for child in self.children)
        return BAD_INPUT if bad_input and not self._stopping.is_set() else 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        # A process group of its own: see the module docstring.
        child = subprocess.Popen(self.command, process_group=0, env=self.env)
        log.info("started worker process %d", child.pid)
        return child

    def _any_running(self) -> bool:
        return any(child.poll() is None for child in self.children)

    def _replace_dead(self) -> None:
        """A child that exits 0 is done (``--burst``); any other exit is a death."""
        for i, child in enumerate(self.children):
            code = child.poll()
            if code in (None, 0, BAD_INPUT) or self._stopping.is_set():
                continue
            log.error("worker process %d exited with %s: restarting it", child.pid, code)
            self._child_died()
            wait = self._last_restart + _RESTART_BACKOFF - time.monotonic()
            # A child that dies at once must not spin the supervisor; a stop asked for
            # meanwhile means no replacement.
            if wait > 0 and self._stopping.wait(wait):
                return
            self._last_restart = time.monotonic()
            self.children[i] = self._spawn()

    def _child_died(self) -> None:
        """``on_child_died`` is the caller's code (a reap): its failure must not stop us."""
        try:
            self.on_child_died()
        except Exception:
            log.exception("on_child_died failed; restarting the worker process anyway")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Do the work in a thread: see ``signals`` (no locks inside a signal handler)."""
        threading.Thread(target=self._forward, args=(signum,), name="jobqueue-signal").start()

    def _forward(self, signum: int) -> None:
        self._signal = signal.SIGTERM if signum == signal.SIGHUP else signum
        self._told.clear()  # a second signal reaches every child again ("stop now")
        self._stopping.set()
        self._tell_children()

    def _tell_children(self) -> None:
        for child in self.children:
            if child.poll() is None and child.pid not in self._told:
                self._told.add(child.pid)
                child.send_signal(self._signal)
