"""FileStore only: the on-disk layout, claim cost, hand edits, corrupt files, crash repair.

A "dead process" is one we started and waited for: its owner token (``<pid>-<start
ticks>``, see jobqueue.process) names temp, staging and batch entries nobody owns any more.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import WORKER_A, WORKER_B, FakeClock, SeqIds

from jobqueue import JobQueue, codec, transitions
from jobqueue.backends.file import FileStore
from jobqueue.errors import InvalidJob
from jobqueue.ids import check_id
from jobqueue.job import STATUSES, ErrorInfo, FailedJob, Job, PendingJob, RunningJob, Status
from jobqueue.process import owner_token

MakeJob = Callable[..., PendingJob]
BOOM = ErrorInfo(type="Boom", message="it broke")


@pytest.fixture
def store(data_dir: Path) -> FileStore:
    return FileStore(data_dir, durable=False, rescan_interval=0)


def claim(store: FileStore, clock: FakeClock, types: set[str] | None = None) -> RunningJob:
    job = store.claim(WORKER_A, clock.now(), types)
    assert job is not None, "expected a due job"
    return job


def job_path(store: FileStore, status: Status, job_id: str) -> Path:
    return store.paths.jobs / status / f"{job_id}.json"


def where(store: FileStore, job_id: str) -> list[str]:
    """Every directory under jobs/ (hidden ones too) holding a file for this id."""
    return sorted(
        path.parent.name
        for path in store.paths.jobs.rglob("*")
        if path.is_file() and path.name.split("~")[0].split(".")[0] == job_id
    )


def fail_for_good(store: FileStore, job: RunningJob, clock: FakeClock) -> FailedJob:
    failed = transitions.fail(job, BOOM, clock.now(), None)
    assert isinstance(failed, FailedJob)
    store.move(job, failed)
    return failed


# --- layout --------------------------------------------------------------------------------


def every_operation(store: FileStore, clock: FakeClock, make_job: MakeJob) -> Iterator[str]:
    """Drive the store through each kind of write, yielding after each one."""
    store.add([make_job(unique_key="k", max_retries=1)])
    yield "add one"
    store.add([make_job(), make_job(), make_job(run_at=clock.now() + timedelta(seconds=5))])
    yield "add a batch"
    running = claim(store, clock)
    yield "claim"
    beat = transitions.heartbeat(running, clock.now())
    store.move(running, beat)
    yield "heartbeat"
    store.request_cancel(beat, "stop", clock.now())
    yield "request a cancel"
    store.move(beat, transitions.fail(beat, BOOM, clock.now(), timedelta(0)))
    yield "fail with a retry left"
    store.move(again := claim(store, clock), transitions.complete(again, None, clock.now()))
    yield "complete"
    failed = fail_for_good(store, claim(store, clock), clock)
    yield "fail for good"
    store.move(failed, transitions.retry(failed, clock.now()))
    yield "retry"
    pending = next(iter(store.scan(["pending"])))
    assert isinstance(pending, PendingJob)
    store.move(pending, transitions.cancel_pending(pending, None, clock.now()))
    yield "cancel a pending job"
    store.delete(next(iter(store.scan(["cancelled"]))))
    yield "delete"
    job_path(store, "pending", "job-999999").write_bytes(b"{broken")
    assert store.counts(clock.now())["quarantined"] == 1
    yield "quarantine"
    clock.advance(10)
    while store.claim(WORKER_B, clock.now()) is not None:
        pass
    store.recover()
    yield "recover"


def assert_only_job_files(jobs_dir: Path, after: str) -> None:
    for entry in jobs_dir.iterdir():
        assert entry.name in STATUSES or entry.name.startswith("."), f"{entry} after {after}"
    for status in STATUSES:
        for path in (jobs_dir / status).iterdir():
            assert path.is_file() and not path.is_symlink(), f"{path} after {after}"
            assert path.suffix == ".json" and check_id(path.stem), f"{path} after {after}"
            job = codec.decode(path.read_bytes(), expect=status)
            assert job.metadata.id == path.stem, f"{path} after {after}"


def test_status_dirs_hold_only_job_files_after_every_operation(
    store: FileStore, clock: FakeClock, make_job: MakeJob
) -> None:
    assert_only_job_files(store.paths.jobs, "opening the store")
    for step in every_operation(store, clock, make_job):
        assert_only_job_files(store.paths.jobs, step)


def test_files_and_dirs_are_private(store: FileStore, clock: FakeClock, make_job: MakeJob) -> None:
    for _ in every_operation(store, clock, make_job):
        pass
    # The hand-written corrupt file keeps the mode its writer gave it.
    quarantined = set(store.paths.quarantine.iterdir())
    root = store.paths.root
    modes = {p: p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")] if p not in quarantined}

    assert {p: m for p, m in modes.items() if p.is_dir() and m != 0o700} == {}
    assert {p: m for p, m in modes.items() if p.is_file() and m != 0o600} == {}


def test_job_files_are_pretty_printed_json(
    store: FileStore, clock: FakeClock, make_job: MakeJob
) -> None:
    store.add([make_job({"path": "été.png", "sizes": [1, 2]}), make_job()])
    store.move(running := claim(store, clock), transitions.complete(running, [1], clock.now()))
    claim(store, clock)

    files = list(store.paths.jobs.glob("[a-z]*/*.json"))
    assert len(files) == 2
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


# --- claim cost ----------------------------------------------------------------------------


def spy_on_listings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every directory listed through os.scandir or os.listdir from now on."""
    listed: list[str] = []
    scandir, listdir = os.scandir, os.listdir

    def spy_scandir(path: str | Path = ".") -> Iterator[os.DirEntry[str]]:
        listed.append(os.fspath(path))
        return scandir(path)  # type: ignore[return-value]

    def spy_listdir(path: str | Path = ".") -> list[str]:
        listed.append(os.fspath(path))
        return listdir(path)

    monkeypatch.setattr(os, "scandir", spy_scandir)
    monkeypatch.setattr(os, "listdir", spy_listdir)
    return listed


def test_claims_do_not_list_or_read_the_whole_backlog(
    data_dir: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = JobQueue(data_dir, durable=False, clock=clock, new_id=SeqIds())
    queue.enqueue_many("bulk", [{"n": n} for n in range(20_000)])
    store = FileStore(data_dir, durable=False)
    claim(store, clock)  # the first claim may list pending/ once, to build its index
    listed = spy_on_listings(monkeypatch)

    started = time.perf_counter()
    claimed = [claim(store, clock).metadata.id for _ in range(200)]
    elapsed = time.perf_counter() - started

    assert claimed == [f"job-{n:06d}" for n in range(2, 202)]
    assert str(store.paths.jobs / "pending") not in listed
    # A sanity bound, not a speed target: re-reading 20,000 files per claim takes minutes.
    assert elapsed < 20, f"200 claims took {elapsed:.1f}s"


def test_a_running_store_sees_new_jobs_without_listing(
    data_dir: Path, clock: FakeClock, make_job: MakeJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, writer = FileStore(data_dir, durable=False), FileStore(data_dir, durable=False)
    assert worker.claim(WORKER_A, clock.now()) is None
    job = make_job()
    writer.add([job])
    listed = spy_on_listings(monkeypatch)

    assert claim(worker, clock).metadata.id == job.metadata.id
    assert str(worker.paths.jobs / "pending") not in listed


def test_claim_by_type_never_touches_another_types_file(
    store: FileStore, clock: FakeClock, make_job: MakeJob
) -> None:
    other = make_job(type="other", priority=-9)
    store.add([other, make_job(type="mine")])
    path = job_path(store, "pending", other.metadata.id)
    before = (path.read_bytes(), path.stat())

    claim(store, clock, {"mine"})
    assert store.claim(WORKER_A, clock.now(), {"mine"}) is None

    after = (path.read_bytes(), path.stat())
    assert after[0] == before[0]
    assert (after[1].st_ino, after[1].st_ctime_ns) == (before[1].st_ino, before[1].st_ctime_ns)


def test_a_type_changed_by_hand_is_not_claimed_as_the_old_type(
    store: FileStore, clock: FakeClock, make_job: MakeJob
) -> None:
    job = make_job(type="old")
    store.add([job])
    assert store.claim(WORKER_A, clock.now(), {"nothing"}) is None  # the index knows "old"
    path = job_path(store, "pending", job.metadata.id)
    edited = codec.encode(replace(job, metadata=replace(job.metadata, type="new")))
    path.write_bytes(edited)  # in place: same inode
    inode = path.stat().st_ino

    assert store.claim(WORKER_A, clock.now(), {"old"}) is None

    assert (path.read_bytes(), path.stat().st_ino) == (edited, inode)
    assert claim(store, clock, {"new"}).metadata.type == "new"


# --- hand edits and corrupt files ----------------------------------------------------------


@pytest.mark.parametrize("ended", ["failed", "complete"])
def test_a_job_file_moved_into_pending_by_hand_is_claimed(
    store: FileStore, clock: FakeClock, make_job: MakeJob, ended: str
) -> None:
    store.add([job := make_job()])
    running = claim(store, clock)
    if ended == "failed":
        fail_for_good(store, running, clock)
    else:
        store.move(running, transitions.complete(running, None, clock.now()))
    old = store.get(job.metadata.id)
    assert old is not None and store.claim(WORKER_A, clock.now()) is None
    os.rename(job_path(store, ended, job.metadata.id), job_path(store, "pending", job.metadata.id))

    again = claim(store, clock)

    assert again.metadata.id == job.metadata.id
    assert again.attempts == old.attempts
    assert where(store, job.metadata.id) == [".claimed", "running"]


def test_a_job_file_copied_in_by_hand_is_claimed(
    store: FileStore, clock: FakeClock, make_job: MakeJob
) -> None:
    assert store.claim(WORKER_A, clock.now()) is None
    job = make_job()
    job_path(store, "pending", job.metadata.id).write_bytes(codec.encode(job))

    assert store.counts(clock.now())["pending"] == 1
    assert claim(store, clock).metadata.id == job.metadata.id


def _quarantined(store: FileStore) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in store.paths.quarantine.iterdir()}


def test_a_corrupt_file_the_index_knows_is_quarantined_and_the_next_job_claimed(
    store: FileStore, clock: FakeClock, make_job: MakeJob
) -> None:
    bad, good = make_job(priority=0), make_job(priority=1)
    store.add([bad, good])
    assert store.claim(WORKER_A, clock.now(), {"none"}) is None  # both are in the index now
    job_path(store, "pending", bad.metadata.id).write_bytes(b'{"status": "pend')

    assert claim(store, clock).metadata.id == good.metadata.id

    assert list(_quarantined(store).values()) == [b'{"status": "pend']
    assert store.counts(clock.now())["quarantined"] == 1
    assert store.get(bad.metadata.id) is None


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe not even utf-8",
        b'{"status": "pending"}',  # valid JSON, not a job
        b"",
    ],
)
def test_a_corrupt_file_dropped_into_pending_is_quarantined(
    store: FileStore, clock: FakeClock, make_job: MakeJob, content: bytes
) -> None:
    assert store.claim(WORKER_A, clock.now()) is None
    job_path(store, "pending", "aaa-corrupt").write_bytes(content)
    store.add([good := make_job()])

    assert claim(store, clock).metadata.id == good.metadata.id
    assert store.claim(WORKER_A, clock.now()) is None  # idle: looks at pending/ again

    assert list(_quarantined(store).values()) == [content]
    assert store.counts(clock.now()) == {
        **dict.fromkeys(STATUSES, 0),
        "running": 1,
        "delayed": 0,
        "quarantined": 1,
        "total": 1,
    }


@pytest.mark.parametrize("status", ["pending", "failed"])
def test_a_file_named_after_another_id_is_quarantined(
    store: FileStore, clock: FakeClock, make_job: MakeJob, status: Status
) -> None:
    assert store.claim(WORKER_A, clock.now()) is None
    job = make_job()
    doc = codec.to_document(job) | ({"status": "failed"} if status == "failed" else {})
    if status == "failed":
        doc |= {"failed_at": codec.format_time(clock.now()), "error": {"type": "X", "message": ""}}
    data = json.dumps(doc).encode()
    job_path(store, "pending", "misnamed").write_bytes(data)

    assert store.claim(WORKER_A, clock.now()) is None

    assert list(_quarantined(store).values()) == [data]
    assert store.counts(clock.now())["pending"] == 0


def test_get_of_a_corrupt_file_quarantines_it(
    store: FileStore, clock: FakeClock, make_job: MakeJob
) -> None:
    store.add([job := make_job()])
    running = claim(store, clock)
    store.move(running, transitions.complete(running, None, clock.now()))
    job_path(store, "complete", job.metadata.id).write_bytes(b"[]")

    with pytest.raises(InvalidJob):
        store.get(job.metadata.id)

    assert store.get(job.metadata.id) is None
    assert list(store.scan(STATUSES)) == []
    assert list(_quarantined(store).values()) == [b"[]"]


# --- crash repair --------------------------------------------------------------------------


def test_recover_deletes_temp_files_of_dead_processes_only(
    store: FileStore, dead_token: str
) -> None:
    dead = store.paths.tmp / f"job-000001.json.{dead_token}.0badc0de.tmp"
    dead_key = store.paths.tmp / f"{'ab' * 20}.{dead_token}.0badc0de.tmp"
    live = store.paths.tmp / f"job-000002.json.{owner_token()}.1234abcd.tmp"
    for path in (dead, dead_key, live):
        path.write_bytes(b"half a job")

    store.recover()

    assert sorted(p.name for p in store.paths.tmp.iterdir()) == [live.name]


def _stage(store: FileStore, status: Status, job_id: str, token: str) -> Path:
    staged = store.paths.staging / f"{job_id}~{token}~a1b2c3.json"
    os.rename(job_path(store, status, job_id), staged)
    return staged


def test_a_job_left_in_staging_by_a_dead_process_is_put_back(
    store: FileStore, clock: FakeClock, make_job: MakeJob, dead_token: str
) -> None:
    store.add([first := make_job(), second := make_job()])
    failed = fail_for_good(store, claim(store, clock), clock)
    assert failed.metadata.id == first.metadata.id
    data = job_path(store, "pending", second.metadata.id).read_bytes()
    _stage(store, "pending", second.metadata.id, dead_token)  # a claim that died half-way
    _stage(store, "failed", first.metadata.id, dead_token)  # a retry that died half-way

    fresh = FileStore(store.paths.root, durable=False)
    fresh.recover()

    assert where(fresh, second.metadata.id) == ["pending"]
    assert job_path(fresh, "pending", second.metadata.id).read_bytes() == data
    assert where(fresh, first.metadata.id) == ["failed"]
    assert fresh.get(first.metadata.id) == failed
    assert claim(fresh, clock).metadata.id == second.metadata.id


def test_a_staged_copy_beside_a_visible_one_is_deleted(
    store: FileStore, clock: FakeClock, make_job: MakeJob, dead_token: str
) -> None:
    store.add([job := make_job()])
    staged = store.paths.staging / f"{job.metadata.id}~{dead_token}~a1b2c3.json"
    staged.write_bytes(job_path(store, "pending", job.metadata.id).read_bytes())
    running = claim(store, clock)  # the transition had finished when its process died

    store.recover()

    assert where(store, job.metadata.id) == [".claimed", "running"]
    assert store.get(job.metadata.id) == running


def test_staging_of_a_live_process_is_left_alone(store: FileStore, make_job: MakeJob) -> None:
    store.add([job := make_job()])
    staged = _stage(store, "pending", job.metadata.id, owner_token())

    store.recover()

    assert where(store, job.metadata.id) == [".staging"]
    assert staged.exists()


@pytest.mark.parametrize("later", ["complete", "pending", "failed"])
def test_a_job_in_running_and_a_later_status_keeps_the_later(
    store: FileStore, clock: FakeClock, make_job: MakeJob, later: str
) -> None:
    store.add([make_job(max_retries=1)])
    running = claim(store, clock)
    new: Job
    if later == "complete":
        new = transitions.complete(running, {"ok": 1}, clock.now())
    else:
        new = transitions.fail(
            running, BOOM, clock.now(), timedelta(0) if later == "pending" else None
        )
    # A move that crashed after writing the new file, before unlinking running/.
    job_path(store, new.status, new.metadata.id).write_bytes(codec.encode(new))

    store.recover()

    # The claim's original stays in .claimed/ while its owner (this process) lives.
    assert where(store, running.metadata.id) == [".claimed", later]
    assert store.get(running.metadata.id) == new


def _write_batch(store: FileStore, token: str, jobs: list[PendingJob], commit: bool) -> Path:
    batch = store.paths.batches / f"{token}~0badc0de"
    batch.mkdir(mode=0o700)
    for job in jobs:
        (batch / f"{job.metadata.id}.json").write_bytes(codec.encode(job))
    if commit:
        (batch / "COMMIT").write_bytes(b"")
    return batch


def test_a_committed_batch_of_a_dead_process_is_rolled_forward(
    store: FileStore, clock: FakeClock, make_job: MakeJob, dead_token: str
) -> None:
    jobs = [make_job({"n": n}) for n in range(3)]
    batch = _write_batch(store, dead_token, jobs, commit=True)

    fresh = FileStore(store.paths.root, durable=False)
    fresh.recover()

    assert not batch.exists()
    assert [fresh.get(j.metadata.id) for j in jobs] == jobs
    assert [claim(fresh, clock).metadata.id for _ in jobs] == [j.metadata.id for j in jobs]


def test_an_uncommitted_batch_of_a_dead_process_is_rolled_back(
    store: FileStore, clock: FakeClock, make_job: MakeJob, dead_token: str
) -> None:
    jobs = [make_job({"n": n}) for n in range(3)]
    batch = _write_batch(store, dead_token, jobs, commit=False)

    store.recover()

    assert not batch.exists()
    assert [store.get(j.metadata.id) for j in jobs] == [None] * 3
    assert store.counts(clock.now())["total"] == 0


@pytest.mark.parametrize("commit", [True, False])
def test_a_batch_of_a_live_process_is_left_alone(
    store: FileStore, make_job: MakeJob, commit: bool
) -> None:
    jobs = [make_job({"n": n}) for n in range(3)]
    batch = _write_batch(store, owner_token(), jobs, commit=commit)
    names = sorted(p.name for p in batch.iterdir())

    store.recover()

    assert sorted(p.name for p in batch.iterdir()) == names
    assert [store.get(j.metadata.id) for j in jobs] == [None] * 3


_HOLD_EVERY_LOCK = """
import fcntl, os, sys, time
from datetime import UTC, datetime
from jobqueue.job import Metadata, PendingJob, WorkerInfo
from jobqueue.backends.file import FileStore

store = FileStore(sys.argv[1], durable=False)
now = datetime(2030, 1, 1, tzinfo=UTC)
meta = Metadata(id="job-locker", type="t", created=now, run_at=now, unique_key="k")
store.add([PendingJob(metadata=meta, params={})])
store.claim(WorkerInfo(name="locker", host="h", pid=1), now)
locks = [*store.paths.locks.iterdir(), store.paths.jobs / ".index" / "lock"]
for lock in locks:
    fcntl.flock(os.open(lock, os.O_RDWR | os.O_CREAT), fcntl.LOCK_EX)
print(len(locks), flush=True)
time.sleep(60)
"""


@pytest.mark.timeout(30)
def test_lock_files_left_by_a_killed_process_never_block(
    store: FileStore, clock: FakeClock, make_job: MakeJob
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_EVERY_LOCK, str(store.paths.root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and int(child.stdout.readline()) >= 3
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

    added = store.add([make_job(), make_job(unique_key="k")])
    assert added[1].metadata.id == "job-locker"  # the killed process's job holds the key
    for job in (claim(store, clock), store.get("job-locker")):
        assert isinstance(job, RunningJob)
        store.move(job, transitions.complete(job, None, clock.now()))
    store.recover()
    assert store.counts(clock.now())["complete"] == 2
