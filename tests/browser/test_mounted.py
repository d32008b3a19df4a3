"""The dashboard mounted under a prefix in a host app, in a browser: every link, asset,
htmx request and event stream stays under the prefix (a path written without it would
404, and the page fixture fails on that console error)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from dashboard.seed import seed
from playwright.sync_api import Page, expect
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from jobqueue import JobQueue
from jobqueue.dashboard import create_app

from .browsing import wait_live

PREFIX = "/admin/jobs"


@pytest.fixture
def mounted(queue: JobQueue, served: Callable[[ASGIApp], str]) -> Iterator[str]:
    """The dashboard mounted at PREFIX in a host app; its URL. A mounted app gets no
    lifespan from its host, so its follower is stopped here (after the pages closed)."""
    dashboard = create_app(queue)
    yield served(Starlette(routes=[Mount(PREFIX, app=dashboard)])) + PREFIX
    dashboard.state.dashboard.live.close()


def test_every_page_and_action_under_a_prefix(mounted: str, page: Page, queue: JobQueue) -> None:
    ids = seed(queue)
    page.goto(mounted + "/")
    links = page.locator("[data-testid^=nav-]")
    names = [links.nth(n).get_attribute("data-testid") for n in range(links.count())]
    assert len(names) >= 2
    for name in names:
        page.get_by_test_id(str(name)).click()
        expect(page.get_by_test_id(str(name))).to_have_attribute("aria-current", "page")
        assert urlsplit(page.url).path.startswith(PREFIX + "/")
    page.get_by_test_id("nav-jobs").click()
    wait_live(page)
    failed = page.locator(f"#job-row-{ids['failed']}")
    failed.get_by_test_id("action-retry").click()
    expect(failed.get_by_test_id("status")).to_have_text("pending")
    queue.cancel(ids["pending"])  # another client: reaches the page over the stream
    pending = page.locator(f"#job-row-{ids['pending']}")
    expect(pending.get_by_test_id("status")).to_have_text("cancelled")
    pending.get_by_test_id("job-link").click()
    assert urlsplit(page.url).path == f"{PREFIX}/jobs/{ids['pending']}"
    page.get_by_test_id("job-summary").get_by_test_id("action-delete").click()
    page.wait_for_url(lambda url: urlsplit(url).path == f"{PREFIX}/jobs")
