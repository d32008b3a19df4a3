"""jobqueue's adapters: on files (durable or not) and on PostgreSQL, one code for all
three (only how the queue is opened, and the worker's concurrency, differ)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

import bench_pg_peers as pg
from bench_base import Claimed, OnStart, Payload, Peer, Stopper, payload

if TYPE_CHECKING:
    from jobqueue import JobQueue

FILL_BATCH = 10_000


class JobqueuePeer(Peer):
    key = "jobqueue"
    label = "jobqueue durable=True"
    durable = True
    requires: ClassVar[tuple[str, ...]] = ("jobqueue",)
    # jobqueue's public names load on first use: import what a queue is made of.
    preloads = ("jobqueue.transitions", "jobqueue.queue", "jobqueue.backends.file")
    job_type = "bench"
    #: Jobs the worker of ``serve`` runs at once.
    concurrency: ClassVar[int] = 1

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        from jobqueue import WorkerInfo

        self.queue = self._open(durable=self.durable)
        self.info = WorkerInfo(name="bench", host="bench", pid=os.getpid())
        self.types = frozenset({self.job_type})

    def _open(self, *, durable: bool) -> JobQueue:
        from jobqueue import JobQueue

        return JobQueue(self.root, durable=durable)

    def _fill_queue(self) -> JobQueue:
        """Where ``fill`` writes: the same files, written without fsync."""
        return self._open(durable=False)

    def enqueue(self, job: Payload) -> None:
        self.queue.enqueue(self.job_type, job)

    def enqueue_many(self, jobs: list[Payload]) -> None:
        self.queue.enqueue_many(self.job_type, jobs)

    def fill(self, start: int, count: int) -> None:
        fast = self._fill_queue()
        for first in range(start, start + count, FILL_BATCH):
            last = min(first + FILL_BATCH, start + count)
            fast.enqueue_many(self.job_type, [payload(seq) for seq in range(first, last)])

    def claim(self) -> Claimed | None:
        job = self.queue.backend.jobs.claim(self.info, self.queue.clock.now(), self.types)
        return None if job is None else Claimed(cast(Payload, job.params)["seq"], job)

    def complete(self, claimed: Claimed) -> None:
        from jobqueue import transitions

        job = claimed.handle
        self.queue.backend.jobs.move(job, transitions.complete(job, None, self.queue.clock.now()))

    def serve(self, on_start: OnStart, stop: Stopper) -> None:
        """The real worker: HandlerWorker with its defaults (wake-ups from the store's
        events, a 1 s poll), running ``concurrency`` jobs at once."""
        from jobqueue import HandlerWorker

        worker = HandlerWorker(self.queue, concurrency=self.concurrency)
        worker.register_handler(self.job_type, lambda params, ctx: on_start(params["seq"]))
        worker.start()
        try:
            stop.wait()
        finally:
            worker.stop(now=True, timeout=10)


class JobqueueNoSyncPeer(JobqueuePeer):
    key = "jobqueue-nosync"
    label = "jobqueue durable=False"
    durable = False


class JobqueuePostgresPeer(JobqueuePeer):
    key = "jobqueue-pg"
    label = "jobqueue PostgreSQL"
    durable = False  # the bench's server runs without fsync, for every peer on it
    requires = ("jobqueue", "psycopg")
    preloads = ("jobqueue.transitions", "jobqueue.queue", "jobqueue.backends.postgres")
    kind = "postgres"
    concurrency = pg.WORKER_CONCURRENCY

    def _open(self, *, durable: bool) -> JobQueue:
        from jobqueue import JobQueue

        return JobQueue(pg.create_database(self.root))

    def _fill_queue(self) -> JobQueue:
        return self.queue

    def fill(self, start: int, count: int) -> None:
        super().fill(start, count)
        pg.analyze(self.root)

    def close(self) -> None:
        self.queue.backend.close()

    @classmethod
    def discard(cls, root: Path) -> None:
        pg.drop_database(root)
