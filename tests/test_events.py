"""queue.events(): job events recorded by any process, in order, live or replayed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from conftest import START, FakeClock
from monitoring import worker_process

from jobqueue import JobQueue
from jobqueue.events import JobEvent


def test_events_of_another_process_arrive_in_order(data_dir: Path) -> None:
    """A worker process runs three jobs: one with progress, one that fails once, one that
    is cancelled while it runs; this process sees each job's events in order."""
    queue = JobQueue(data_dir, durable=False)
    stream = queue.events(idle_timeout=15)  # the tail starts here: nothing below is missed
    seen: list[JobEvent] = []
    with worker_process(data_dir):
        steps = queue.enqueue("steps").metadata.id
        flaky = queue.enqueue("flaky", max_retries=1).metadata.id
        hold = queue.enqueue("hold").metadata.id
        ended: set[str] = set()
        for event in stream:
            seen.append(event)
            if (event.job_id, event.event) == (hold, "started"):
                assert queue.cancel(hold, reason="enough")
            if event.event in ("completed", "failed", "cancelled"):
                ended.add(event.job_id)
            if ended == {steps, flaky, hold}:
                break

    def names(job_id: str) -> list[str]:
        return [e.event for e in seen if e.job_id == job_id]

    assert names(steps) == ["created", "started", "progress", "completed"]
    assert names(flaky) == ["created", "started", "retrying", "started", "completed"]
    assert names(hold) == ["created", "started", "cancelling", "cancelled"]
    progress = next(e for e in seen if e.event == "progress")
    assert progress.job_type == "steps" and progress.job.status == "running"
    retrying = next(e for e in seen if e.event == "retrying")
    assert retrying.job.metadata.retry_count == 1 and retrying.job.attempts[0].error is not None


def test_since_replays_history_and_no_since_replays_nothing(
    queue: JobQueue, clock: FakeClock
) -> None:
    first = queue.enqueue("a").metadata.id
    clock.advance(60)
    second = queue.enqueue("b").metadata.id

    def replay(since_s: float) -> list[tuple[str, str]]:
        since = START + timedelta(seconds=since_s)
        return [(e.event, e.job_id) for e in queue.events(since, idle_timeout=0.1)]

    assert replay(0) == [("created", first), ("created", second)]
    assert replay(30) == [("created", second)]  # since is inclusive of its instant only
    assert replay(61) == []

    live = queue.events(idle_timeout=0.3)
    third = queue.enqueue("c").metadata.id
    assert [(e.event, e.job_id) for e in live] == [("created", third)]


def test_events_end_after_the_idle_timeout(queue: JobQueue) -> None:
    assert list(queue.events(idle_timeout=0.1)) == []
