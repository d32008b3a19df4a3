"""Clicking through the overview, workers, schedules, events and bulk pages, on a queue
that looks real (``showcase``), and the machine endpoints opened in the browser."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Page, expect

from jobqueue import JobQueue

from .browsing import Problems, cli, mark, same_document, wait_live
from .showcase import populate


def test_overview_tiles_failures_and_windows(
    page: Page, queue: JobQueue, dashboard: Callable[..., str]
) -> None:
    populate(queue)
    page.goto(dashboard() + "/")
    expect(page.get_by_test_id("nav-overview")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("tile-failed")).to_have_attribute("data-count", "3")
    expect(page.get_by_test_id("tile-delayed")).to_have_attribute("data-count", "1")
    expect(page.get_by_test_id("attention-item").first).to_be_visible()  # the lost job
    expect(page.get_by_test_id("latency")).to_have_attribute("data-loaded", "true")  # htmx
    failures = page.get_by_test_id("failure-row")
    expect(failures).to_have_count(2)  # two errors: the timeouts are one group
    expect(failures.first).to_contain_text("TimeoutError")
    page.get_by_test_id("window-24h").click()
    expect(page.get_by_test_id("charts")).to_have_attribute("data-window", "24h")
    page.get_by_test_id("tile-failed").get_by_role("link").click()
    assert parse_qs(urlsplit(page.url).query) == {"status": ["failed"]}
    expect(page.get_by_test_id("job-row")).to_have_count(3)
    page.go_back()
    page.get_by_test_id("failure-retry").first.click()  # "retry group": the bulk dialog
    assert urlsplit(page.url).path == "/bulk"
    expect(page.get_by_test_id("bulk-dialog")).to_have_attribute("data-count", "2")


def test_bulk_dry_run_confirm_and_report(
    page: Page, queue: JobQueue, dashboard: Callable[..., str]
) -> None:
    populate(queue)
    page.goto(dashboard() + "/bulk?action=retry&status=failed")
    dialog = page.get_by_test_id("bulk-dialog")
    expect(dialog).to_have_attribute("data-count", "3")
    expect(page.get_by_test_id("bulk-samples").get_by_test_id("job-link")).to_have_count(3)
    expect(page.get_by_test_id("bulk-action")).to_have_text("retry")
    assert queue.stats()["failed"] == 3  # a dry run changes nothing
    token = mark(page)
    page.get_by_test_id("bulk-confirm").fill("3")
    page.get_by_test_id("action-retry").click()
    report = page.get_by_test_id("bulk-report")
    expect(report).to_have_attribute("data-done", "3")
    expect(report.get_by_test_id("notice")).to_have_text("retry: 3 done, 0 skipped, 0 errors.")
    expect(page.get_by_test_id("bulk-done").get_by_test_id("job-link")).to_have_count(3)
    assert same_document(page, token)
    assert queue.stats()["failed"] == 0


def test_workers_and_reap(page: Page, queue: JobQueue, dashboard: Callable[..., str]) -> None:
    ids = populate(queue)
    page.goto(dashboard() + "/workers")
    rows = page.get_by_test_id("worker-row")
    expect(rows).to_have_count(2)
    expect(page.locator("#worker-row-worker-a")).to_have_attribute("data-stale", "false")
    expect(page.locator("#worker-row-worker-b")).to_have_attribute("data-stale", "true")
    expect(page.get_by_test_id("lost-job")).to_have_attribute("data-job-id", ids["lost"])
    page.get_by_test_id("action-reap").click()
    expect(page.get_by_test_id("notice")).to_have_text(f"reaped 1 job: {ids['lost']} → pending")
    expect(page.get_by_test_id("lost-job")).to_have_count(0)
    assert queue.get_job(ids["lost"]).status == "pending"  # type: ignore[union-attr]


def test_schedules_pause_resume_remove(
    page: Page, queue: JobQueue, dashboard: Callable[..., str]
) -> None:
    populate(queue)
    page.goto(dashboard() + "/schedules")
    hourly, nightly = (
        page.locator("#schedule-row-hourly-sync"),
        page.locator("#schedule-row-nightly-report"),
    )
    expect(hourly).to_have_attribute("data-state", "paused")
    expect(hourly.get_by_test_id("next-runs").locator("li")).to_have_count(0)
    hourly.get_by_test_id("action-resume").click()
    expect(hourly).to_have_attribute("data-state", "active")
    expect(hourly.get_by_test_id("notice")).to_have_text("resumed")
    expect(hourly.get_by_test_id("next-runs").locator("li")).not_to_have_count(0)
    nightly.get_by_test_id("action-pause").click()
    expect(nightly).to_have_attribute("data-state", "paused")
    nightly.get_by_test_id("action-remove").click()  # the confirmation box is required
    expect(nightly).to_have_attribute("data-state", "paused")
    nightly.get_by_test_id("confirm-remove").check()
    nightly.get_by_test_id("action-remove").click()
    expect(nightly).to_have_attribute("data-state", "removed")
    assert [s.name for s in queue.get_schedules()] == ["hourly-sync"]
    assert not queue.get_schedules()[0].paused


def test_the_event_tail_grows_from_another_process_and_filters(
    page: Page, queue: JobQueue, data_dir: Path, dashboard: Callable[..., str]
) -> None:
    ids = populate(queue)
    base = dashboard()
    page.goto(base + "/events")
    wait_live(page)
    rows = page.get_by_test_id("event-row")
    expect(rows).to_have_count(0)
    cli(data_dir, "enqueue", "newcomer", '{"from": "a shell"}')
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-event", "created")
    expect(rows.first).to_contain_text("newcomer")
    cli(data_dir, "cancel", ids["pending"], "--reason", "not today")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-event", "cancelled")  # newest on top
    page.get_by_test_id("filter-event").select_option("cancelled")
    page.get_by_test_id("filter-since").fill("1h")
    page.get_by_role("button", name="Show").click()
    assert parse_qs(urlsplit(page.url).query) == {"event": ["cancelled"], "since": ["1h"]}
    expect(rows).to_have_count(2)  # history: the showcase's cancel and the shell's
    wait_live(page)
    queue.enqueue("ignored", {})  # filtered out
    queue.cancel(ids["running"])  # a running job: "cancelling", not "cancelled"
    queue.retry(ids["cancelled"])
    queue.cancel(ids["cancelled"])
    expect(rows).to_have_count(3)
    expect(rows.first).to_have_attribute("data-job-id", ids["cancelled"])


def test_machine_endpoints_in_the_browser(
    page: Page, queue: JobQueue, dashboard: Callable[..., str], problems: Problems
) -> None:
    populate(queue)
    base = dashboard()
    problems.allow("/favicon.ico")  # JSON and text pages have no icon link: the browser asks
    answer = page.goto(base + "/health.json")
    assert answer is not None and answer.status == 200
    assert json.loads(page.inner_text("body"))["status"] in ("healthy", "degraded")
    answer = page.goto(base + "/metrics")
    assert answer is not None and answer.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in page.inner_text("body")
