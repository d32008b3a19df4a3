"""Group commit for the ends of attempts: a claimed job's pending file is kept in
``.claimed/`` until the end of its attempt is on disk.

Without it, a durable drain takes four fsyncs per job: the running file and ``running/``
at the claim, then the end file and its directory. With it (see also
docs/file-backend.md):

* a claim renames ``pending/<id>.json`` to ``.claimed/<id>~<owner>~<random>.json`` (the
  rename is the claim: exactly one process wins it) and writes ``running/<id>.json``
  without an fsync; heartbeats and progress rewrite it without one too. Until the
  attempt ends, the original is the durable copy: after a power loss, recovery puts it
  back into ``pending/`` if the running file did not survive;
* the end of the attempt (complete, fail, retry, release, cancel) writes its file and
  removes the running copy. Where ``syncfs`` exists the end is written without an fsync
  and the original is retired (kept as a spare, see ``spares``) only after one write
  barrier for many ends: when ``GROUP`` ends wait; once the oldest has waited
  ``MAX_WAIT`` seconds, at the next end, heartbeat or empty claim (an idle worker claims
  at least every ``poll_interval``, a busy one beats every ``heartbeat_interval``); when
  the worker stops (it flushes before leaving the registry); and when the store is
  closed or collected, or the process exits. Never on the way to starting a job, and
  not each time a worker goes idle: consumers that keep up with a producer go idle after
  every job, and a barrier each time would mean one syncfs per job. Without ``syncfs``
  the end is written with its fsyncs and the original retired at once.

So a power loss can undo the ends of the last few seconds (such a job runs again:
recovery puts its original back), never lose a job: an original is deleted only once a
later copy is on disk. Ends written by a process that did not make the claim (a reaper,
say) are synced one by one, as before. A process killed with originals here leaves them
to recovery, which deletes each once a later copy of its job is readable on disk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import _fs

log = logging.getLogger(__name__)

GROUP = 64
MAX_WAIT = 0.2


class Claims:
    """The originals of the attempts this store claimed, and those waiting for a barrier."""

    def __init__(
        self,
        root: Path,
        *,
        durable: bool,
        retire: Callable[[Path], object] = _fs.unlink_quietly,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``retire`` disposes of an original no longer needed (``spares.put``)."""
        self.root = root
        self._retire = retire
        #: Ends are written without fsyncs and synced in groups.
        self.grouped = durable and _fs.has_syncfs()
        self._durable = durable
        self._clock = clock
        self._held: dict[str, Path] = {}
        self._ended: list[Path] = []
        self._first_ended = 0.0
        self._lock = threading.Lock()

    def hold(self, job_id: str, original: Path) -> None:
        """The claim of ``job_id`` is written; ``original`` is its pending file."""
        with self._lock:
            self._held[job_id] = original

    def holds(self, job_id: str) -> bool:
        """Whether this store claimed the job's running attempt."""
        return job_id in self._held

    def sync_write(self, job_id: str, *, ending: bool) -> bool:
        """Whether a write of this job must be synced by itself: a running file never
        (its original covers it), an end unless it joins a group, and every write of a
        job this store did not claim (a reaper's, the CLI's) as the store says."""
        if job_id not in self._held:
            return self._durable
        return ending and self._durable and not self.grouped

    def ended(self, job_id: str) -> bool:
        """The attempt's end is written: its original goes after the next barrier.
        True when that barrier is due (the caller flushes)."""
        with self._lock:
            original = self._held.pop(job_id, None)
            if original is not None and self.grouped:
                if not self._ended:
                    self._first_ended = self._clock()
                self._ended.append(original)
                return len(self._ended) >= GROUP or self._clock() - self._first_ended >= MAX_WAIT
        if original is not None:
            self._retire(original)  # the end was synced (or nothing ever is)
        return False

    def give_back(self, job_id: str) -> None:
        """The claim was undone (the original went back to pending/)."""
        with self._lock:
            self._held.pop(job_id, None)

    def due(self) -> bool:
        """Lets an empty claim or a heartbeat sync a group that waited long enough."""
        with self._lock:
            return bool(self._ended) and self._clock() - self._first_ended >= MAX_WAIT

    def flush(self, step: _fs.Step = _fs.no_step) -> None:
        """One write barrier for every end so far, then delete their originals."""
        with self._lock:
            originals, self._ended = self._ended, []
        if not originals:
            return
        try:
            _fs.syncfs(self.root)
        except FileNotFoundError:
            return  # the data directory is gone, and its originals with it
        except OSError as e:  # keep them: the next barrier may succeed
            log.warning("could not sync %d ended job(s) to disk: %s", len(originals), e)
            with self._lock:
                self._ended[:0] = originals
            return
        step("claims:synced")  # a crash here: recovery deletes the originals
        for original in originals:
            self._retire(original)
