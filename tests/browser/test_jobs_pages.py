"""Clicking through the jobs list (tabs, search, paging, per page) and a job's page."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from dashboard.seed import seed
from playwright.sync_api import Page, expect

from jobqueue import JobQueue

from .browsing import Problems


def query(page: Page) -> dict[str, list[str]]:
    """The current URL's query parameters (every filter lives in the URL)."""
    return parse_qs(urlsplit(page.url).query)


def test_tabs_filter_by_status(page: Page, queue: JobQueue, dashboard: Callable[..., str]) -> None:
    ids = seed(queue)
    page.goto(dashboard() + "/jobs")
    rows = page.get_by_test_id("job-row")
    expect(rows).to_have_count(5)
    expect(page.get_by_test_id("nav-jobs")).to_have_attribute("aria-current", "page")
    page.get_by_test_id("tab-failed").click()
    assert query(page)["status"] == ["failed"]
    expect(page.get_by_test_id("tab-failed")).to_have_attribute("aria-current", "page")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-job-id", ids["failed"])
    expect(rows.first.get_by_test_id("status")).to_have_text("failed")
    page.get_by_test_id("tab-running").click()
    expect(rows.first).to_have_attribute("data-job-id", ids["running"])
    expect(rows.first.get_by_test_id("progress")).to_contain_text("40% encoding")
    page.get_by_test_id("tab-all").click()
    expect(rows).to_have_count(5)


def test_search_from_the_box(
    page: Page, queue: JobQueue, dashboard: Callable[..., str], problems: Problems
) -> None:
    ids = seed(queue)
    page.goto(dashboard() + "/jobs?status=pending")
    page.get_by_test_id("search").fill("type:resize params.path:a.png")
    page.get_by_test_id("search").press("Enter")
    assert query(page) == {"status": ["pending"], "q": ["type:resize params.path:a.png"]}
    expect(page.get_by_test_id("job-row")).to_have_count(1)
    expect(page.get_by_test_id("job-row")).to_have_attribute("data-job-id", ids["pending"])
    expect(page.get_by_test_id("match-count")).to_contain_text("1 job match")
    page.get_by_test_id("search").fill("error:pixel")
    page.get_by_test_id("search").press("Enter")  # the status tab stays
    expect(page.get_by_test_id("no-jobs")).to_be_visible()
    page.get_by_test_id("tab-all").click()  # the search stays
    expect(page.get_by_test_id("job-row")).to_have_attribute("data-job-id", ids["failed"])
    problems.allow("status of 400")  # the browser logs the 400 of a bad search
    page.get_by_test_id("search").fill("created:>soon")
    page.get_by_test_id("search").press("Enter")
    expect(page.get_by_test_id("search-error")).to_contain_text("invalid duration 'soon'")


def test_paging_newer_and_older(page: Page, queue: JobQueue, dashboard: Callable[..., str]) -> None:
    made = [queue.enqueue("batch", {"n": n}).metadata.id for n in range(30)]
    page.goto(dashboard() + "/jobs")
    rows = page.get_by_test_id("job-row")
    expect(rows).to_have_count(25)
    expect(rows.first).to_have_attribute("data-job-id", made[-1])  # newest first
    expect(page.get_by_test_id("page-newer")).to_have_count(0)
    page.get_by_test_id("page-older").click()
    expect(rows).to_have_count(5)
    expect(rows.last).to_have_attribute("data-job-id", made[0])
    expect(page.get_by_test_id("page-older")).to_have_count(0)
    page.get_by_test_id("page-newer").click()
    expect(rows).to_have_count(25)
    expect(rows.first).to_have_attribute("data-job-id", made[-1])
    page.get_by_role("link", name="50", exact=True).click()
    assert query(page)["limit"] == ["50"]
    expect(rows).to_have_count(30)


def test_a_job_page_from_the_list(
    page: Page, queue: JobQueue, dashboard: Callable[..., str]
) -> None:
    ids = seed(queue)
    page.goto(dashboard() + "/jobs?status=failed")
    page.get_by_test_id("job-link").click()
    assert urlsplit(page.url).path == f"/jobs/{ids['failed']}"
    expect(page.get_by_test_id("job-id")).to_have_text(ids["failed"])
    expect(page).to_have_title(f"Job {ids['failed']} · jobqueue")
    summary = page.get_by_test_id("job-summary")
    expect(summary).to_have_attribute("data-status", "failed")
    expect(summary.get_by_test_id("action-retry")).to_be_visible()
    expect(summary.get_by_test_id("action-delete")).to_be_visible()
    expect(summary.get_by_test_id("action-cancel")).to_have_count(0)
    expect(page.get_by_test_id("error")).to_have_text("ValueError: bad <b>pixel</b>")  # escaped
    expect(page.get_by_test_id("attempt")).to_have_count(2)
    expect(page.get_by_text("same error as attempt 1")).to_be_visible()
    expect(page.get_by_test_id("params")).to_contain_text('"path": "c.png"')
    expect(page.get_by_test_id("raw")).to_be_hidden()
    page.get_by_text("As jobqueue show").click()  # the raw document unfolds
    expect(page.get_by_test_id("raw")).to_contain_text(f'"id": "{ids["failed"]}"')
    page.get_by_role("link", name="crop", exact=True).click()  # crumbs: the type's jobs
    assert query(page) == {"q": ["type:crop"]}
    expect(page.get_by_test_id("job-row")).to_have_count(1)


def test_a_complete_and_a_missing_job(
    page: Page, queue: JobQueue, dashboard: Callable[..., str], problems: Problems
) -> None:
    ids = seed(queue)
    base = dashboard()
    page.goto(f"{base}/jobs/{ids['complete']}")
    expect(page.get_by_test_id("result")).to_contain_text('"width": 640')
    expect(page.get_by_test_id("job-summary").get_by_test_id("action-delete")).to_be_visible()
    problems.allow("status of 404")
    page.goto(f"{base}/jobs/20000101T000000000000Z-00000000")
    expect(page.get_by_test_id("job-missing")).to_be_visible()
    page.get_by_role("link", name="All jobs").click()
    expect(page.get_by_test_id("job-row")).to_have_count(5)
