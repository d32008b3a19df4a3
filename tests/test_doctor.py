"""``jobqueue doctor [--repair]``: one broken tree per kind of finding, through the CLI.

For each: ``doctor`` reports the finding, exits 1 and changes nothing; ``--repair``
fixes what is safe (a crash leftover, a lost job, loose permissions) and exits 0 when
the tree is healthy after, or moves what is wrong aside into .quarantine/ (bytes intact)
and exits 1, since quarantine needs a person; the healthy jobs are never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from jobqueue import JobQueue, codec, process, transitions
from jobqueue.backends.file import FileStore
from jobqueue.cli import app
from jobqueue.job import Job, PendingJob, RunningJob, WorkerInfo

REMOTE = WorkerInfo(name="far", host="elsewhere.example", pid=4242)


@pytest.fixture(scope="module")
def dead() -> tuple[str, WorkerInfo]:
    """The owner token and the WorkerInfo of a process that has exited."""
    code = "from jobqueue.process import owner_token; print(owner_token())"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    token = child.communicate(timeout=30)[0].strip()
    started = float(token.split("-")[1])
    host = process.hostname()
    return token, WorkerInfo(name="gone", host=host, pid=child.pid, pid_started=started)


@pytest.fixture(autouse=True)
def private_umask() -> Iterator[None]:
    """Files these tests plant are private too, so only the case at hand is a finding."""
    previous = os.umask(0o077)
    yield
    os.umask(previous)


@dataclass
class Tree:
    data: Path
    queue: JobQueue
    store: FileStore
    token: str
    gone: WorkerInfo
    healthy: dict[str, Job]

    @property
    def jobs(self) -> Path:
        return self.data / "jobs"

    def running(self, worker: WorkerInfo) -> RunningJob:
        job = self.queue.enqueue("victim", {})
        running = self.store.claim(worker, datetime.now(UTC), {"victim"})
        assert isinstance(running, RunningJob) and running.metadata.id == job.metadata.id
        return running


@pytest.fixture
def tree(data_dir: Path, dead: tuple[str, WorkerInfo]) -> Tree:
    """A complete job and a pending one, both to be left alone by every repair."""
    queue = JobQueue(data_dir, durable=False)
    assert isinstance(queue.backend.jobs, FileStore)
    queue.enqueue("keep", {"n": 1})
    queue.enqueue("keep", {"n": 2})
    running = queue.backend.jobs.claim(REMOTE, datetime.now(UTC), {"keep"})
    assert running is not None
    queue.backend.jobs.move(running, transitions.complete(running, None, datetime.now(UTC)))
    healthy = {job.metadata.id: job for job in queue.query_jobs()}
    return Tree(data_dir, queue, queue.backend.jobs, *dead, healthy)


def doctor(tree: Tree, *args: str) -> Result:
    return CliRunner().invoke(app, ["--data-dir", str(tree.data), "doctor", *args])


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        found[str(path)] = (st.st_mode, data)
    return found


# --- the problems -------------------------------------------------------------------------


def unknown_files(t: Tree) -> list[bytes]:
    (t.jobs / "pending" / "notes.txt").write_bytes(b"my notes")
    (t.jobs / "complete" / "a b.json").write_bytes(b"{}")
    os.symlink("/etc/hostname", t.jobs / "failed" / "linked.json")
    (t.jobs / "cancelled" / "dir.json").mkdir(mode=0o700)
    return [b"my notes", b"{}"]


def corrupt_files(t: Tree) -> list[bytes]:
    wrong = codec.encode(next(iter(t.queue.query_jobs("complete"))))
    (t.jobs / "complete" / "broken.json").write_bytes(b'{"status": "compl')
    (t.jobs / "failed" / "wrong-status.json").write_bytes(wrong)
    (t.jobs / "complete" / "other-name.json").write_bytes(wrong)
    return [b'{"status": "compl', wrong]


def duplicate_by_hand(t: Tree) -> list[bytes]:
    """A copy of the complete job in cancelled/, older than it."""
    [done] = t.queue.query_jobs("complete")
    copy = PendingJob(metadata=done.metadata, params=done.params, attempts=done.attempts)
    data = codec.encode(transitions.cancel_pending(copy, None, datetime.now(UTC)))
    older = t.jobs / "cancelled" / f"{done.metadata.id}.json"
    older.write_bytes(data)
    os.utime(older, (1, 1))  # the older copy
    return [data]


def crash_left_a_running_copy(t: Tree) -> list[bytes]:
    job = t.running(REMOTE)
    ended = transitions.complete(job, None, datetime.now(UTC))
    (t.jobs / "complete" / f"{job.metadata.id}.json").write_bytes(codec.encode(ended))
    t.healthy[job.metadata.id] = ended
    return []


def dead_worker_job(t: Tree) -> list[bytes]:
    t.running(t.gone)
    return []


def stale_remote_job(t: Tree) -> list[bytes]:
    job = t.running(REMOTE)
    t.store.move(job, transitions.heartbeat(job, datetime.now(UTC) - timedelta(minutes=5)))
    return []


def leftovers(t: Tree) -> list[bytes]:
    (t.jobs / ".tmp" / f"x.json.{t.token}.0badc0de.tmp").write_bytes(b"half")
    batch = t.jobs / ".batches" / f"{t.token}~0badc0de"
    batch.mkdir(mode=0o700)
    (batch / "job-in-batch.json").write_bytes(b"{}")
    [waiting] = t.queue.query_jobs("pending")
    os.rename(
        t.jobs / "pending" / f"{waiting.metadata.id}.json",
        t.jobs / ".staging" / f"{waiting.metadata.id}~{t.token}~a1b2c3.json",
    )
    (t.jobs / ".cancel" / "nobody-runs-me.json").write_bytes(b'{"reason": null, "at": "x"}')
    return []


def quarantined(t: Tree) -> list[bytes]:
    (t.jobs / ".quarantine" / "pending~old.json").write_bytes(b"kept for a person")
    return []


def loose_permissions(t: Tree) -> list[bytes]:
    [done] = t.queue.query_jobs("complete")
    os.chmod(t.jobs / "complete" / f"{done.metadata.id}.json", 0o644)
    os.chmod(t.jobs / "pending", 0o755)
    os.chmod(t.data, 0o750)
    return []


def symlinked_lock(t: Tree) -> list[bytes]:
    os.symlink("/etc/hostname", t.jobs / ".locks" / "job-99.lock")
    return []


def stray_directory(t: Tree) -> list[bytes]:
    (t.jobs / "archive").mkdir()
    return []


@dataclass(frozen=True)
class Case:
    make: Callable[[Tree], list[bytes]]
    kinds: set[str]
    #: Whether ``--repair`` leaves the tree healthy (exit 0), or quarantine/strays remain.
    healed: bool


CASES = {
    "unknown files in status dirs": Case(unknown_files, {"unknown"}, healed=False),
    "corrupt job files": Case(corrupt_files, {"corrupt"}, healed=False),
    "a duplicate made by hand": Case(duplicate_by_hand, {"duplicate"}, healed=False),
    "a running copy beside its later state": Case(
        crash_left_a_running_copy, {"leftover"}, healed=True
    ),
    "a job of a dead worker": Case(dead_worker_job, {"lost"}, healed=True),
    "a job with a stale heartbeat": Case(stale_remote_job, {"lost"}, healed=True),
    "temp, staged, batch, cancel leftovers": Case(leftovers, {"leftover"}, healed=True),
    "files in quarantine": Case(quarantined, {"quarantined"}, healed=False),
    "loose permissions": Case(loose_permissions, {"permissions"}, healed=True),
    "a symlink in a hidden dir": Case(symlinked_lock, {"symlink"}, healed=False),
    "a stray directory": Case(stray_directory, {"stray"}, healed=False),
}


def test_a_healthy_tree_is_healthy(tree: Tree) -> None:
    result = doctor(tree)
    assert (result.exit_code, result.stdout.strip()) == (0, "healthy")


@pytest.mark.parametrize("name", CASES)
def test_doctor_finds_it_changes_nothing_and_repair_fixes_what_is_safe(
    tree: Tree, name: str
) -> None:
    case = CASES[name]
    kept_bytes = case.make(tree)
    before = snapshot(tree.data)

    found = doctor(tree)
    assert found.exit_code == 1, found.output
    kinds = {line.split(":")[0] for line in found.stdout.splitlines()[:-1]}
    assert kinds == case.kinds, found.stdout
    assert snapshot(tree.data) == before, "doctor without --repair changed the tree"

    repaired = doctor(tree, "--repair")
    assert repaired.exit_code == (0 if case.healed else 1), repaired.output
    assert "repaired" in repaired.stdout
    again = doctor(tree)
    assert again.exit_code == repaired.exit_code, again.output
    if not case.healed:
        remaining = {line.split(":")[0] for line in again.stdout.splitlines()[:-1]}
        assert remaining <= {"quarantined", "stray"}, again.stdout
    kept = [p.read_bytes() for p in (tree.jobs / ".quarantine").iterdir() if p.is_file()]
    assert all(data in kept for data in kept_bytes), "repair lost bytes"
    for job_id, job in tree.healthy.items():
        assert tree.queue.get_job(job_id) == job
