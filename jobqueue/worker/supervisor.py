"""``jobqueue worker --processes P``: P worker processes, restarted when one dies.

Each child is a plain ``jobqueue worker`` process, told the store by its URL; the
supervisor never imports the worker's module (it would hold whatever that module loads,
in one more process). A child that dies without being asked to stop has its running
jobs reaped at once (its pid is gone, so the reaper needs no stale timeout) and is
replaced. SIGTERM/SIGINT are forwarded to every child, which then drain as they would
alone; the supervisor exits 0 once they have.

Children run in their own process group: a terminal's Ctrl-C then reaches only the
supervisor, which forwards it once (a second SIGINT would mean "stop now"). A hangup
(the terminal closed) is forwarded as SIGTERM, so children do not outlive us.

A child that exits 2 was given bad input (an unimportable MODULE:ATTR, a bad option):
restarting it cannot help, so it is not replaced, and the supervisor exits 2 once no
child is left. A child that dies soon after it started (a module that raises at
import, a database that is down) is restarted after a delay that doubles with each
such death in a row (``RestartPolicy``); after ``give_up_after`` of them the
supervisor stops the other children and exits 1, rather than printing the same error
every second forever. ``JOBQUEUE_RESTART_BACKOFF`` (seconds) sets the first delay.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger(__name__)

BAD_INPUT = 2  # the CLI's exit code for bad input
GAVE_UP = 1
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_TICK = 0.2  # seconds between looks at the children
BACKOFF_ENV = "JOBQUEUE_RESTART_BACKOFF"


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """When to restart a child that died, and when to stop trying.

    A child that lived less than ``settle`` seconds died "at start": the n-th such death
    in a row waits ``min(base * 2**(n-1), cap)`` before the restart, and the
    ``give_up_after``-th ends the supervisor. A child that lived longer is restarted
    after ``base`` and its count starts again.
    """

    base: float = 1.0
    cap: float = 30.0
    give_up_after: int = 5
    settle: float = 10.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> RestartPolicy:
        """The default policy, with ``JOBQUEUE_RESTART_BACKOFF`` as ``base`` when set (tests
        of the CLI use it to see a give-up within a second)."""
        text = environ.get(BACKOFF_ENV)
        if not text:
            return cls()
        try:
            base = float(text)
        except ValueError:
            log.warning("%s=%r is not a number of seconds: ignored", BACKOFF_ENV, text)
            return cls()
        return cls(base=max(base, 0.0), cap=max(30.0 * base, base))

    def delay(self, deaths_at_start: int) -> float:
        return min(self.base * 2.0 ** max(deaths_at_start - 1, 0), self.cap)


@dataclass
class _Slot:
    """One of the P places a child runs in."""

    child: subprocess.Popen[bytes]
    started: float
    #: Deaths at start in a row (see RestartPolicy).
    failures: int = 0
    #: When a dead child is to be replaced (None: it is alive, or done for good).
    restart_at: float | None = None


class Supervisor:
    def __init__(
        self,
        command: Sequence[str],
        processes: int,
        on_child_died: Callable[[], object],
        *,
        env: Mapping[str, str] | None = None,
        restart: RestartPolicy | None = None,
    ) -> None:
        """``env``: the children's environment (None: ours). ``restart``: default
        ``RestartPolicy.from_environment()``."""
        self.command = list(command)
        self.processes = processes
        self.on_child_died = on_child_died
        self.env = None if env is None else dict(env)
        self.restart = restart or RestartPolicy.from_environment()
        self.slots: list[_Slot] = []
        self._stopping = threading.Event()
        self._gave_up = False
        self._signal: int = signal.SIGTERM
        #: Children the current stop signal was forwarded to: each gets it exactly once.
        self._told: set[int] = set()

    @property
    def children(self) -> list[subprocess.Popen[bytes]]:
        return [slot.child for slot in self.slots]

    def run(self) -> int:
        """Exit code: 0 when stopped or every child finished; 2 when every child was
        given bad input; 1 when children kept dying at start and we gave up."""
        previous = {s: signal.signal(s, self._on_signal) for s in _FORWARDED}
        try:
            self.slots = [_Slot(self._spawn(), time.monotonic()) for _ in range(self.processes)]
            while not self._stopping.wait(self._next_wait()):
                self._tend()
                if self._gave_up or not self._any_running_or_due():
                    break  # gave up, or every child finished (--burst)
            if self._stopping.is_set() or self._gave_up:
                self._tell_children()  # any started while the signal was being forwarded
            for child in self.children:
                child.wait()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return self._exit_code()

    def _exit_code(self) -> int:
        if self._gave_up:
            return GAVE_UP
        bad_input = all(child.returncode == BAD_INPUT for child in self.children)
        return BAD_INPUT if bad_input and not self._stopping.is_set() else 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        # A process group of its own: see the module docstring.
        child = subprocess.Popen(self.command, process_group=0, env=self.env)
        log.info("started worker process %d", child.pid)
        return child

    def _any_running_or_due(self) -> bool:
        return any(s.child.poll() is None or s.restart_at is not None for s in self.slots)

    def _next_wait(self) -> float:
        """Look again at the next tick, or sooner when a restart is due before it."""
        due = [s.restart_at for s in self.slots if s.restart_at is not None]
        soonest = min(due, default=float("inf")) - time.monotonic()
        return max(0.0, min(_TICK, soonest))

    def _tend(self) -> None:
        """Notice deaths (scheduling their restarts) and start the restarts that are due."""
        for slot in self.slots:
            if self._stopping.is_set() or self._gave_up:
                return
            if slot.restart_at is None and slot.child.poll() not in (None, 0, BAD_INPUT):
                self._died(slot)
            elif slot.restart_at is not None and time.monotonic() >= slot.restart_at:
                slot.child, slot.started, slot.restart_at = self._spawn(), time.monotonic(), None

    def _died(self, slot: _Slot) -> None:
        """A child that exits 0 is done (``--burst``), 2 was given bad input; any other
        exit is a death."""
        now, child = time.monotonic(), slot.child
        lived = now - slot.started
        slot.failures = slot.failures + 1 if lived < self.restart.settle else 0
        self._child_died()
        if slot.failures >= self.restart.give_up_after:
            log.error(
                "worker processes keep dying at start (%d in a row, the last exited with %s "
                "after %.1fs): giving up; the lines above say why",
                slot.failures, child.returncode, lived,
            )  # fmt: skip
            self._gave_up = True
            return
        delay = self.restart.delay(slot.failures) if slot.failures else self.restart.base
        log.error(
            "worker process %d exited with %s after %.1fs: restarting it in %.3gs",
            child.pid, child.returncode, lived, delay,
        )  # fmt: skip
        slot.restart_at = now + delay

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
