"""Unique keys: ``jobs/.unique/<sha256 of key>`` lists the ids that may hold a key.

A key is held while one of the listed jobs is pending or running with that key, so an
entry pointing at an ended (or missing) job simply reads as free: nothing has to be
released when a job ends. The list has more than one id only after a retry of a job
whose key another job took meanwhile. Every read-decide-write of a key happens under
that key's lock stripe.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from contextlib import ExitStack
from pathlib import Path

from ...errors import InvalidJob
from ...job import Job, PendingJob, RunningJob
from . import _fs
from .layout import Layout


class UniqueKeys:
    """The ``.unique/`` files: what lets an enqueue with a held key return the holder."""

    def __init__(
        self,
        layout: Layout,
        *,
        get: Callable[[str], Job | None],
        write: Callable[[Path, bytes], None],
    ) -> None:
        self.layout = layout
        self._get = get
        self._write = write

    def lock(self, key: str) -> _fs.FileLock:
        """Held for every read-decide-write of one key, by enqueues and retries alike."""
        return _fs.file_lock(self.layout.lock_file("key", key))

    def lock_all(self, keys: Collection[str]) -> ExitStack:
        """Hold the stripes of ``keys`` (in a fixed order, so two batches never deadlock)."""
        stack = ExitStack()
        for path in sorted({self.layout.lock_file("key", k) for k in keys}):
            stack.enter_context(_fs.file_lock(path))
        return stack

    def _path(self, key: str) -> Path:
        import hashlib  # with its OpenSSL, ~3 ms of a one-shot command: only for keys

        return self.layout.unique / hashlib.sha256(key.encode()).hexdigest()[:40]

    def ids(self, key: str) -> list[str]:
        """An unreadable list reads as empty: the key is free, an enqueue never stuck."""
        try:
            return self._path(key).read_text().split()
        except OSError:
            return []

    def holder(self, key: str) -> Job | None:
        """The pending or running job holding ``key`` (call under its lock)."""
        for job_id in self.ids(key):
            try:
                job = self._get(job_id)
            except InvalidJob:
                continue
            if isinstance(job, PendingJob | RunningJob) and job.metadata.unique_key == key:
                return job
        return None

    def hold(self, key: str, *job_ids: str) -> None:
        """Written before the job file: a crash in between leaves a key pointing at no
        job, which reads as free. The reverse order could let a duplicate in."""
        self._write(self._path(key), "".join(f"{i}\n" for i in job_ids).encode())

    def add_holder(self, key: str, job_id: str) -> None:
        """A retried job holds its key again, beside whoever took it meanwhile (under lock)."""
        held = self.ids(key)
        if job_id not in held:
            self.hold(key, *held, job_id)
