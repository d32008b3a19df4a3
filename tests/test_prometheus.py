"""jobqueue.prometheus: the exposition, parsed back with prometheus-client's own parser,
against a queue with a job in every state, on the file, memory and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import WORKER_A, Assembled, FakeClock, SeqIds

from jobqueue import ErrorInfo, JobQueue, StoreError, transitions
from jobqueue.backend import WorkerRecord
from jobqueue.backends.file import FileBackend, FileStore

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families

from jobqueue.prometheus import CONTENT_TYPE, exposition

WINDOWED = (
    "finished_jobs", "succeeded_jobs", "failed_jobs", "retried_attempts", "error_ratio",
    "average_duration_seconds", "p95_duration_seconds", "throughput_jobs_per_second",
)  # fmt: skip
Samples = Mapping[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: bytes) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, labels), and every family's type."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text.decode()):
        types[family.name] = family.type
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = s.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture(params=["file", "memory", "postgres"])
def store_queue(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[JobQueue]:
    if request.param == "file":
        yield JobQueue(tmp_path / "data", durable=False, clock=clock, new_id=SeqIds())
        return
    if request.param == "memory":
        yield JobQueue("memory://", clock=clock, new_id=SeqIds())
        return
    import postgres_cluster

    urls = postgres_cluster.fresh_url()
    queue = JobQueue(next(urls), clock=clock, new_id=SeqIds())
    yield queue
    queue.close()
    next(urls, None)  # drops the schema


def attempt(queue: JobQueue, clock: FakeClock, job_type: str, seconds: float, *, ok: bool,
            retry: bool = False) -> None:  # fmt: skip
    """Claim the due job of ``job_type`` and end its attempt ``seconds`` later."""
    running = queue.backend.jobs.claim(WORKER_A, clock.now(), {job_type})
    assert running is not None
    clock.advance(seconds)
    if ok:
        new = transitions.complete(running, {"ok": True}, clock.now())
    else:
        error = ErrorInfo(type="ValueError", message="bad")
        new = transitions.fail(running, error, clock.now(), timedelta(0) if retry else None)
    queue.backend.jobs.move(running, new)


def every_state(queue: JobQueue, clock: FakeClock) -> None:
    """resize: 1 s and 3 s, complete; email: a 2 s attempt retried, then 4 s, failed for
    good; flaky: a 5 s attempt retried, due again; one cancelled, one running, one due
    and one delayed report; then 30 s pass. Two workers: one silent for those 30 s."""
    for seconds in (1, 3):
        queue.enqueue("resize")
        attempt(queue, clock, "resize", seconds, ok=True)
    queue.enqueue("email", max_retries=1)
    attempt(queue, clock, "email", 2, ok=False, retry=True)
    attempt(queue, clock, "email", 4, ok=False)
    assert queue.cancel(queue.enqueue("report").metadata.id)
    queue.enqueue("crunch")
    assert queue.backend.jobs.claim(WORKER_A, clock.now(), {"crunch"}) is not None
    queue.enqueue("flaky")
    attempt(queue, clock, "flaky", 5, ok=False, retry=True)
    queue.enqueue("report")
    queue.enqueue("report", delay=3600)
    queue.backend.workers.put(worker("silent", clock.now()))
    clock.advance(30)
    queue.backend.workers.put(worker("live", clock.now()))


def worker(name: str, heartbeat_at: datetime) -> WorkerRecord:
    return WorkerRecord(name=name, host="elsewhere.invalid", pid=7, pid_started=None,
                        started_at=heartbeat_at, heartbeat_at=heartbeat_at, concurrency=1,
                        stale_after=10.0)  # fmt: skip


def test_the_exposition_reads_back_as_the_queue_is(store_queue: JobQueue, clock: FakeClock) -> None:
    every_state(store_queue, clock)
    samples, types = parse(exposition(store_queue))
    assert set(types.values()) == {"gauge"}
    assert value(samples, "jobqueue_store_up") == 1
    jobs = {s: value(samples, "jobqueue_jobs", status=s)
            for s in ("pending", "running", "complete", "failed", "cancelled")}  # fmt: skip
    assert jobs == {"pending": 3, "running": 1, "complete": 2, "failed": 1, "cancelled": 1}
    assert value(samples, "jobqueue_jobs_delayed") == 1
    assert value(samples, "jobqueue_quarantined_files") == 0
    assert value(samples, "jobqueue_queue_depth") == 2
    assert value(samples, "jobqueue_oldest_due_wait_seconds") == 30.0
    assert value(samples, "jobqueue_workers", state="active") == 1
    assert value(samples, "jobqueue_workers", state="stale") == 1
    health = {s: value(samples, "jobqueue_health", status=s)
              for s in ("healthy", "degraded", "unhealthy")}  # fmt: skip
    assert health == {"healthy": 0, "degraded": 1, "unhealthy": 0}  # the silent worker


def test_the_window_families_overall_and_per_type(store_queue: JobQueue, clock: FakeClock) -> None:
    every_state(store_queue, clock)
    samples, _ = parse(exposition(store_queue, window=timedelta(minutes=30)))
    assert value(samples, "jobqueue_metrics_window_seconds") == 1800
    overall = {name: value(samples, f"jobqueue_window_{name}") for name in WINDOWED}
    assert overall == pytest.approx({
        "finished_jobs": 3, "succeeded_jobs": 2, "failed_jobs": 1, "retried_attempts": 2,
        "error_ratio": 1 / 3, "average_duration_seconds": (1 + 3 + 4) / 3,
        "p95_duration_seconds": 4, "throughput_jobs_per_second": 3 / 1800,
    })  # fmt: skip
    assert value(samples, "jobqueue_type_finished_jobs", type="resize") == 2
    assert value(samples, "jobqueue_type_p95_duration_seconds", type="resize") == 3
    assert value(samples, "jobqueue_type_error_ratio", type="email") == 1
    assert value(samples, "jobqueue_type_retried_attempts", type="email") == 1
    # A type with a retry but nothing finished has no duration: absent, not 0.
    assert value(samples, "jobqueue_type_finished_jobs", type="flaky") == 0
    assert value(samples, "jobqueue_type_retried_attempts", type="flaky") == 1
    assert ("jobqueue_type_p95_duration_seconds", frozenset({("type", "flaky")})) not in samples


def test_nothing_finished_leaves_the_durations_out(tmp_path: Path, clock: FakeClock) -> None:
    queue = JobQueue(tmp_path / "data", durable=False, clock=clock)
    samples, types = parse(exposition(queue))
    assert "jobqueue_window_p95_duration_seconds" in types
    assert not [k for k in samples if k[0].endswith("duration_seconds")]
    assert value(samples, "jobqueue_health", status="healthy") == 1
    assert value(samples, "jobqueue_window_error_ratio") == 0


def test_quarantined_files_are_counted(queue: JobQueue, data_dir: Path) -> None:
    (data_dir / "jobs" / "pending" / "broken.json").write_text("{not json")
    queue.query_jobs()  # reading it quarantines it
    samples, _ = parse(exposition(queue))
    assert value(samples, "jobqueue_quarantined_files") == 1
    assert value(samples, "jobqueue_jobs", status="pending") == 0


class BrokenStore(FileStore):
    def counts(self, now: datetime) -> Mapping[str, int]:
        raise StoreError("cannot read jobs/: the disk is gone")


def test_an_unreadable_store_exposes_only_store_up(data_dir: Path, clock: FakeClock) -> None:
    backend = Assembled.of(FileBackend(data_dir), jobs=BrokenStore(data_dir))
    samples, _ = parse(exposition(JobQueue(backend, clock=clock)))
    assert samples == {("jobqueue_store_up", frozenset()): 0}


def test_each_call_is_fresh_and_the_global_registry_is_untouched(queue: JobQueue) -> None:
    from prometheus_client import REGISTRY

    before = {m.name for m in REGISTRY.collect()}
    first = exposition(queue)
    queue.enqueue("resize")
    second, _ = parse(exposition(queue))  # a second registration would raise
    assert value(second, "jobqueue_jobs", status="pending") == 1
    assert b"process_" not in first and b"python_gc" not in first
    assert {m.name for m in REGISTRY.collect()} == before
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")
