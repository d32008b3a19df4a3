"""Crash points: a process killed at any step of any transition loses nothing.

For every step of every transition in tests/workers/crash_scenarios.py, a child process
prepares a store, starts the transition and ``os._exit``s at that step (no ``finally``,
no lock release but the kernel's: what SIGKILL leaves). A fresh store then recovers and:

* every job is in exactly one status directory, in its state from before or after the
  transition (never lost, never in between, never twice); enqueue_many is all or nothing;
* nothing is left in .tmp/, .staging/, .claimed/ or .batches/, and a cancel request only beside a
  running job; ``jobqueue doctor`` finds the tree healthy (but for the lost running job);
* the unique key still deduplicates (a key naming no job reads as free), and every job
  can still be reaped, retried, claimed and completed.

The same scenario run in-process (no crash, the steps recorded) gives the states before
and after, and pins the list of steps: a new step in a transition fails
``test_the_steps_of_each_transition_are_the_crash_table`` until it is added there.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from workers import crash_scenarios as cs

from jobqueue import JobQueue, codec, process, reaper, transitions
from jobqueue.backends.file import FileBackend, FileStore
from jobqueue.backends.file import doctor as store_doctor
from jobqueue.backends.file.layout import tmp_owner
from jobqueue.job import (
    STATUSES,
    CancelledJob,
    FailedJob,
    Job,
    RunningJob,
    Status,
    WorkerInfo,
)

SCRIPT = Path(cs.__file__)
LATER = cs.NOW + timedelta(hours=1)
RESCUER = WorkerInfo(name="rescuer", host="test-host", pid=1)

Snapshot = dict[str, Job]


@pytest.fixture(scope="module")
def dead_worker() -> WorkerInfo:
    """The claiming worker: a process on this host that has exited, as the child will have."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = process.start_ticks(child.pid)
    child.kill()
    child.wait(timeout=10)
    return WorkerInfo(name="doomed", host=process.hostname(), pid=child.pid, pid_started=started)


@dataclass(frozen=True)
class Reference:
    before: Snapshot
    after: Snapshot
    steps: tuple[str, ...]


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory, dead_worker: WorkerInfo
) -> Callable[[str], Reference]:
    """reference(name): the scenario run in-process, without a crash (cached)."""
    cache: dict[str, Reference] = {}

    def run(name: str) -> Reference:
        if name not in cache:
            scenario = cs.SCENARIOS[name]
            ctx = cs.Ctx(tmp_path_factory.mktemp(f"ref-{name}") / "data", dead_worker, True)
            scenario.setup(ctx)
            before, steps = snapshot(ctx.root), []
            ctx.store.faults = steps.append
            scenario.run(ctx)
            cache[name] = Reference(before, snapshot(ctx.root), tuple(steps))
        return cache[name]

    return run


def snapshot(root: Path) -> Snapshot:
    """Every job file under jobs/<status>/, failing if an id is in two directories."""
    found: Snapshot = {}
    where: dict[str, Status] = {}
    for status in STATUSES:
        for path in sorted((root / "jobs" / status).iterdir()):
            job_id = path.name.removesuffix(".json")
            assert job_id not in where, f"{job_id} is in {where[job_id]}/ and {status}/"
            found[job_id] = codec.decode(path.read_bytes(), source=str(path), expect=status)
            where[job_id] = status
    return found


def leftovers(root: Path, running: set[str]) -> list[str]:
    """Internal entries that must be gone once recovery ran."""
    jobs = root / "jobs"
    left = [
        str(p.relative_to(jobs))
        for d in (".tmp", ".staging", ".claimed", ".batches")
        for p in (jobs / d).iterdir()
        if not (p.name.startswith("spare.") and tmp_owner(p.name) == process.owner_token())
    ]
    left += [f".cancel/{p.name}" for p in (jobs / ".cancel").iterdir() if p.stem not in running]
    return left


def crash_points() -> list[object]:
    return [
        pytest.param(name, index, id=f"{name}-{step}#{cs.target(scenario.steps, index)[1]}")
        for name, scenario in cs.SCENARIOS.items()
        for index, step in enumerate(scenario.steps)
    ]


def crash(root: Path, name: str, index: int, worker: WorkerInfo) -> None:
    args = [sys.executable, str(SCRIPT), str(root), name, str(index), cs.worker_to_json(worker)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert done.returncode == cs.CRASH_EXIT, f"exit {done.returncode}:\n{done.stderr}"


# --- the table ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(cs.SCENARIOS))
def test_the_steps_of_each_transition_are_the_crash_table(
    name: str, reference: Callable[[str], Reference]
) -> None:
    assert reference(name).steps == cs.SCENARIOS[name].steps


# --- one crash at each step ---------------------------------------------------------------


@pytest.mark.parametrize(("name", "index"), crash_points())
def test_a_crash_at_this_step_loses_nothing(
    name: str,
    index: int,
    tmp_path: Path,
    dead_worker: WorkerInfo,
    reference: Callable[[str], Reference],
) -> None:
    root = tmp_path / "data"
    crash(root, name, index, dead_worker)
    ref = reference(name)

    backend = FileBackend(root, durable=False)
    store = backend.jobs
    store.recover()

    jobs = snapshot(root)
    assert_old_or_new(jobs, ref, all_or_nothing=cs.SCENARIOS[name].all_or_nothing)
    running = {i for i, j in jobs.items() if isinstance(j, RunningJob)}
    assert leftovers(root, running) == []
    assert_doctor_finds_only_lost_jobs(store, running)
    assert_the_unique_key_still_deduplicates(backend)
    assert_every_job_can_still_complete(backend, set(snapshot(root)))


def assert_old_or_new(jobs: Snapshot, ref: Reference, *, all_or_nothing: bool) -> None:
    ids = ref.before.keys() | ref.after.keys() | jobs.keys()
    for job_id in sorted(ids):
        state = jobs.get(job_id)
        assert state in (ref.before.get(job_id), ref.after.get(job_id)), (
            f"{job_id} is {describe(state)}: neither {describe(ref.before.get(job_id))} "
            f"(before) nor {describe(ref.after.get(job_id))} (after)"
        )
    if all_or_nothing:
        changed = {job_id: jobs.get(job_id) == ref.after.get(job_id) for job_id in ids}
        assert len(set(changed.values())) == 1, f"a batch half done: {changed}"


def describe(job: Job | None) -> str:
    return "absent" if job is None else job.status


def assert_doctor_finds_only_lost_jobs(store: FileStore, running: set[str]) -> None:
    """The claiming worker is dead: its running job is 'lost' (reaped next); nothing else."""
    report = store_doctor.check(store, LATER, timedelta(seconds=30))
    unexpected = [f for f in report.findings if f.kind != "lost"]
    assert unexpected == []
    assert {f.path.stem for f in report.findings if f.kind == "lost"} == running


def assert_the_unique_key_still_deduplicates(backend: FileBackend) -> None:
    """A key left naming no job reads as free; one naming a live job is still held.
    (Two holders are legitimate after retry-failed: see jobqueue.backends.file.unique.)"""
    counter = itertools.count(1)
    store = backend.jobs
    queue = JobQueue(backend, new_id=lambda now: f"check-{next(counter)}")
    before = holders(store)
    queue.enqueue("work", {}, unique_key=cs.KEY)
    after = holders(store)
    assert after == (before or ["check-1"]), (before, after)


def holders(store: FileStore) -> list[str]:
    live = store.scan(["pending", "running"])
    return sorted(j.metadata.id for j in live if j.metadata.unique_key == cs.KEY)


def assert_every_job_can_still_complete(backend: FileBackend, ids: set[str]) -> None:
    store = backend.jobs
    reaper.reap(store, backend.cancels, LATER, timedelta(seconds=30))
    for ended in store.scan(["failed", "cancelled"]):
        assert isinstance(ended, FailedJob | CancelledJob)
        store.move(ended, transitions.retry(ended, LATER))
    while (job := store.claim(RESCUER, LATER)) is not None:
        store.move(job, transitions.complete(job, None, LATER))
    final = snapshot(store.paths.root)
    assert {j.status for j in final.values()} <= {"complete"}, final
    assert ids <= final.keys()
    assert leftovers(store.paths.root, set()) == []
