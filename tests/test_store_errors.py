"""A full disk or a read-only data directory: every operation raises one clear StoreError
(a JobQueueError naming the cause), leaves no partial or temp file, keeps each job where
it was, and a worker backs off ``error_backoff`` instead of spinning.

A read-only tree is tested for real (chmod 0500) when the tests do not run as root;
as root (chmod does not bind) and for ENOSPC, the store's one write primitive,
``_fs.write_file``, fails as the kernel would.
"""

from __future__ import annotations

import errno
import itertools
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jobqueue import (
    FailedJob,
    JobContext,
    JobQueue,
    JobQueueError,
    JobWorker,
    PendingJob,
    RunningJob,
    StoreError,
    transitions,
)
from jobqueue.backends.file import FileStore, _fs
from jobqueue.job import STATUSES, ErrorInfo, WorkerInfo

WORKER = WorkerInfo(name="w", host="elsewhere.example", pid=4242)
FAILURES = {
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the data directory is on a read-only filesystem",
    errno.EDQUOT: "the disk quota is exceeded",
}


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def queue(data_dir: Path) -> JobQueue:
    return JobQueue(data_dir, durable=True)


@pytest.fixture
def store(queue: JobQueue) -> FileStore:
    assert isinstance(queue.backend.jobs, FileStore)
    return queue.backend.jobs


@pytest.fixture
def broken_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[int | None], None]:
    """broken_disk(errno) makes every file the store creates fail; None mends it."""
    real = _fs.write_file

    def set_failure(code: int | None) -> None:
        if code is None:
            monkeypatch.setattr(_fs, "write_file", real)
            return

        def write_file(path: Path, data: bytes, *, durable: bool) -> None:
            raise OSError(code, os.strerror(code), str(path))

        monkeypatch.setattr(_fs, "write_file", write_file)

    return set_failure


def tree(data_dir: Path) -> dict[str, list[str]]:
    """Job files per status, and what the hidden work directories hold."""
    jobs = data_dir / "jobs"
    dirs = [*STATUSES, ".tmp", ".staging", ".batches"]
    return {d: sorted(p.name for p in (jobs / d).iterdir()) for d in dirs}


@pytest.mark.parametrize("code", FAILURES)
def test_enqueue_on_a_broken_disk_raises_a_clear_error_and_leaves_nothing(
    queue: JobQueue, data_dir: Path, broken_disk: Callable[[int | None], None], code: int
) -> None:
    kept = queue.enqueue("kept", {})
    before = tree(data_dir)
    broken_disk(code)
    for enqueue in (
        lambda: queue.enqueue("lost", {"n": 1}, unique_key="k"),
        lambda: queue.enqueue_many("lost", [{"n": 1}, {"n": 2}]),
    ):
        with pytest.raises(StoreError, match=FAILURES[code]) as raised:
            enqueue()
        assert isinstance(raised.value, JobQueueError)
        assert tree(data_dir) == before
    broken_disk(None)
    assert queue.get_job(kept.metadata.id) == kept
    assert queue.enqueue("later", {}, unique_key="k").metadata.unique_key == "k"  # key free


def test_a_claim_on_a_full_disk_leaves_the_job_pending_not_hidden_in_staging(
    queue: JobQueue, store: FileStore, data_dir: Path, broken_disk: Callable[[int | None], None]
) -> None:
    job = queue.enqueue("work", {})
    broken_disk(errno.ENOSPC)
    with pytest.raises(StoreError, match="the disk is full"):
        store.claim(WORKER, now())
    assert tree(data_dir)["pending"] == [f"{job.metadata.id}.json"]
    assert tree(data_dir)[".staging"] == [] and tree(data_dir)[".tmp"] == []
    broken_disk(None)
    claimed = store.claim(WORKER, now())  # the same store: its index has the job again
    assert claimed is not None and claimed.metadata.id == job.metadata.id


def test_ending_or_retrying_a_job_on_a_full_disk_keeps_it_where_it_was(
    queue: JobQueue, store: FileStore, data_dir: Path, broken_disk: Callable[[int | None], None]
) -> None:
    queue.enqueue("work", {}, max_retries=0)
    queue.enqueue("work", {})
    running = store.claim(WORKER, now())
    assert isinstance(running, RunningJob)
    failed = transitions.fail(running, ErrorInfo(type="E", message="m"), now(), None)
    assert isinstance(failed, FailedJob)
    store.move(running, failed)
    other = store.claim(WORKER, now())
    assert isinstance(other, RunningJob)
    before = tree(data_dir)
    broken_disk(errno.ENOSPC)
    with pytest.raises(StoreError, match="the disk is full"):
        store.move(other, transitions.complete(other, None, now()))
    with pytest.raises(StoreError, match="the disk is full"):
        queue.retry(failed.metadata.id)
    with pytest.raises(StoreError, match="the disk is full"):
        queue.cancel(other.metadata.id)
    assert tree(data_dir) == before
    broken_disk(None)
    assert queue.get_job(other.metadata.id) == other
    assert isinstance(queue.retry(failed.metadata.id), PendingJob)


def test_a_read_only_data_dir_refuses_writes_clearly_and_still_reads(
    queue: JobQueue, data_dir: Path
) -> None:
    job = queue.enqueue("work", {})
    paths = [data_dir, *data_dir.rglob("*")]
    for path in paths:
        os.chmod(path, 0o500 if path.is_dir() else 0o400)
    try:
        if os.access(data_dir / "jobs" / "pending", os.W_OK):
            pytest.skip("running as root: chmod does not make the tree read-only")
        before = tree(data_dir)
        fresh = JobQueue(data_dir)
        with pytest.raises(StoreError, match="permission denied"):
            fresh.enqueue("work", {})
        with pytest.raises(StoreError, match="permission denied"):
            fresh.backend.jobs.claim(WORKER, now())
        assert fresh.get_job(job.metadata.id) == job
        assert fresh.stats()["pending"] == 1
        assert tree(data_dir) == before
    finally:
        for path in reversed(paths):
            os.chmod(path, 0o700 if path.is_dir() else 0o600)


# --- a worker on a broken disk ----------------------------------------------------------


class Noop(JobWorker):
    def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
        return None


def test_a_worker_whose_store_fails_backs_off_instead_of_spinning(
    queue: JobQueue,
    store: FileStore,
    broken_disk: Callable[[int | None], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = queue.enqueue("work", {})
    claims: list[float] = []
    real_claim = store.claim

    def counting_claim(*args: Any, **kwargs: Any) -> RunningJob | None:
        claims.append(time.monotonic())
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(store, "claim", counting_claim)
    broken_disk(errno.ENOSPC)
    worker = Noop(queue, poll_interval=0.01, error_backoff=0.3)
    worker.start()
    time.sleep(1.0)
    broken_disk(None)
    deadline = time.monotonic() + 5
    while queue.get_job(job.metadata.id).status != "complete":  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the worker did not recover once the disk did"
        time.sleep(0.02)
    worker.stop()
    failing = [t for t in claims if t - claims[0] < 1.0]
    assert 2 <= len(failing) <= 5, f"{len(failing)} claims in 1s with error_backoff=0.3"
    gaps = [b - a for a, b in itertools.pairwise(failing)]
    assert min(gaps) >= 0.25, gaps
