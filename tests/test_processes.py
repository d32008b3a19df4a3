"""Worker processes and real signals: graceful and forced shutdown, a killed worker, and
the supervisor of ``--processes P``.

Workers run tests/workers/run_worker.py (the ``work`` job type; see its docstring), each
in its own process with its output in a log file that failures print.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobqueue import CompleteJob, Job, JobQueue, PendingJob, RunningJob
from jobqueue.process import pid_exists
from jobqueue.worker.supervisor import Supervisor

WORKERS = Path(__file__).parent / "workers"
RUN_WORKER = WORKERS / "run_worker.py"
RUN_SUPERVISOR = WORKERS / "run_supervisor.py"


class Proc:
    """A child Python process whose output goes to a log file."""

    def __init__(self, args: list[str], log: Path, **popen: Any) -> None:
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, **popen
            )
        self.pid = self.popen.pid

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def exit_code(self, timeout: float) -> int:
        """Wait for the process to end; fail (with its log) if it does not in time."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"pid {self.pid} still running after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """spawn(script, *args, **popen) starts a process; all are killed after the test."""
    started: list[Proc] = []

    def start(script: Path, *args: str, **popen: Any) -> Proc:
        proc = Proc([str(script), *args], tmp_path / f"proc-{len(started)}.log", **popen)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture
def queue(data_dir: Path) -> JobQueue:
    """On the system clock, like the worker processes (conftest's has a FakeClock)."""
    return JobQueue(data_dir, durable=False)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return value


def wait_job(queue: JobQueue, job_id: str, status: str, timeout: float = 10.0) -> Job:
    def current() -> Job | None:
        job = queue.get_job(job_id)
        return job if job is not None and job.status == status else None

    job: Job = wait_for(current, timeout, f"job {job_id} to be {status}")
    return job


def running_files(data_dir: Path) -> list[str]:
    return sorted(os.listdir(data_dir / "jobs" / "running"))


def worker_args(data_dir: Path, *options: str) -> tuple[str, ...]:
    return (str(data_dir), *options)


# --- one worker process --------------------------------------------------------------------


def test_sigterm_lets_a_running_job_finish_then_exits_0(
    queue: JobQueue, data_dir: Path, spawn: Callable[..., Proc]
) -> None:
    job = queue.enqueue("work", {"seconds": 1.0})
    worker = spawn(RUN_WORKER, *worker_args(data_dir, "--shutdown-timeout", "10"))
    wait_job(queue, job.metadata.id, "running")
    worker.signal(signal.SIGTERM)
    assert worker.exit_code(timeout=10) == 0, worker.output()
    done = queue.get_job(job.metadata.id)
    assert isinstance(done, CompleteJob), worker.output()
    assert done.result == {"pid": worker.pid, "attempt": 1}
    assert running_files(data_dir) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_job_longer_than_shutdown_timeout_is_handed_back_without_an_attempt(
    queue: JobQueue, data_dir: Path, spawn: Callable[..., Proc], signum: int
) -> None:
    job = queue.enqueue("work", {"seconds": 60})
    worker = spawn(RUN_WORKER, *worker_args(data_dir, "--shutdown-timeout", "0.5"))
    wait_job(queue, job.metadata.id, "running")
    worker.signal(signum)
    assert worker.exit_code(timeout=8) == 0, worker.output()
    back = queue.get_job(job.metadata.id)
    assert isinstance(back, PendingJob), worker.output()
    assert back.attempts == () and back.metadata.retry_count == 0
    assert running_files(data_dir) == []


def test_a_second_sigterm_hands_the_job_back_at_once(
    queue: JobQueue, data_dir: Path, spawn: Callable[..., Proc]
) -> None:
    job = queue.enqueue("work", {"seconds": 60, "cooperative": False})
    worker = spawn(RUN_WORKER, *worker_args(data_dir, "--shutdown-timeout", "30"))
    wait_job(queue, job.metadata.id, "running")
    worker.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.popen.poll() is None, "the first SIGTERM must wait for the job"
    second = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.exit_code(timeout=5) == 0, worker.output()
    assert time.monotonic() - second < 3
    back = queue.get_job(job.metadata.id)
    assert isinstance(back, PendingJob), worker.output()
    assert back.attempts == () and back.metadata.retry_count == 0
    assert running_files(data_dir) == []


@pytest.mark.parametrize("recovery", ["queue.reap", "next worker"])
def test_the_job_of_a_killed_worker_returns_to_pending_at_once_and_completes(
    queue: JobQueue, data_dir: Path, spawn: Callable[..., Proc], recovery: str
) -> None:
    job = queue.enqueue("work", {"seconds": 60, "first_attempt_only": True})
    doomed = spawn(RUN_WORKER, *worker_args(data_dir))
    running = wait_job(queue, job.metadata.id, "running")
    assert isinstance(running, RunningJob) and running.worker.pid == doomed.pid
    doomed.popen.kill()  # SIGKILL: no chance to hand anything back
    doomed.popen.wait(10)
    if recovery == "queue.reap":  # with the default stale_after of 30s: the dead pid decides
        (reaped,) = queue.reap()
        assert isinstance(reaped, PendingJob) and reaped.metadata.id == job.metadata.id
    began = time.monotonic()
    rescuer = spawn(RUN_WORKER, *worker_args(data_dir, "--burst"))
    assert rescuer.exit_code(timeout=15) == 0, rescuer.output()
    assert time.monotonic() - began < 10
    done = queue.get_job(job.metadata.id)
    assert isinstance(done, CompleteJob), rescuer.output()
    assert done.result == {"pid": rescuer.pid, "attempt": 2}
    lost, ok = done.attempts
    assert lost.error is not None and lost.error.type == "WorkerLost"
    assert lost.worker.pid == doomed.pid and ok.error is None


# --- the supervisor ------------------------------------------------------------------------


def test_the_supervisor_restarts_a_killed_child_and_stops_all_on_sigterm(
    queue: JobQueue, data_dir: Path, tmp_path: Path, spawn: Callable[..., Proc]
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    job = queue.enqueue("work", {"seconds": 60, "first_attempt_only": True})
    options = ("--pid-dir", str(pids), "--shutdown-timeout", "1")
    supervisor = spawn(RUN_SUPERVISOR, str(data_dir), "2", *options)
    wait_for(lambda: len(os.listdir(pids)) == 2, 10, "two worker processes")
    running = wait_job(queue, job.metadata.id, "running")
    assert isinstance(running, RunningJob)
    os.kill(running.worker.pid, signal.SIGKILL)
    wait_for(lambda: len(os.listdir(pids)) == 3, 10, "a replacement worker process")
    done = wait_job(queue, job.metadata.id, "complete")
    assert isinstance(done, CompleteJob) and done.attempts[0].error is not None
    assert done.attempts[0].error.type == "WorkerLost"
    supervisor.signal(signal.SIGTERM)
    assert supervisor.exit_code(timeout=10) == 0, supervisor.output()
    assert [pid for pid in map(int, os.listdir(pids)) if pid_exists(pid)] == []


def test_ctrl_c_on_the_supervisor_lets_running_jobs_finish(
    queue: JobQueue, data_dir: Path, spawn: Callable[..., Proc]
) -> None:
    """A terminal's Ctrl-C sends SIGINT to the whole foreground process group: each
    child must still see one signal (finish the job), not two (hand it back at once)."""
    job = queue.enqueue("work", {"seconds": 1.5})
    options = ("--shutdown-timeout", "10")
    supervisor = spawn(RUN_SUPERVISOR, str(data_dir), "1", *options, process_group=0)
    wait_job(queue, job.metadata.id, "running")
    os.killpg(supervisor.pid, signal.SIGINT)
    assert supervisor.exit_code(timeout=10) == 0, supervisor.output()
    done = queue.get_job(job.metadata.id)
    assert isinstance(done, CompleteJob), supervisor.output()


def test_the_supervisor_survives_a_failing_on_child_died() -> None:
    """on_child_died is the caller's code (a reap that may hit a store error): it must
    not bring the supervisor down and orphan the other children."""
    calls: list[float] = []

    def broken_reap() -> None:
        calls.append(time.monotonic())
        raise OSError("jobs/running: Input/output error")

    command = [sys.executable, "-c", "import sys; sys.exit(3)"]
    supervisor = Supervisor(command, 1, on_child_died=broken_reap)
    finished = threading.Event()

    def stop_later() -> None:  # a real SIGTERM to this process, while run() handles it
        deadline = time.monotonic() + 10
        while len(calls) < 2 and time.monotonic() < deadline and not finished.is_set():
            time.sleep(0.05)
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_later, daemon=True)
    stopper.start()
    try:
        assert supervisor.run() == 0
    finally:
        finished.set()
    stopper.join(5)
    assert len(calls) >= 2, "the supervisor stopped restarting its crashing child"


CRASH_TWICE = """
import os, sys, time
marks = sys.argv[1]
n = len(os.listdir(marks))
open(os.path.join(marks, str(n)), "w").close()
sys.exit(3) if n < 2 else time.sleep(30)
"""


def test_a_stop_during_the_restart_backoff_reaches_the_restarted_child(tmp_path: Path) -> None:
    """The first two children crash; the supervisor waits out its restart backoff before
    the third. A SIGTERM during that wait must still stop the child started after it."""
    marks = tmp_path / "marks"
    marks.mkdir()
    deaths: list[float] = []
    command = [sys.executable, "-c", CRASH_TWICE, str(marks)]
    supervisor = Supervisor(command, 1, on_child_died=lambda: deaths.append(time.monotonic()))
    finished = threading.Event()

    def stop_in_backoff() -> None:
        deadline = time.monotonic() + 10
        while len(deaths) < 2 and time.monotonic() < deadline and not finished.is_set():
            time.sleep(0.01)
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_in_backoff, daemon=True)
    stopper.start()
    began = time.monotonic()
    try:
        assert supervisor.run() == 0
    finally:
        finished.set()
    stopper.join(5)
    assert len(deaths) == 2
    assert time.monotonic() - began < 10, "the supervisor waited for an unsignalled child"


def test_a_supervisor_whose_children_cannot_import_the_worker_exits_2(tmp_path: Path) -> None:
    """Bad input is not a crash: restarting the children could never help."""
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(tmp_path / "data"),
               "worker", "no_such_module:Worker", "--processes", "2"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "no_such_module" in done.stderr
