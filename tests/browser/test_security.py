"""The security rules, tried from a real browser: a form on another site cannot change
the queue, read-only shows no action and refuses every POST, and a token URL logs the
browser in."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from dashboard.seed import seed
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from jobqueue import JobQueue

from .browsing import Problems

TOKEN = "correct-horse-battery"


def evil_site(target: str) -> Starlette:
    """A page on another site with a form that posts to ``target`` (a CSRF attempt)."""

    def page(request: Request) -> HTMLResponse:
        return HTMLResponse(
            f'<!doctype html><html lang="en"><head><title>Prizes</title>'
            f'<link rel="icon" href="data:,"></head><body>'
            f'<form method="post" action="{target}"><input type="hidden" name="next" '
            f'value="/jobs"><button>Claim your prize</button></form></body></html>'
        )

    return Starlette(routes=[Route("/", page)])


def test_a_form_on_another_site_cannot_change_the_queue(
    page: Page,
    queue: JobQueue,
    dashboard: Callable[..., str],
    served: Callable[[ASGIApp], str],
    problems: Problems,
) -> None:
    ids = seed(queue)
    target = f"{dashboard()}/jobs/{ids['failed']}/retry"  # on 127.0.0.1
    evil = served(evil_site(target)).replace("127.0.0.1", "localhost")  # another site
    problems.allow("status of 403")
    problems.allow("/favicon.ico")  # a refusal is a bare fragment: no icon link (reported)
    page.goto(evil)
    with page.expect_response(target) as answer:
        page.get_by_role("button", name="Claim your prize").click()
    assert answer.value.request.all_headers()["sec-fetch-site"] == "cross-site"
    assert answer.value.status == 403
    expect(page.get_by_role("alert")).to_contain_text("a cross-site request cannot change")
    forged = page.request.post(
        target, headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    )
    assert forged.status == 403
    assert queue.get_job(ids["failed"]).status == "failed"  # type: ignore[union-attr]


def test_read_only_shows_no_action_and_refuses_posts(
    page: Page, queue: JobQueue, dashboard: Callable[..., str], problems: Problems
) -> None:
    ids = seed(queue)
    base = dashboard(read_only=True)
    page.goto(base + "/jobs")
    expect(page.get_by_test_id("read-only-banner")).to_be_visible()
    expect(page.get_by_test_id("job-row")).to_have_count(5)
    expect(page.locator("form[method=post]")).to_have_count(0)
    page.get_by_test_id("tab-failed").click()
    page.get_by_test_id("job-link").click()
    expect(page.get_by_test_id("job-summary")).to_have_attribute("data-status", "failed")
    expect(page.get_by_test_id("job-actions")).to_have_count(0)
    expect(page.locator("form[method=post]")).to_have_count(0)
    problems.allow("status of 403")
    status = page.evaluate(
        "url => fetch(url, {method: 'POST', body: new URLSearchParams({view: 'job'})})"
        ".then(r => r.status)",
        f"{base}/jobs/{ids['failed']}/retry",
    )
    assert status == 403  # a same-origin POST from the page itself
    assert queue.get_job(ids["failed"]).status == "failed"  # type: ignore[union-attr]


def test_a_token_url_logs_the_browser_in(
    page: Page, queue: JobQueue, dashboard: Callable[..., str], problems: Problems
) -> None:
    ids = seed(queue)
    base = dashboard(token=TOKEN)
    problems.allow("status of 401")
    problems.allow("/favicon.ico")  # a refusal is a bare fragment: no icon link (reported)
    page.goto(base + "/jobs")
    expect(page.get_by_role("alert")).to_contain_text("a token is needed")
    page.goto(f"{base}/jobs?status=failed&token={TOKEN}")
    page.wait_for_url(lambda url: "token" not in url)  # the hand-over page moves on
    assert urlsplit(page.url).query == "status=failed"
    (cookie,) = page.context.cookies()
    assert cookie["value"] == TOKEN and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.get_by_test_id("job-link").click()
    summary = page.get_by_test_id("job-summary")
    summary.get_by_test_id("action-retry").click()  # a POST, with the cookie
    expect(summary).to_have_attribute("data-status", "pending")
    assert queue.get_job(ids["failed"]).status == "pending"  # type: ignore[union-attr]
    page.goto(f"{base}/jobs?token=wrong")
    expect(page.get_by_role("alert")).to_contain_text("wrong token")
