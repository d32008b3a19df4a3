"""The dashboard read and used with JavaScript off: lists, pages and action forms are
plain HTML (htmx only adds in-place swaps), so they work without it."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from dashboard.seed import seed
from playwright.sync_api import Page, expect

from jobqueue import JobQueue

from .browsing import Problems


def test_list_open_and_act_without_javascript(
    new_page: Callable[..., Page],
    queue: JobQueue,
    dashboard: Callable[..., str],
    problems: Problems,
) -> None:
    ids = seed(queue)
    page = new_page(java_script_enabled=False)
    page.goto(dashboard() + "/jobs")
    expect(page.get_by_test_id("job-row")).to_have_count(5)
    expect(page.get_by_test_id("live-indicator")).to_be_hidden()  # nothing pretends to be live
    expect(page.get_by_test_id("theme-toggle")).to_be_hidden()
    pending = page.locator(f"#job-row-{ids['pending']}")
    pending.get_by_test_id("action-cancel").click()  # a plain form: 303 back to the list
    assert urlsplit(page.url).path == "/jobs"
    expect(pending.get_by_test_id("status")).to_have_text("cancelled")
    page.get_by_test_id("tab-failed").click()
    page.get_by_test_id("job-link").click()
    assert urlsplit(page.url).path == f"/jobs/{ids['failed']}"
    expect(page.get_by_test_id("attempt")).to_have_count(2)
    page.get_by_test_id("job-summary").get_by_test_id("action-retry").click()
    assert urlsplit(page.url).path == f"/jobs/{ids['failed']}"  # back to the job's page
    expect(page.get_by_test_id("job-summary")).to_have_attribute("data-status", "pending")
    page.get_by_test_id("cancel-reason").fill("typed without JavaScript")
    page.get_by_test_id("job-summary").get_by_test_id("action-cancel").click()
    expect(page.get_by_test_id("job-facts")).to_contain_text("typed without JavaScript")
    page.get_by_test_id("job-summary").get_by_test_id("action-delete").click()
    assert urlsplit(page.url).path == "/jobs"  # the deleted job's page is gone: the list
    expect(page.get_by_test_id("job-row")).to_have_count(4)
    assert problems.seen == []
