"""Group commit of ends (jobqueue.backends.file.claims): a claimed job's pending file waits in
.claimed/ until the end of its attempt is on disk, so a durable store needs no fsync per
claim or end, and recovery can tell an end that reached the disk from one a power loss
took. A power loss is simulated by what it leaves: an original of a dead process beside
a missing or unreadable running or end file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import WORKER_A, FakeClock

from jobqueue import codec, transitions
from jobqueue.backends.file import FileStore, _fs, claims
from jobqueue.job import CompleteJob, ErrorInfo, PendingJob, RunningJob

MakeJob = Callable[..., PendingJob]


@pytest.fixture
def durable(data_dir: Path) -> FileStore:
    return FileStore(data_dir, durable=True, rescan_interval=0)


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts fsync calls (files and directories) and syncfs barriers."""
    counts = {"fsync": 0, "syncfs": 0}
    real_fsync, real_syncfs = os.fsync, _fs.syncfs

    def fsync(fd: int) -> None:
        counts["fsync"] += 1
        real_fsync(fd)

    def syncfs(root: Path) -> None:
        counts["syncfs"] += 1
        real_syncfs(root)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(_fs, "syncfs", syncfs)
    yield counts


def claimed(store: FileStore) -> list[str]:
    return sorted(p.name.split("~")[0] for p in store.paths.claimed.iterdir())


def run_one(store: FileStore, clock: FakeClock) -> RunningJob:
    job = store.claim(WORKER_A, clock.now())
    assert job is not None
    return job


@pytest.mark.skipif(not _fs.has_syncfs(), reason="group commit needs Linux syncfs")
def test_a_durable_drain_syncs_once_per_group_not_per_job(
    durable: FileStore,
    make_job: MakeJob,
    clock: FakeClock,
    syncs: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(claims, "MAX_WAIT", 3600.0)  # a slow test run must not flush early
    durable.add([make_job({"n": n}) for n in range(10)])
    syncs.update(fsync=0, syncfs=0)

    for _ in range(10):
        job = run_one(durable, clock)
        assert claimed(durable)[-1] == job.metadata.id  # its original is kept meanwhile
        durable.move(job, transitions.complete(job, None, clock.now()))
    assert durable.claim(WORKER_A, clock.now()) is None

    assert syncs == {"fsync": 0, "syncfs": 0}  # 10 claims and 10 ends, no barrier yet
    assert len(claimed(durable)) == 10
    durable.flush()
    assert syncs == {"fsync": 0, "syncfs": 1}
    assert claimed(durable) == []


def test_a_barrier_is_due_once_the_oldest_end_waited_long_enough(tmp_path: Path) -> None:
    now = [100.0]
    group = claims.Claims(tmp_path, durable=True, clock=lambda: now[0])
    group.grouped = True
    for n in range(3):
        (tmp_path / f"o{n}").write_bytes(b"x")
        group.hold(f"j{n}", tmp_path / f"o{n}")

    assert group.ended("j0") is False and not group.due()
    now[0] += claims.MAX_WAIT / 2
    assert group.ended("j1") is False and not group.due()
    now[0] += claims.MAX_WAIT / 2 + 0.001
    assert group.due()  # measured from the first end of the group
    assert group.ended("j2") is True


@pytest.mark.skipif(not _fs.has_syncfs(), reason="group commit needs Linux syncfs")
def test_a_full_group_is_synced_at_once(
    durable: FileStore, make_job: MakeJob, clock: FakeClock, syncs: dict[str, int]
) -> None:
    durable.add([make_job({"n": n}) for n in range(claims.GROUP + 1)])
    syncs.update(syncfs=0)
    for _ in range(claims.GROUP):
        job = run_one(durable, clock)
        durable.move(job, transitions.complete(job, None, clock.now()))

    assert syncs["syncfs"] == 1 and claimed(durable) == []


def test_ends_written_by_another_process_are_synced_one_by_one(
    data_dir: Path, make_job: MakeJob, clock: FakeClock, syncs: dict[str, int]
) -> None:
    """A reaper or the CLI did not make the claim: no original of theirs covers the end."""
    claimer, other = FileStore(data_dir, durable=True), FileStore(data_dir, durable=True)
    claimer.add([make_job()])
    job = run_one(claimer, clock)
    syncs.update(fsync=0)

    other.move(job, transitions.complete(job, None, clock.now()))

    assert syncs["fsync"] == 2  # the end file and complete/


def test_the_worker_leaving_syncs_its_ends(
    durable: FileStore, make_job: MakeJob, clock: FakeClock
) -> None:
    durable.add([make_job()])
    job = run_one(durable, clock)
    durable.move(job, transitions.complete(job, None, clock.now()))

    durable.flush()  # what a worker does as it stops

    assert claimed(durable) == []


def left_by_a_dead_claimer(
    store: FileStore, make_job: MakeJob, clock: FakeClock, token: str
) -> RunningJob:
    """A job claimed by a process that has died: its original in .claimed/, its running
    file in running/ (tests then damage or replace the latter)."""
    store.add([make_job()])
    running = run_one(store, clock)
    [mine] = store.paths.claimed.iterdir()
    mine.rename(store.paths.claimed / mine.name.replace(mine.name.split("~")[1], token))
    store._claims.give_back(running.metadata.id)  # this store forgets it made the claim
    return running


def locations(store: FileStore, job_id: str) -> list[str]:
    return sorted(
        p.parent.name
        for p in store.paths.jobs.rglob("*.json")
        if p.name.split("~")[0].removesuffix(".json") == job_id
    )


def test_a_dead_claimers_original_goes_once_its_running_file_is_readable(
    durable: FileStore, make_job: MakeJob, clock: FakeClock, dead_token: str
) -> None:
    running = left_by_a_dead_claimer(durable, make_job, clock, dead_token)

    durable.recover()

    assert locations(durable, running.metadata.id) == ["running"]
    assert durable.get(running.metadata.id) == running  # the reaper takes it from here


def test_a_dead_claimers_original_goes_once_its_end_is_readable(
    durable: FileStore, make_job: MakeJob, clock: FakeClock, dead_token: str
) -> None:
    running = left_by_a_dead_claimer(durable, make_job, clock, dead_token)
    done = transitions.complete(running, {"ok": 1}, clock.now())
    durable.move(running, done)

    durable.recover()

    assert locations(durable, running.metadata.id) == ["complete"]
    assert isinstance(durable.get(running.metadata.id), CompleteJob)


def test_an_unsynced_running_file_lost_to_a_power_cut_is_run_again(
    durable: FileStore, make_job: MakeJob, clock: FakeClock, dead_token: str
) -> None:
    running = left_by_a_dead_claimer(durable, make_job, clock, dead_token)
    path = durable.paths.job("running", running.metadata.id)
    path.write_bytes(b"")  # what a power cut can leave of a file never synced

    durable.recover()

    assert locations(durable, running.metadata.id) == ["pending"]
    assert [p.name for p in durable.paths.quarantine.iterdir() if p.suffix == ".json"] == [
        f"running~{running.metadata.id}.json"
    ]
    assert isinstance(durable.get(running.metadata.id), PendingJob)
    assert run_one(durable, clock).metadata.id == running.metadata.id  # and the index knows


def test_an_unsynced_end_lost_to_a_power_cut_is_run_again(
    durable: FileStore, make_job: MakeJob, clock: FakeClock, dead_token: str
) -> None:
    running = left_by_a_dead_claimer(durable, make_job, clock, dead_token)
    durable.paths.job("running", running.metadata.id).unlink()  # the end never reached disk

    durable.recover()

    assert locations(durable, running.metadata.id) == ["pending"]
    job = durable.get(running.metadata.id)
    assert isinstance(job, PendingJob) and job.params == running.params


def test_a_deleted_job_leaves_no_original_to_bring_it_back(
    durable: FileStore, make_job: MakeJob, clock: FakeClock
) -> None:
    durable.add([make_job()])
    job = run_one(durable, clock)
    done = transitions.complete(job, None, clock.now())
    durable.move(job, done)
    assert claimed(durable) == [job.metadata.id] or not durable._claims.grouped

    durable.delete(done)  # before the group's barrier: cleanup(older_than=0), say

    assert claimed(durable) == []


def test_a_file_moved_into_pending_by_hand_goes_back_to_pending_not_to_its_status(
    durable: FileStore, make_job: MakeJob, clock: FakeClock, dead_token: str
) -> None:
    running = left_by_a_dead_claimer(durable, make_job, clock, dead_token)
    [original] = durable.paths.claimed.iterdir()
    failed = transitions.fail(running, ErrorInfo(type="E", message="m"), clock.now(), None)
    original.write_bytes(codec.encode(failed))  # it was a failed job someone moved by hand
    durable.paths.job("running", running.metadata.id).unlink()

    durable.recover()

    assert locations(durable, running.metadata.id) == ["pending"]
