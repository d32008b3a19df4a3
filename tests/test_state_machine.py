"""Random sequences of queue operations, checked against a model after every step.

The machine drives a JobQueue on a fresh directory (FakeClock, SeqIds) the way the API
and a worker would: enqueue, claim, heartbeat, complete, fail, cancel, retry, cleanup and
time passing. After each step the files on disk must agree with the model and with
``queue.stats()``: one directory per job, no job lost, the right status for each.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest
from conftest import WORKER_A, FakeClock, SeqIds
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from jobqueue import JobQueue, transitions
from jobqueue.errors import InvalidJob, JobNotFound, StaleJob
from jobqueue.job import STATUSES, ErrorInfo, Progress, RunningJob, Status

BOOM = ErrorInfo(type="Boom", message="it broke")
DELAYS = st.sampled_from([0, 0, 5, 60])  # mostly due at once, so claims find work
KEYS = st.sampled_from([None, None, "a", "b"])


@dataclass
class Expected:
    """What the model says about one job."""

    status: Status
    priority: int
    run_at: datetime
    unique_key: str | None
    max_retries: int
    retry_count: int = 0
    ended_at: datetime | None = None
    cancel_asked: bool = False

    def end(self, status: Status, now: datetime) -> None:
        self.status, self.ended_at, self.cancel_asked = status, now, False


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="jobqueue-machine-"))
        self.clock = FakeClock()
        self.data_dir = self.tmp / "data"
        self.queue = JobQueue(self.data_dir, durable=False, clock=self.clock, new_id=SeqIds())
        self.jobs: dict[str, Expected] = {}
        self.removed: set[str] = set()
        self.progress = 0.0

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------

    def ids(self, *statuses: Status) -> list[str]:
        return sorted(i for i, e in self.jobs.items() if e.status in statuses)

    def known_ids(self) -> list[str]:
        return sorted(self.jobs.keys() | self.removed)

    def running(self, data: st.DataObject, *, cancel_asked: bool = False) -> RunningJob:
        choices = [i for i in self.ids("running") if self.jobs[i].cancel_asked or not cancel_asked]
        job = self.queue.get_job(data.draw(st.sampled_from(choices)))
        assert isinstance(job, RunningJob)
        return job

    def next_due(self) -> str | None:
        now = self.clock.now()
        due = [(e.priority, e.run_at, i) for i, e in self.jobs.items() if e.status == "pending"]
        ready = [d for d in due if d[1] <= now]
        return min(ready)[2] if ready else None

    # --- rules -----------------------------------------------------------------------------

    @initialize(priorities=st.lists(st.integers(-1, 2), min_size=1, max_size=4))
    def some_due_jobs(self, priorities: list[int]) -> None:
        """Start with work to do, so that claims, failures and cancels happen early."""
        for priority in priorities:
            self.enqueue(priority, delay=0, key=None, max_retries=1)

    @rule(priority=st.integers(-1, 2), delay=DELAYS, key=KEYS, max_retries=st.integers(0, 2))
    def enqueue(self, priority: int, delay: int, key: str | None, max_retries: int) -> None:
        job = self.queue.enqueue(
            "work", {}, delay=delay, priority=priority, max_retries=max_retries, unique_key=key
        )
        job_id = job.metadata.id
        holders = self.ids("pending", "running") if key else []
        holders = [i for i in holders if self.jobs[i].unique_key == key]
        if holders:
            assert job_id in holders, f"key {key!r} is held by {holders}, got {job_id}"
            return
        assert job_id not in self.jobs and job_id not in self.removed
        now = self.clock.now()
        run_at = now + timedelta(seconds=delay)
        self.jobs[job_id] = Expected("pending", priority, run_at, key, max_retries)

    @rule()
    def claim(self) -> None:
        expected = self.next_due()
        job = self.queue.backend.jobs.claim(WORKER_A, self.clock.now())
        assert (job and job.metadata.id) == expected
        if expected is not None:
            self.jobs[expected].status = "running"

    @precondition(lambda self: self.ids("running"))
    @rule(data=st.data())
    def heartbeat(self, data: st.DataObject) -> None:
        job = self.running(data)
        self.progress += 1
        beat = transitions.heartbeat(job, self.clock.now(), Progress(percentage=self.progress))
        self.queue.backend.jobs.move(job, beat)
        with pytest.raises(StaleJob):  # the copy from before the heartbeat is outdated
            self.queue.backend.jobs.move(job, transitions.complete(job, None, self.clock.now()))

    @precondition(lambda self: self.ids("running"))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        job = self.running(data)
        self.queue.backend.jobs.move(job, transitions.complete(job, {"ok": 1}, self.clock.now()))
        self.jobs[job.metadata.id].end("complete", self.clock.now())

    @precondition(lambda self: self.ids("running"))
    @rule(data=st.data(), delay=DELAYS)
    def fail(self, data: st.DataObject, delay: int) -> None:
        job = self.running(data)
        expected, now = self.jobs[job.metadata.id], self.clock.now()
        retry = expected.retry_count < expected.max_retries
        backoff = timedelta(seconds=delay) if retry else None
        self.queue.backend.jobs.move(job, transitions.fail(job, BOOM, now, backoff))
        if backoff is None:
            expected.end("failed", now)
        else:
            expected.status, expected.cancel_asked = "pending", False
            expected.retry_count += 1
            expected.run_at = now + backoff

    @precondition(lambda self: self.known_ids())
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(self.known_ids()))
        done = self.queue.cancel(job_id, reason="test")
        expected = self.jobs.get(job_id)
        if expected is None or expected.status in ("complete", "failed", "cancelled"):
            assert not done
        elif expected.status == "pending":
            assert done
            expected.end("cancelled", self.clock.now())
        else:
            assert done
            expected.cancel_asked = True

    @precondition(lambda self: any(e.cancel_asked for e in self.jobs.values()))
    @rule(data=st.data())
    def stop_a_cancelled_job(self, data: st.DataObject) -> None:
        job = self.running(data, cancel_asked=True)
        request = self.queue.backend.cancels.get(job.metadata.id)
        assert request is not None and request.reason == "test"
        cancelled = transitions.cancel_running(job, request.reason, self.clock.now())
        self.queue.backend.jobs.move(job, cancelled)
        self.jobs[job.metadata.id].end("cancelled", self.clock.now())

    @precondition(lambda self: self.known_ids())
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(self.known_ids()))
        expected = self.jobs.get(job_id)
        if expected is None:
            with pytest.raises(JobNotFound):
                self.queue.retry(job_id)
        elif expected.status in ("failed", "cancelled"):
            self.queue.retry(job_id)
            expected.status, expected.ended_at = "pending", None
            expected.retry_count, expected.run_at = 0, self.clock.now()
        else:
            with pytest.raises(InvalidJob):
                self.queue.retry(job_id)

    @rule(older_than=st.sampled_from([0, 10, 100]))
    def cleanup(self, older_than: int) -> None:
        cutoff = self.clock.now() - timedelta(seconds=older_than)
        gone = [i for i, e in self.jobs.items() if e.ended_at is not None and e.ended_at <= cutoff]
        assert self.queue.cleanup(older_than=older_than) == len(gone)
        for job_id in gone:
            del self.jobs[job_id]
            self.removed.add(job_id)

    @rule(seconds=st.sampled_from([1, 5, 30, 60]))
    def advance_clock(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # --- invariants ------------------------------------------------------------------------

    def on_disk(self) -> dict[str, list[Status]]:
        """id -> every status directory holding a file for it (listed, not asked)."""
        found: dict[str, list[Status]] = {}
        for status in STATUSES:
            for path in (self.data_dir / "jobs" / status).iterdir():
                found.setdefault(path.name.removesuffix(".json"), []).append(status)
        return found

    @invariant()
    def each_job_is_in_exactly_one_directory(self) -> None:
        doubles = {i: dirs for i, dirs in self.on_disk().items() if len(dirs) != 1}
        assert doubles == {}
        assert list((self.data_dir / "jobs" / ".staging").iterdir()) == []

    @invariant()
    def no_job_is_lost_and_each_has_its_expected_status(self) -> None:
        on_disk = {i: dirs[0] for i, dirs in self.on_disk().items()}
        assert on_disk == {i: e.status for i, e in self.jobs.items()}

    @invariant()
    def stats_match_the_files(self) -> None:
        jobs_dir = self.data_dir / "jobs"
        counts = {s: len(list((jobs_dir / s).iterdir())) for s in STATUSES}
        now = self.clock.now()
        delayed = sum(
            datetime.fromisoformat(orjson.loads(p.read_bytes())["metadata"]["run_at"]) > now
            for p in (jobs_dir / "pending").iterdir()
        )
        expected = {**counts, "delayed": delayed, "quarantined": 0, "total": sum(counts.values())}
        assert self.queue.stats() == expected

    @invariant()
    def cancel_requests_are_seen_while_running(self) -> None:
        for job_id in self.ids("running"):
            asked = self.queue.backend.cancels.get(job_id) is not None
            assert asked == self.jobs[job_id].cancel_asked, job_id


def test_queue_operations_keep_disk_stats_and_model_in_agreement() -> None:
    # No "explain" phase: on Python 3.11 it traces every line and turns a failure's report
    # into a pytest timeout; the shrunk steps are explanation enough.
    quick = [Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink]
    run_state_machine_as_test(
        QueueMachine,
        settings=settings(max_examples=50, stateful_step_count=30, deadline=None, phases=quick),
    )
