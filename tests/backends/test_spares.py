"""Spare files (jobqueue.backends.file.spares): a claimed job's pending file, once its attempt
ended, is kept in .tmp/ and filled by a later write instead of creating a file. A spare
must never be a way to write anywhere else: a hard link or a symlink put in its place
is left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import WORKER_A, FakeClock

from jobqueue import transitions
from jobqueue.backends.file import FileStore, spares
from jobqueue.job import PendingJob, RunningJob

MakeJob = Callable[..., PendingJob]


@pytest.fixture
def store(data_dir: Path) -> FileStore:
    return FileStore(data_dir, durable=False, rescan_interval=0)


def spare_files(store: FileStore) -> list[Path]:
    return sorted(p for p in store.paths.tmp.iterdir() if p.name.startswith("spare."))


def run_one(store: FileStore, clock: FakeClock) -> RunningJob:
    job = store.claim(WORKER_A, clock.now())
    assert job is not None
    store.move(job, transitions.complete(job, {"n": job.params}, clock.now()))
    return job


def test_an_ended_attempts_pending_file_is_filled_by_the_next_write(
    store: FileStore, make_job: MakeJob, clock: FakeClock
) -> None:
    store.add([make_job({"n": 1}), make_job({"n": 2})])
    first = store.paths.job("pending", "job-000001")
    inode = first.stat().st_ino
    run_one(store, clock)
    [spare] = spare_files(store)
    assert spare.stat().st_ino == inode  # the pending file, kept

    second = store.claim(WORKER_A, clock.now())

    assert second is not None and spare_files(store) == []
    running = store.paths.job("running", second.metadata.id)
    assert running.stat().st_ino == inode  # written into, not created
    assert store.get(second.metadata.id) == second  # and holds exactly the new document


def test_a_spare_hard_linked_meanwhile_is_not_written_into(
    store: FileStore, make_job: MakeJob, clock: FakeClock, tmp_path: Path
) -> None:
    store.add([make_job({"n": 1}), make_job({"n": 2})])
    run_one(store, clock)
    [spare] = spare_files(store)
    keep = tmp_path / "someone-elses-link"
    os.link(spare, keep)
    before = keep.read_bytes()

    second = store.claim(WORKER_A, clock.now())

    assert second is not None and store.get(second.metadata.id) == second
    assert keep.read_bytes() == before


def test_a_spare_replaced_by_a_symlink_is_never_followed(
    store: FileStore, make_job: MakeJob, clock: FakeClock, tmp_path: Path
) -> None:
    store.add([make_job({"n": 1}), make_job({"n": 2})])
    run_one(store, clock)
    [spare] = spare_files(store)
    bait = tmp_path / "bait"
    bait.write_bytes(b"untouched")
    spare.unlink()
    spare.symlink_to(bait)

    second = store.claim(WORKER_A, clock.now())

    assert second is not None and store.get(second.metadata.id) == second
    assert bait.read_bytes() == b"untouched"


def test_spares_beyond_the_limit_are_deleted(tmp_path: Path) -> None:
    pool = spares.Spares(tmp_path, "owner")
    for n in range(spares.KEEP + 3):
        (tmp_path / f"f{n}").write_bytes(b"x")
        pool.put(tmp_path / f"f{n}")

    assert len(list(tmp_path.iterdir())) == spares.KEEP


_RUN_AND_EXIT = """
import sys
from datetime import UTC, datetime
from jobqueue import JobQueue, transitions
from jobqueue.job import WorkerInfo
queue = JobQueue(sys.argv[1])  # durable: its ends wait for a group barrier
for n in range(3):
    queue.enqueue("t", {"n": n})
worker = WorkerInfo(name="w", host="h", pid=1)
while (job := queue.backend.jobs.claim(worker, datetime.now(UTC))) is not None:
    queue.backend.jobs.move(job, transitions.complete(job, None, datetime.now(UTC)))
"""


def test_a_process_that_exits_leaves_no_spares_and_no_originals(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-c", _RUN_AND_EXIT, str(data)], check=True, timeout=60)

    jobs = data / "jobs"
    assert list((jobs / ".tmp").iterdir()) == []
    assert list((jobs / ".claimed").iterdir()) == []
    assert len(list((jobs / "complete").iterdir())) == 3
