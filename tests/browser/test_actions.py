"""The job actions as a user clicks them: htmx swaps the row or the summary in place
(the document stays), the POST is same-origin, and a refusal says why."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from dashboard.seed import seed
from playwright.sync_api import Page, expect

from jobqueue import JobQueue

from .browsing import Problems, mark, same_document, wait_live


def test_row_actions_swap_the_row_in_place(
    page: Page, queue: JobQueue, dashboard: Callable[..., str]
) -> None:
    ids = seed(queue)
    page.goto(dashboard() + "/jobs")
    wait_live(page)
    token = mark(page)
    failed = page.locator(f"#job-row-{ids['failed']}")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        failed.get_by_test_id("action-retry").click()
    posted = answer.value.request.all_headers()
    assert posted["sec-fetch-site"] == "same-origin" and posted["hx-request"] == "true"
    assert answer.value.status == 200 and "retried: due now" in answer.value.text()
    expect(failed.get_by_test_id("status")).to_have_text("pending")
    expect(failed.get_by_test_id("action-cancel")).to_be_visible()
    pending = page.locator(f"#job-row-{ids['pending']}")
    pending.get_by_test_id("action-cancel").click()
    expect(pending.get_by_test_id("status")).to_have_text("cancelled")
    expect(pending.get_by_test_id("action-retry")).to_be_visible()
    complete = page.locator(f"#job-row-{ids['complete']}")
    complete.get_by_test_id("action-delete").click()
    expect(complete.get_by_test_id("notice")).to_have_text(f"{ids['complete']}: deleted")
    assert same_document(page, token)
    assert queue.get_job(ids["complete"]) is None
    assert queue.get_job(ids["pending"]).status == "cancelled"  # type: ignore[union-attr]
    assert queue.get_job(ids["failed"]).status == "pending"  # type: ignore[union-attr]


def test_a_refused_action_says_why(
    page: Page, queue: JobQueue, dashboard: Callable[..., str], problems: Problems
) -> None:
    ids = seed(queue)
    page.goto(dashboard() + "/jobs")
    wait_live(page)
    assert queue.delete(ids["cancelled"])  # behind the page's back: no event tells it
    problems.allow("status of 409")
    row = page.locator(f"#job-row-{ids['cancelled']}")
    row.get_by_test_id("action-delete").click()
    expect(row.get_by_test_id("notice")).to_contain_text("only an ended job can be deleted")


def test_job_page_actions_update_the_summary_then_delete_leaves(
    page: Page, queue: JobQueue, dashboard: Callable[..., str]
) -> None:
    ids = seed(queue)
    page.goto(f"{dashboard()}/jobs/{ids['failed']}")
    wait_live(page)
    token = mark(page)
    summary = page.get_by_test_id("job-summary")
    summary.get_by_test_id("action-retry").click()
    expect(summary).to_have_attribute("data-status", "pending")
    page.get_by_test_id("cancel-reason").fill("not needed after all")
    summary.get_by_test_id("action-cancel").click()
    expect(summary).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_test_id("timeline-live").last).to_contain_text("cancelled")
    assert same_document(page, token)
    cancelled = queue.get_job(ids["failed"])
    assert cancelled is not None and cancelled.status == "cancelled"
    assert cancelled.reason == "not needed after all"  # type: ignore[union-attr]
    summary.get_by_test_id("action-delete").click()
    page.wait_for_url(lambda url: urlsplit(url).path == "/jobs")
    expect(page.get_by_test_id("job-row")).to_have_count(4)
    assert queue.get_job(ids["failed"]) is None
