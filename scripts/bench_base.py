"""What every benchmark adapter is: the ``Peer`` interface, and the job payload.

A workload is written once against ``Peer``: ``enqueue``/``enqueue_many`` add jobs,
``claim`` takes the next job (``None`` when there is none), ``complete`` finishes it, and
``serve`` runs the peer's own consumer (its real worker where it ships one, else a loop
polling every 5 ms) until ``stop`` is set. A job's payload is ``{"seq": n, "pad": ...}``
(~100 bytes of JSON); ``seq`` is what the exactly-once check counts.

The adapters live in ``bench_peers`` (file- and SQLite-backed queues) and
``bench_pg_peers`` (PostgreSQL-backed ones); ``bench_peers.PEERS`` lists them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

Payload = dict[str, Any]
OnStart = Callable[[int], None]
Stopper = threading.Event | Any  # a threading.Event or a multiprocessing Event
#: Which part of the benchmark a peer takes part in (and which table it is in).
Kind = Literal["file", "postgres"]

POLL_SECONDS = 0.005  # peers without a blocking consumer are polled this often
PAD = "x" * 80


def payload(seq: int) -> Payload:
    return {"seq": seq, "pad": PAD}


class Unsupported(Exception):
    """The peer has no such operation (e.g. a batch enqueue); the cell shows a dash."""


@dataclass(frozen=True, slots=True)
class Claimed:
    seq: int
    handle: Any


class Peer:
    """The interface every adapter implements; defaults cover what most peers lack."""

    key: ClassVar[str]
    label: ClassVar[str]
    #: True when a committed enqueue survives power loss (fsync before it returns).
    durable: ClassVar[bool]
    #: Import names this adapter needs (checked before the run).
    requires: ClassVar[tuple[str, ...]] = ()
    #: Modules a timed first call would otherwise import (``bench_peers.preload``).
    preloads: ClassVar[tuple[str, ...]] = ()
    #: Reference loops only write: they take no part in consumer workloads.
    consumes: ClassVar[bool] = True
    kind: ClassVar[Kind] = "file"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def enqueue(self, job: Payload) -> None:
        """Add one job, as the peer's users do: every adapter defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define enqueue")

    def enqueue_many(self, jobs: list[Payload]) -> None:
        raise Unsupported

    def flush(self) -> None:
        """Make everything enqueued so far durable (reference loops batch their syncs)."""

    def fill(self, start: int, count: int) -> None:
        """Set-up only (not timed): add ``count`` jobs as fast as this peer allows."""
        for seq in range(start, start + count):
            self.enqueue(payload(seq))
        self.flush()

    def claim(self) -> Claimed | None:
        raise Unsupported

    def complete(self, claimed: Claimed) -> None:
        raise Unsupported

    def serve(self, on_start: OnStart, stop: Stopper) -> None:
        """Consume until ``stop`` is set, calling ``on_start(seq)`` as each job starts."""
        while not stop.is_set():
            claimed = self.claim()
            if claimed is None:
                stop.wait(POLL_SECONDS)
                continue
            on_start(claimed.seq)
            self.complete(claimed)

    def close(self) -> None:
        pass

    @classmethod
    def discard(cls, root: Path) -> None:
        """Remove what the peer stored for ``root`` outside of it (a database); the runner
        removes the directory itself."""
