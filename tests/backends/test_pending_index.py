"""The pending index: sorted runs read lazily, and a listing of pending/ that waits until
after the first claim, without ever losing a job or claiming out of order.

"Fresh" stores are new FileStore instances on the same data dir, as a new process opens.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import WORKER_A, FakeClock

from jobqueue import codec
from jobqueue.backends.file import FileStore
from jobqueue.backends.file.pending_index import Entry, PendingIndex, run_bytes, split_log
from jobqueue.job import PendingJob

from .test_file_store import spy_on_listings

MakeJob = Callable[..., PendingJob]


def fresh(store: FileStore, rescan_interval: float = 1e9) -> FileStore:
    return FileStore(store.paths.root, durable=False, rescan_interval=rescan_interval)


def drain(store: FileStore, clock: FakeClock) -> list[str]:
    ids = []
    while (job := store.claim(WORKER_A, clock.now())) is not None:
        ids.append(job.metadata.id)
    return ids


def claim_order(jobs: list[PendingJob]) -> list[str]:
    return [j.metadata.id for j in sorted(jobs, key=lambda j: (j.metadata.priority, j.metadata.id))]


def log_of(store: FileStore) -> Path:
    return store.paths.index / "pending.log"


@pytest.fixture
def store(data_dir: Path) -> FileStore:
    return FileStore(data_dir, durable=False)


# --- sorted runs ------------------------------------------------------------------------------


def test_a_batch_is_one_sorted_run_and_a_few_jobs_are_loose_lines(
    store: FileStore, make_job: MakeJob
) -> None:
    store.add([make_job(priority=p) for p in (3, 1, 2)])
    batch = [make_job(priority=random.randint(-5, 5)) for _ in range(100)]
    store.add(batch)

    loose, runs, used = split_log(log_of(store).read_bytes())
    assert used == log_of(store).stat().st_size
    assert [len(stretch.splitlines()) for stretch in loose] == [3]
    [run] = runs
    assert [e.id for e in map(Entry.parse, run.splitlines()) if e] == claim_order(batch)


def test_a_fresh_store_claims_in_order_across_runs_and_loose_lines(
    store: FileStore, make_job: MakeJob, clock: FakeClock
) -> None:
    rng = random.Random(7)
    jobs = []
    for size in (500, 1, 70, 3, 300, 64):
        batch = [make_job(priority=rng.randint(-3, 3)) for _ in range(size)]
        store.add(batch)
        jobs += batch

    assert drain(fresh(store), clock) == claim_order(jobs)


def test_a_fresh_store_reads_a_few_lines_of_each_run_and_lists_nothing_to_claim(
    store: FileStore, make_job: MakeJob, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(4):
        store.add([make_job() for _ in range(5_000)])
    parsed: list[bytes] = []
    parse = Entry.parse

    def counted(line: bytes) -> Entry | None:
        parsed.append(line)
        return parse(line)

    monkeypatch.setattr(Entry, "parse", counted)
    listed = spy_on_listings(monkeypatch)
    reader = fresh(store)

    assert reader.claim(WORKER_A, clock.now()) is not None
    assert str(store.paths.status_dir("pending")) not in listed
    assert len(parsed) < 2_000, "a first claim parses the head of each run, not the backlog"


def test_a_deferred_job_in_an_unread_part_of_a_run_is_claimed_when_due(
    store: FileStore, make_job: MakeJob, clock: FakeClock
) -> None:
    """Runs sort by priority first: a deferred job may sit anywhere in one."""
    later = clock.now() + timedelta(hours=1)
    deferred = make_job(priority=0, run_at=later, type="report")
    batch = [deferred] + [make_job(priority=1, type="report") for _ in range(2_000)]
    store.add(batch)
    reader = fresh(store)

    assert reader.claim(WORKER_A, clock.now()).metadata.priority == 1  # type: ignore[union-attr]
    clock.advance(3600)
    assert reader.claim(WORKER_A, clock.now()).metadata.id == deferred.metadata.id  # type: ignore[union-attr]


def test_a_later_line_for_a_job_in_a_run_wins(
    store: FileStore, make_job: MakeJob, clock: FakeClock
) -> None:
    """A job announced again (put back, edited) after its run: the run's line is stale.
    (A claim re-reads run_at and type, but not priority: the order is the index's.)"""
    batch = [make_job() for _ in range(100)]
    store.add(batch)
    first = batch[0]
    demoted = replace(first, metadata=replace(first.metadata, priority=9))
    store.paths.job("pending", first.metadata.id).write_bytes(codec.encode(demoted))
    store.announce([demoted])

    assert drain(fresh(store), clock) == [*claim_order(batch[1:]), first.metadata.id]


# --- damaged or unfinished runs ---------------------------------------------------------------


def test_a_run_still_being_written_waits_and_is_read_once_complete(tmp_path: Path) -> None:
    (tmp_path / "pending").mkdir()
    index = PendingIndex(tmp_path, tmp_path / "pending", lambda job_id: None)
    entries = [Entry(0, n, f"job-{n:03d}", "t") for n in range(100)]
    data = run_bytes(entries)
    log = tmp_path / "pending.log"
    log.write_bytes(data[: len(data) // 2])

    index.refresh(0)
    assert pop_all(index) == []
    with log.open("ab") as f:
        f.write(data[len(data) // 2 :])
    index.refresh(0)
    assert pop_all(index) == entries


def pop_all(index: PendingIndex) -> list[Entry]:
    """One entry per pop_due, as claims that each win their first rename."""
    popped = []
    while (entry := next(index.pop_due(10**9, None), None)) is not None:
        popped.append(entry)
    return popped


@pytest.mark.parametrize(
    "damage",
    [
        lambda run: run.replace(b"#sorted ", b"#sorted 9"),  # a wrong size
        lambda run: run[: len(run) // 2] + b"\n",  # a short write, then another line
        lambda run: run.replace(b"#sorted ", b"#sorted x "),  # a header we cannot read
        lambda run: run[:200] + b"garbage\n" + run[200:],  # a foreign line inside
    ],
)
def test_a_damaged_run_never_loses_a_job(
    store: FileStore,
    make_job: MakeJob,
    clock: FakeClock,
    damage: Callable[[bytes], bytes],
) -> None:
    batch = [make_job(priority=random.randint(0, 9)) for _ in range(200)]
    store.add(batch)
    extra = make_job(priority=-1)
    store.add([extra])  # a loose line after the run
    log = log_of(store)
    data = log.read_bytes()
    loose_at = data.rfind(b"\n", 0, len(data) - 1) + 1
    log.write_bytes(damage(data[:loose_at]) + data[loose_at:])

    ids = drain(fresh(store), clock)
    assert sorted(ids) == sorted(j.metadata.id for j in [*batch, extra])


def test_a_corrupt_log_is_rebuilt_by_compaction(
    store: FileStore, make_job: MakeJob, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("jobqueue.backends.file.pending_index._COMPACT_MIN_LINES", 10)
    batch = [make_job() for _ in range(100)]
    store.add(batch)
    log_of(store).write_bytes(b"#sorted 5 1\nnot a line at all\n" * 300)
    reader = fresh(store)
    reader.counts(clock.now())  # lists pending/, and compacts the log of dead lines

    _, runs, _ = split_log(log_of(store).read_bytes())
    assert [len(run.splitlines()) for run in runs] == [100]
    assert drain(fresh(store), clock) == claim_order(batch)


# --- the listing of pending/, after the first claim ------------------------------------------


def hand_placed(store: FileStore, job: PendingJob) -> None:
    """A job file in pending/ whose index line was never written (a crashed writer)."""
    store.paths.job("pending", job.metadata.id).write_bytes(codec.encode(job))


def test_a_job_without_an_index_line_is_claimed_once_the_queue_is_idle(
    store: FileStore, make_job: MakeJob, clock: FakeClock
) -> None:
    batch = [make_job(priority=5) for _ in range(3)]
    store.add(batch)
    missed = make_job(priority=0)
    hand_placed(store, missed)

    ids = drain(fresh(store, rescan_interval=1e9), clock)
    assert ids == [*claim_order(batch), missed.metadata.id]


def test_a_job_without_an_index_line_is_found_by_a_busy_store_after_the_interval(
    store: FileStore, make_job: MakeJob, clock: FakeClock
) -> None:
    batch = [make_job(priority=5) for _ in range(3)]
    store.add(batch)
    missed = make_job(priority=0)
    hand_placed(store, missed)
    reader = fresh(store, rescan_interval=0.05)

    first = reader.claim(WORKER_A, clock.now())
    assert first is not None and first.metadata.id == batch[0].metadata.id  # no listing yet
    time.sleep(0.06)
    reader.claim(WORKER_A, clock.now())  # busy since it started: lists pending/ now
    assert reader.claim(WORKER_A, clock.now()).metadata.id == missed.metadata.id  # type: ignore[union-attr]


def test_a_fresh_store_lists_pending_rather_than_try_many_claimed_jobs(
    store: FileStore, make_job: MakeJob, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [make_job() for _ in range(300)]
    store.add(batch)
    for _ in range(250):
        store.claim(WORKER_A, clock.now())  # their lines stay in the log until compaction
    reader = fresh(store)
    listed = spy_on_listings(monkeypatch)

    job = reader.claim(WORKER_A, clock.now())
    assert job is not None and job.metadata.id == batch[250].metadata.id
    assert listed.count(str(store.paths.status_dir("pending"))) == 1


# --- compaction while others append lines and runs ---------------------------------------------


_PRODUCE = """
import sys
from jobqueue import JobQueue
queue = JobQueue(sys.argv[1], durable=False)
count = int(sys.argv[2])
if sys.argv[3] == "lines":
    for n in range(count):
        queue.enqueue("t", {"n": n})
else:
    for n in range(count // 100):
        queue.enqueue_many("t", [{"n": n} for _ in range(100)])
"""


@pytest.mark.parametrize("appends", ["lines", "runs"])
def test_compaction_under_concurrent_appends_never_hides_a_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, appends: str
) -> None:
    """Appenders take no lock: lines and runs (enqueue_many) appended to the old log while
    a compaction replaces it must still reach the claimer, without a listing of pending/."""
    monkeypatch.setattr("jobqueue.backends.file.pending_index._COMPACT_MIN_LINES", 300)
    data, per_producer = tmp_path / "data", 1500
    store = FileStore(data, durable=False, rescan_interval=1e9)  # never falls back to listing
    store.claim(WORKER_A, FakeClock().now())  # idle: its one listing, on an empty dir
    producers = [
        subprocess.Popen([sys.executable, "-c", _PRODUCE, str(data), str(per_producer), appends])
        for _ in range(3)
    ]
    claimed: set[str] = set()
    later = FakeClock().now() + timedelta(days=3650)  # every job is due
    deadline = time.monotonic() + 60
    while len(claimed) < 3 * per_producer and time.monotonic() < deadline:
        job = store.claim(WORKER_A, later)
        if job is not None:
            claimed.add(job.metadata.id)
    for p in producers:
        assert p.wait(timeout=30) == 0
    assert len(claimed) == 3 * per_producer
