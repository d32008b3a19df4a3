"""jobqueue.bulk: selecting jobs by ids or by filter, the dry run, the run and its
report, and the three changes, shared by the CLI and the dashboard."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest

from jobqueue import JobQueue, bulk, transitions
from jobqueue.bulk import ACTIONS, Refused, Selection, apply_all, preview, selected_ids
from jobqueue.codec import to_document
from jobqueue.errors import JobNotFound
from jobqueue.job import ErrorInfo, Job, WorkerInfo
from jobqueue.search import Count, Limits, parse

WORKER = WorkerInfo(name="w", host="h", pid=1)


@pytest.fixture
def queue() -> JobQueue:
    return JobQueue("memory://")


def failed(queue: JobQueue, job_type: str, message: str = "boom") -> str:
    job_id = queue.enqueue(job_type, {}, max_retries=0).metadata.id
    running = queue.backend.jobs.claim(WORKER, queue.clock.now(), [job_type])
    assert running is not None
    error = ErrorInfo(type="ValueError", message=message, traceback="")
    queue.backend.jobs.move(running, transitions.fail(running, error, queue.clock.now(), None))
    return job_id


def test_a_filter_walks_oldest_or_newest_first(
    queue: JobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "PAGE", 2)  # several pages
    ids = [failed(queue, "crop") for _ in range(5)]
    failed(queue, "mail")
    oldest = Selection(statuses=("failed",), job_type="crop")
    assert list(selected_ids(queue, oldest)) == ids
    newest = Selection(statuses=("failed",), job_type="crop", newest_first=True)
    assert list(selected_ids(queue, newest)) == ids[::-1]


def test_until_keeps_jobs_newer_than_the_dry_run_out(queue: JobQueue) -> None:
    ids = [failed(queue, "crop") for _ in range(4)]
    for newest_first in (False, True):
        chosen = Selection(statuses=("failed",), until=ids[1], newest_first=newest_first)
        assert sorted(selected_ids(queue, chosen)) == ids[:2]


def test_search_terms_narrow_the_filter_through_the_view(queue: JobQueue) -> None:
    hit = failed(queue, "crop", "disk full")
    failed(queue, "crop", "timeout")
    hidden = failed(queue, "crop", "disk full, secret")
    seen: list[str] = []

    def view(job: Job) -> Mapping[str, Any]:
        seen.append(job.metadata.id)
        doc = to_document(job)
        return {} if job.metadata.id == hidden else doc  # redacted: cannot be matched

    chosen = Selection(statuses=("failed",), search=parse("error:disk"))
    assert list(selected_ids(queue, chosen, view=view)) == [hit]
    assert len(seen) == 3
    seen.clear()
    assert len(list(selected_ids(queue, Selection(statuses=("failed",)), view=view))) == 3
    assert seen == []  # nothing to test: no document is built


def test_preview_counts_samples_and_the_newest(queue: JobQueue) -> None:
    ids = [failed(queue, "crop") for _ in range(7)]
    found = preview(queue, Selection(statuses=("failed",)), ("failed",))
    assert (found.count, found.capped, found.samples) == (7, False, tuple(ids[:5]))
    assert found.newest is None  # oldest first: no run bound asked for
    newest = preview(queue, Selection(statuses=("failed",), newest_first=True), ("failed",))
    assert newest.samples == tuple(ids[::-1][:5]) and newest.newest == ids[-1]
    by_type = preview(queue, Selection(statuses=("failed",), job_type="crop"), ("failed",))
    assert (by_type.count, by_type.capped) == (7, False)  # no limits: exact, as the CLI says
    bounded = preview(queue, Selection(statuses=("failed",), newest_first=True), ("failed",),
                      limits=Limits(), stats={"failed": 41})  # fmt: skip
    assert bounded.count == 41  # a caller's recent counts are trusted for statuses alone
    assert bounded.samples == newest.samples and bounded.newest == ids[-1]
    searched = preview(queue, Selection(statuses=("failed",), search=parse("error:boom")),
                       ("failed",), limits=Limits(jobs=4))  # fmt: skip
    assert (searched.count, searched.capped, searched.samples) == (4, True, tuple(ids[:4]))
    assert preview(queue, Selection(), ("failed",)).count == 0


def test_preview_of_ids_names_the_refused(queue: JobQueue) -> None:
    done = failed(queue, "crop")
    pending = queue.enqueue("crop", {}).metadata.id
    found = preview(queue, Selection(ids=(done, pending, "20300101T000000000000Z-00000000")),
                    ("failed",))  # fmt: skip
    assert (found.count, found.samples) == (1, (done,))
    assert found.refused == (f"{pending} (pending)", "20300101T000000000000Z-00000000 (not found)")


def test_a_count_stops_at_its_limit_and_says_so(queue: JobQueue) -> None:
    for _ in range(5):
        failed(queue, "crop", "disk full")
    wanted = parse("error:disk").narrowed("failed")
    assert bulk.count(queue, wanted, limits=Limits(jobs=3)) == Count(3, True)
    assert bulk.count(queue, wanted) == Count(5, False)


def test_a_run_reports_each_job_and_stops_at_its_limit(queue: JobQueue) -> None:
    ids = [failed(queue, "crop") for _ in range(4)]
    retry = ACTIONS["retry"].change(queue, None)
    chosen = Selection(statuses=("failed",), newest_first=True)
    report = apply_all(queue, chosen, retry, limit=3)
    assert report.done == {"retried {}": 3} and report.done_ids == ids[:0:-1]
    assert report.stopped and report.all_done and report.seen == 3
    rest = apply_all(queue, chosen, retry, limit=3)
    assert rest.done_ids == [ids[0]] and not rest.stopped


def test_a_job_changed_during_the_run_is_skipped(queue: JobQueue) -> None:
    ids = [failed(queue, "crop") for _ in range(3)]
    retry = bulk.ACTIONS["retry"].change(queue, None)

    def change(job_id: str) -> str:
        if job_id == ids[0]:
            queue.retry(ids[2])  # another client wins the race for a job read already
        return retry(job_id)

    report = apply_all(queue, Selection(statuses=("failed",)), change)
    assert report.done_ids == ids[:2]
    assert report.skipped == [f"{ids[2]}: is pending"]


@pytest.mark.parametrize(
    ("action", "status", "refusal"),
    [
        ("retry", "pending", "is pending"),
        ("retry", "complete", "is complete"),
        ("cancel", "complete", "already ended (complete)"),
        ("cancel", "failed", "already ended (failed)"),
        ("delete", "pending", "is pending"),
        ("delete", "running", "is running"),
    ],
)
def test_each_change_refuses_a_job_it_does_not_apply_to(
    queue: JobQueue, action: str, status: str, refusal: str
) -> None:
    job_id = queue.enqueue("crop", {}).metadata.id
    if status != "pending":
        running = queue.backend.jobs.claim(WORKER, queue.clock.now(), ["crop"])
        assert running is not None
        now = queue.clock.now()
        end = {
            "running": running,
            "complete": transitions.complete(running, None, now),
            "failed": transitions.fail(running, ErrorInfo(type="E", message="m", traceback=""),
                                       now, None),
        }[status]  # fmt: skip
        if end is not running:
            queue.backend.jobs.move(running, end)
    change = ACTIONS[action].change(queue, None)
    with pytest.raises(Refused, match=re.escape(refusal)):
        change(job_id)
    assert queue.get_job(job_id).status == status  # type: ignore[union-attr]
    with pytest.raises(JobNotFound):
        change("20300101T000000000000Z-00000000")


def test_the_changes_say_what_they_did(queue: JobQueue) -> None:
    pending = queue.enqueue("mail", {}).metadata.id
    assert bulk.cancel_job(queue, pending, "maint") == bulk.CANCELLED
    assert queue.get_job(pending).reason == "maint"  # type: ignore[union-attr]
    assert bulk.retry_job(queue, pending) == "retried {}"
    queue.enqueue("other", {})
    running = queue.backend.jobs.claim(WORKER, queue.clock.now(), ["mail"])
    assert running is not None
    assert bulk.cancel_job(queue, pending) == bulk.STOPPING  # asks its worker
    done = failed(queue, "crop")
    assert bulk.delete_job(queue, done) == "deleted {}" and queue.get_job(done) is None
