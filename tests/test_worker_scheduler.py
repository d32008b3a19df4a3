"""``with_scheduler=True`` / ``jobqueue worker --with-scheduler``: a worker that also fires
the data directory's cron schedules, and runs their jobs."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import START, FakeClock
from monitoring import wait_for
from worker_runs import FAST, burst, running

from jobqueue import CompleteJob, HandlerWorker, JobQueue


def serving(queue: JobQueue, **options: Any) -> HandlerWorker:
    """Runs ``report`` jobs: each returns its params."""
    worker = HandlerWorker(queue, **{**FAST, **options})
    worker.register_handler("report", lambda params, ctx: params)
    return worker


def completed(queue: JobQueue) -> list[CompleteJob]:
    return [job for job in queue.query_jobs(status="complete") if isinstance(job, CompleteJob)]


def scheduler_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "jobqueue-scheduler" and t.is_alive()}


def test_a_worker_with_scheduler_fires_a_due_schedule_and_runs_its_job(
    queue: JobQueue, clock: FakeClock
) -> None:
    queue.schedule("minutely", "* * * * *", "report", {"kind": "minutely"})
    before = scheduler_threads()
    with running(serving(queue, with_scheduler=True)):
        mine = wait_for(lambda: scheduler_threads() - before, 5.0, "the worker's scheduler")
        clock.advance(60)  # the next tick; the scheduler thread looks at least once a second
        done = wait_for(lambda: completed(queue), 5.0, "the schedule's job to run")
    assert [job.params for job in done] == [{"kind": "minutely"}]
    assert done[0].metadata.unique_key == "schedule:minutely:2030-01-01T00:01:00.000000Z"
    assert done[0].metadata.created == START + timedelta(minutes=1)
    assert queue.get_schedules()[0].run_count == 1
    assert not any(thread.is_alive() for thread in mine)  # stopped with the worker


def test_a_seconds_cron_fires_every_second_on_the_real_clock(data_dir: Path) -> None:
    queue = JobQueue(data_dir, durable=False)
    queue.schedule("every-second", "* * * * * *", "report", {"n": 1})
    with running(serving(queue, with_scheduler=True)):
        wait_for(lambda: len(completed(queue)) >= 2, 5.0, "two ticks' jobs to run")
    assert queue.get_schedules()[0].run_count >= 2


def test_a_burst_run_fires_what_was_due_before_it_drains(queue: JobQueue, clock: FakeClock) -> None:
    queue.schedule("minutely", "* * * * *", "report", {"kind": "minutely"})
    clock.advance(61)
    burst(serving(queue, with_scheduler=True))
    assert [job.params for job in completed(queue)] == [{"kind": "minutely"}]


def test_without_with_scheduler_a_worker_fires_nothing(queue: JobQueue, clock: FakeClock) -> None:
    queue.schedule("minutely", "* * * * *", "report")
    clock.advance(61)
    burst(serving(queue))
    assert queue.query_jobs() == []
    assert queue.get_schedules()[0].run_count == 0


WORKER_MODULE = """
from jobqueue import JobWorker


class Reports(JobWorker):
    job_types = {"report"}

    def execute_job(self, job, ctx):
        return {"ran": job.params}
"""


def test_jobqueue_worker_with_scheduler_burst(tmp_path: Path, data_dir: Path) -> None:
    now = datetime.now(UTC)
    hourly = f"{(now.minute + 30) % 60} * * * *"  # missed ticks, none due on time this run
    two_hours_ago = FakeClock(now - timedelta(hours=2))
    JobQueue(data_dir, clock=two_hours_ago).schedule("hourly", hourly, "report", {})
    (tmp_path / "scheduled_app.py").write_text(WORKER_MODULE)
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(data_dir),
               "worker", "scheduled_app:Reports", "--with-scheduler", "--burst"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    queue = JobQueue(data_dir)
    assert [job.result for job in completed(queue)] == [{"ran": {}}]  # missed ticks: one job
