"""The theme toggle: system -> light -> dark, kept across reloads and pages, and the
colours really change (the CSS variables follow ``html[data-theme]``)."""

from __future__ import annotations

from collections.abc import Callable

from dashboard.seed import seed
from playwright.sync_api import Page, expect

from jobqueue import JobQueue

from .browsing import set_theme


def background(page: Page) -> str:
    """The page's computed background colour."""
    return str(page.evaluate("() => getComputedStyle(document.body).backgroundColor"))


def test_the_theme_toggle_persists(
    new_page: Callable[..., Page], queue: JobQueue, dashboard: Callable[..., str]
) -> None:
    ids = seed(queue)
    base = dashboard()
    page = new_page(color_scheme="light")
    page.goto(base + "/jobs")
    html = page.locator("html")
    toggle = page.get_by_test_id("theme-toggle")
    expect(toggle).to_have_text("Theme: system")
    expect(html).not_to_have_attribute("data-theme", "light")
    light = background(page)
    set_theme(page, "dark")
    expect(html).to_have_attribute("data-theme", "dark")
    dark = background(page)
    assert dark != light
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")  # kept in localStorage
    page.goto(f"{base}/jobs/{ids['failed']}")
    expect(toggle).to_have_text("Theme: dark")
    assert background(page) == dark
    set_theme(page, "system")
    expect(html).not_to_have_attribute("data-theme", "dark")
    assert background(page) == light
    system_dark = new_page(color_scheme="dark")  # "system" follows the OS preference
    system_dark.goto(base + "/jobs")
    assert background(system_dark) == dark
