"""One small adapter per file- or SQLite-backed queue the benchmark compares (the
interface, ``Peer``, is in ``bench_base``), and ``PEERS``: every adapter by key, these
and the PostgreSQL ones of ``bench_pg_peers``.

Peers are imported inside their adapter, so a missing one is reported as
"not installed" (see ``missing``) instead of breaking the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_base import PAD, Claimed, OnStart, Payload, Peer, Stopper
from bench_jobqueue import JobqueueNoSyncPeer, JobqueuePeer, JobqueuePostgresPeer
from bench_pg_peers import ProcrastinatePeer

# --- huey -------------------------------------------------------------------------------

_huey_on_start: OnStart | None = None


def _huey_job(seq: int, pad: str) -> None:
    """The task huey runs: a no-op, except in ``serve`` where it reports its start."""
    if _huey_on_start is not None:
        _huey_on_start(seq)


class _HueyPeer(Peer):
    requires = ("huey",)
    preloads = ("huey.consumer",)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.huey = self._make_huey()
        self.task = self.huey.task(name="bench_job")(_huey_job)

    def _make_huey(self, **options: Any) -> Any:
        """The Huey instance over this peer's storage: each Huey adapter defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define _make_huey")

    def enqueue(self, job: Payload) -> None:
        self.task(job["seq"], job["pad"])

    def claim(self) -> Claimed | None:
        task = self.huey.dequeue()
        return None if task is None else Claimed(task.args[0], task)

    def complete(self, claimed: Claimed) -> None:
        self.huey.execute(claimed.handle)

    def serve(self, on_start: OnStart, stop: Stopper) -> None:
        """huey's own Consumer with its defaults (one worker thread, 0.1 s initial poll)."""
        from huey.consumer import Consumer

        global _huey_on_start
        _huey_on_start = on_start
        consumer = Consumer(self.huey)
        consumer.start()
        try:
            stop.wait()
        finally:
            consumer.stop(graceful=False)


class HueyFilePeer(_HueyPeer):
    key = "huey-file"
    label = "huey FileStorage"
    durable = False

    def _make_huey(self, **options: Any) -> Any:
        from huey import FileHuey

        return FileHuey("bench", path=str(self.root / "huey"), **options)


class HueySqlitePeer(_HueyPeer):
    key = "huey-sqlite"
    label = "huey SqliteStorage"
    durable = True

    def _make_huey(self, **options: Any) -> Any:
        from huey import SqliteHuey

        return SqliteHuey("bench", filename=str(self.root / "huey.db"), **options)

    def fill(self, start: int, count: int) -> None:
        fast = self._make_huey(fsync=False)  # the same db, written without fsync
        task = fast.task(name="bench_job")(_huey_job)
        for seq in range(start, start + count):
            task(seq, PAD)


# --- persist-queue ----------------------------------------------------------------------


class PersistQueuePeer(Peer):
    key = "persist-queue"
    label = "persist-queue SQLiteAckQueue"
    durable = True
    requires = ("persistqueue",)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        import persistqueue

        self.empty = persistqueue.Empty
        self.q = persistqueue.SQLiteAckQueue(str(root / "pq"))

    def enqueue(self, job: Payload) -> None:
        self.q.put(job)

    def claim(self) -> Claimed | None:
        try:
            item = self.q.get(block=False)
        except self.empty:
            return None
        return Claimed(item["seq"], item)

    def complete(self, claimed: Claimed) -> None:
        self.q.ack(claimed.handle)

    def serve(self, on_start: OnStart, stop: Stopper) -> None:
        """persist-queue's blocking ``get()``: it wakes on a put in this process, and
        otherwise polls every 10 s (its TICK_FOR_WAIT)."""
        while not stop.is_set():
            item = self.q.get(block=True)
            on_start(item["seq"])
            self.q.ack(item)


# --- python-dirq ------------------------------------------------------------------------


class DirqPeer(Peer):
    key = "dirq"
    label = "python-dirq QueueSimple"
    durable = False
    requires = ("dirq",)
    preloads = ("dirq.QueueSimple",)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        from dirq.QueueSimple import QueueSimple

        self.q = QueueSimple(str(root / "dirq"))

    def enqueue(self, job: Payload) -> None:
        self.q.add(json.dumps(job).encode())

    def _names(self) -> Iterator[str]:
        """Its consumer loop: walk the cached listing, list again once it is used up."""
        name = self.q.next() or self.q.first()
        while name:
            yield name
            name = self.q.next()

    def claim(self) -> Claimed | None:
        for name in self._names():
            if self.q.lock(name):
                return Claimed(json.loads(self.q.get(name))["seq"], name)
        return None

    def complete(self, claimed: Claimed) -> None:
        self.q.remove(claimed.handle)


# --- kombu ------------------------------------------------------------------------------


class KombuPeer(Peer):
    key = "kombu-fs"
    label = "kombu filesystem://"
    durable = False
    requires = ("kombu",)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        kombu: Any = importlib.import_module("kombu")  # partly typed: use it untyped
        filesystem: Any = importlib.import_module("kombu.transport.filesystem")

        # kombu keeps one broker state per process for every filesystem:// connection:
        # bindings declared for a store opened earlier would hide this store's queue.
        filesystem.Transport.global_state.clear()
        folders = {name: root / name for name in ("data", "control", "processed")}
        for folder in folders.values():
            folder.mkdir(exist_ok=True)
        options = {
            "data_folder_in": str(folders["data"]),
            "data_folder_out": str(folders["data"]),
            "control_folder": str(folders["control"]),
            "processed_folder": str(folders["processed"]),
        }
        self.conn: Any = kombu.Connection("filesystem://", transport_options=options)
        self.q: Any = self.conn.SimpleQueue("bench")

    def enqueue(self, job: Payload) -> None:
        self.q.put(job, serializer="json")

    def claim(self) -> Claimed | None:
        try:
            message = self.q.get(block=False)
        except self.q.Empty:
            return None
        return Claimed(message.payload["seq"], message)

    def complete(self, claimed: Claimed) -> None:
        claimed.handle.ack()

    def serve(self, on_start: OnStart, stop: Stopper) -> None:
        """kombu's blocking ``get`` (its transport polls every ``polling_interval``, 1 s)."""
        while not stop.is_set():
            try:
                message = self.q.get(block=True, timeout=1.0)
            except self.q.Empty:
                continue
            on_start(message.payload["seq"])
            message.ack()

    def close(self) -> None:
        self.q.close()
        self.conn.release()


# --- litequeue --------------------------------------------------------------------------


class LitequeuePeer(Peer):
    key = "litequeue"
    label = "litequeue"
    durable = False  # synchronous=NORMAL in WAL: a power loss can drop recent commits
    requires = ("litequeue",)

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        from litequeue import LiteQueue

        self.q = LiteQueue(str(root / "lq.db"))

    def enqueue(self, job: Payload) -> None:
        self.q.put(json.dumps(job))

    def claim(self) -> Claimed | None:
        message = self.q.pop()
        return None if message is None else Claimed(json.loads(message.data)["seq"], message)

    def complete(self, claimed: Claimed) -> None:
        self.q.done(claimed.handle.message_id)

    def close(self) -> None:
        self.q.conn.close()


# --- reference loops: what the filesystem allows, with no queue around it -----------------


class _RefLoop(Peer):
    durable = True
    consumes = False

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.tmp = root / "tmp"
        self.pending = root / "pending"
        self.tmp.mkdir(exist_ok=True)
        self.pending.mkdir(exist_ok=True)
        self.dir_fd = os.open(self.pending, os.O_RDONLY | os.O_DIRECTORY)
        self.count = 0

    def _write(self, job: Payload, *, sync: bool) -> None:
        self.count += 1
        name = f"{self.count:012d}.json"
        fd = os.open(self.tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, json.dumps(job).encode())
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(self.tmp / name, self.pending / name)

    def close(self) -> None:
        os.close(self.dir_fd)


class RefFsyncPeer(_RefLoop):
    key = "ref-fsync"
    label = "loop: temp+fsync+rename+fsync(dir)"

    def enqueue(self, job: Payload) -> None:
        self._write(job, sync=True)
        os.fsync(self.dir_fd)


class RefSyncfsPeer(_RefLoop):
    key = "ref-syncfs"
    label = "loop: 100 x (temp+rename), syncfs"
    batch = 100

    def enqueue(self, job: Payload) -> None:
        self._write(job, sync=False)
        if self.count % self.batch == 0:
            self.flush()

    def flush(self) -> None:
        if _libc().syncfs(self.dir_fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed")


def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


# --- the registry -------------------------------------------------------------------------

PEERS: dict[str, type[Peer]] = {
    cls.key: cls
    for cls in (
        JobqueuePeer,
        JobqueueNoSyncPeer,
        HueyFilePeer,
        HueySqlitePeer,
        PersistQueuePeer,
        DirqPeer,
        KombuPeer,
        LitequeuePeer,
        RefFsyncPeer,
        RefSyncfsPeer,
        JobqueuePostgresPeer,
        ProcrastinatePeer,
    )
}

#: The distribution names behind each import name, for the versions line.
DISTRIBUTIONS = {
    "jobqueue": "jobqueue",
    "huey": "huey",
    "persistqueue": "persist-queue",
    "dirq": "dirq",
    "kombu": "kombu",
    "litequeue": "litequeue",
    "psycopg": "psycopg",
    "procrastinate": "procrastinate",
}


def missing(cls: type[Peer]) -> str | None:
    """The first module ``cls`` needs that is not installed, or None."""
    for name in cls.requires:
        with contextlib.suppress(ImportError, ValueError):
            if importlib.util.find_spec(name) is not None:
                continue
        return name
    return None


def preload(cls: type[Peer]) -> None:
    """Import what ``cls`` uses, so a timed first call does not pay for imports."""
    for name in (*cls.requires, *cls.preloads):
        __import__(name)
