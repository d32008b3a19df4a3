"""jobqueue.history.failure_groups: failed jobs grouped by type, error and normalised message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import START, WORKER_A, FakeClock

from jobqueue import ErrorInfo, FailedJob, JobQueue, transitions
from jobqueue.history import MAX_PATTERN, failure_groups, normalise


@pytest.mark.parametrize(
    ("message", "pattern"),
    [
        ("no row 42", "no row <n>"),
        ("timeout after 30.5s", "timeout after <n>s"),
        ("job 20300101T000000123456Z-9f1c2a7b is gone", "job <id> is gone"),
        ("user 123e4567-E89B-12d3-a456-426614174000 locked", "user <uuid> locked"),
        ("object at 0x7f3a2b1c", "object at <hex>"),
        ("digest 3f786850e387550fdab836ed7e6dc881de23001b differs", "digest <hex> differs"),
        ("late at 2030-01-01T00:00:00.5+00:00", "late at <time>"),
        ("port:5432 refused", "port:<n> refused"),
        ("utf8 and v2 and deadbeefcafe stay", "utf8 and v2 and deadbeefcafe stay"),
        ("  first line  \nTraceback (most recent call last):", "first line"),
        ("a   lot\tof   space", "a lot of space"),
        ("", ""),
    ],
)
def test_normalise_strips_what_varies(message: str, pattern: str) -> None:
    assert normalise(message) == pattern


def test_a_long_message_is_cut() -> None:
    assert normalise("x" * 500) == "x" * MAX_PATTERN


def fail(queue: JobQueue, clock: FakeClock, job_type: str, error: str, message: str) -> str:
    """Enqueue and fail one job for good a second later; returns its id."""
    job = queue.enqueue(job_type, max_retries=0)
    running = queue.backend.jobs.claim(WORKER_A, clock.now(), {job_type})
    assert running is not None and running.metadata.id == job.metadata.id
    clock.advance(1)
    info = ErrorInfo(type=error, message=message)
    queue.backend.jobs.move(running, transitions.fail(running, info, clock.now(), None))
    return job.metadata.id


def test_failures_group_by_type_error_and_pattern(queue: JobQueue, clock: FakeClock) -> None:
    fail(queue, clock, "resize", "KeyError", "no row 1")  # before the window
    clock.advance(3600)
    first = fail(queue, clock, "resize", "KeyError", "no row 2")
    fail(queue, clock, "resize", "ValueError", "no row 3")
    fail(queue, clock, "email", "KeyError", "no row 4")
    last = fail(queue, clock, "resize", "KeyError", "no row 5\ntraceback ...")
    report = failure_groups(queue, timedelta(minutes=30))
    assert (report.scanned, report.capped, report.since) == (
        5,
        False,
        clock.now() - timedelta(minutes=30),
    )
    top, *rest = report.groups
    assert (top.job_type, top.error_type, top.pattern, top.count) == (
        "resize",
        "KeyError",
        "no row <n>",
        2,
    )
    assert (top.first_seen, top.last_seen) == (START + timedelta(seconds=3602), clock.now())
    assert (top.sample_id, top.sample_message) == (last, "no row 5\ntraceback ...")
    earliest = queue.get_job(first)
    assert isinstance(earliest, FailedJob) and earliest.failed_at == top.first_seen
    # Then by the most recent: email's failed after resize's ValueError.
    later = [(g.job_type, g.error_type, g.count) for g in rest]
    assert later == [("email", "KeyError", 1), ("resize", "ValueError", 1)]


def test_a_capped_read_says_so(queue: JobQueue, clock: FakeClock) -> None:
    for n in range(5):
        fail(queue, clock, "resize", "KeyError", f"no row {n}")
    report = failure_groups(queue, timedelta(hours=1), limit=3)
    assert (report.scanned, report.capped) == (3, True)
    assert report.groups[0].count == 3  # the newest three: "at least 3"
    assert failure_groups(queue, timedelta(hours=1), limit=5).capped is False


def test_retried_jobs_leave_their_group(queue: JobQueue, clock: FakeClock) -> None:
    job_id = fail(queue, clock, "resize", "KeyError", "no row 1")
    assert len(failure_groups(queue).groups) == 1
    queue.retry(job_id)
    assert failure_groups(queue).groups == ()
