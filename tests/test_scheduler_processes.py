"""Real `jobqueue scheduler` processes on the real clock: exactly one job per tick however
many run, and a clean exit 0 on SIGTERM and SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from jobqueue import JobQueue

EVERY_SECOND = "* * * * * *"  # croniter's sixth field is seconds


def start_scheduler(data_dir: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(data_dir), "scheduler",
               "--log-level", "info"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str], signum: int = signal.SIGTERM) -> tuple[int, str]:
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"the scheduler ignored {signal.Signals(signum).name}") from None
    return process.returncode, stderr


def wait_until_running(process: subprocess.Popen[str]) -> None:
    """Its first log line says it is in its loop (pytest-timeout bounds the read)."""
    assert process.stderr is not None
    line = process.stderr.readline()
    assert "scheduler running" in line, line


def tick_of(unique_key: str | None) -> datetime:
    assert unique_key is not None and unique_key.startswith("schedule:fast:")
    return datetime.fromisoformat(unique_key.removeprefix("schedule:fast:"))


def test_two_scheduler_processes_enqueue_exactly_one_job_per_tick(data_dir: Path) -> None:
    queue = JobQueue(data_dir, durable=False)
    processes = [start_scheduler(data_dir), start_scheduler(data_dir)]
    try:
        for process in processes:
            wait_until_running(process)
        # Created once both run (each notices it within a second): a slow start cannot
        # turn the first ticks into missed ones.
        queue.schedule("fast", EVERY_SECOND, "ping")
        time.sleep(6)  # about five ticks, both schedulers competing for each
    finally:
        results = [stop(p) for p in processes]
    assert [code for code, _ in results] == [0, 0], [err for _, err in results]

    jobs = queue.query_jobs()
    ticks = sorted(tick_of(job.metadata.unique_key) for job in jobs)
    assert len(ticks) >= 5
    assert len(set(ticks)) == len(ticks), "a tick fired twice"
    assert ticks[-1] - ticks[0] == timedelta(seconds=len(ticks) - 1), "a tick was lost"
    [schedule] = queue.get_schedules()
    assert schedule.run_count == len(jobs)
    for _, stderr in results:
        assert "Traceback" not in stderr


def test_the_scheduler_exits_0_on_sigterm_and_sigint(data_dir: Path) -> None:
    JobQueue(data_dir, durable=False).schedule("nightly", "0 3 * * *", "report")
    for signum in (signal.SIGTERM, signal.SIGINT):
        process = start_scheduler(data_dir)
        wait_until_running(process)
        code, stderr = stop(process, signum)
        assert code == 0, stderr
        assert "scheduler stopped" in stderr and "Traceback" not in stderr
