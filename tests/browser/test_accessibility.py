"""Every page, in the light and the dark theme, has no serious or critical accessibility
violation by axe-core (vendored: ``scripts/vendor_axe.py``), and is saved as a
screenshot under ``tests/browser/screenshots/`` for people to look at.

The pages are the header's navigation (so a new page module is checked as soon as it is
in ``app.PAGES``) plus the pages reached from them: a failed and a running job, and the
bulk dialog. axe is injected into a context that bypasses the CSP (the CSP rightly
refuses it); the other browser tests hold the pages to the CSP. The dark theme is the
system one (``prefers-color-scheme``, switched without a reload: the toggle's dark uses
the same colours, ``test_theme`` checks that), and only the rules that depend on colours
run again in it. The README's ``docs/dashboard.png`` is the first screen of the
overview of this queue in the light theme:
``JOBQUEUE_README_SCREENSHOT=1 pytest tests/browser/test_accessibility.py`` writes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard.live_server import serve
from playwright.sync_api import Page
from starlette.routing import Route

from jobqueue import JobQueue
from jobqueue.dashboard import create_app
from jobqueue.dashboard.app import PAGES

from .browsing import screenshot
from .showcase import populate

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
BAD_IMPACTS = ("serious", "critical")
PATHS = {r.name: r.path for page in PAGES for r in page.ROUTES if isinstance(r, Route)}
#: name -> URL path ("{failed}" and the like: the showcase's job ids).
VISITED = {
    **{link.route: PATHS[link.route] for page in PAGES for link in page.NAV},
    "job-failed": "/jobs/{failed}",
    "job-running": "/jobs/{running}",
    "bulk": "/bulk?action=retry&status=failed",
}
#: The rules whose outcome a theme can change.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
#: Left empty in a page after load until htmx fills it (the overview's parts).
PARTS_LOADED = "() => !document.querySelector('[data-loaded=false]')"
#: A page that breaks the rules axe must catch: the check can fail.
BAD_PAGE = (
    "<html><head></head><body><button></button>"
    '<p style="color: #ddd; background: #fff">hardly readable</p></body></html>'
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """One realistic queue's dashboard for the whole module: its base URL and job ids."""
    queue = JobQueue(tmp_path_factory.mktemp("shop") / "data", durable=False)
    ids = populate(queue)
    with serve(create_app(queue)) as base:
        yield base, ids
    queue.close()


def violations(page: Page, rules: list[str] | None = None) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (of
    ``rules`` only, if given)."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    options: dict[str, Any] = {"resultTypes": ["violations"]}
    if rules is not None:
        options["runOnly"] = rules
    found = page.evaluate("options => axe.run(document, options)", options)
    return [v for v in found["violations"] if v["impact"] in BAD_IMPACTS]


def described(found: list[dict[str, Any]]) -> str:
    """One line per violation: rule, impact, what it means and where."""
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in found
    )


@pytest.mark.parametrize("name", list(VISITED))
def test_no_serious_violation_in_either_theme(
    new_page: Callable[..., Page], site: tuple[str, dict[str, str]], name: str
) -> None:
    base, ids = site
    page = new_page(bypass_csp=True, color_scheme="light")
    page.goto(base + VISITED[name].format(**ids))
    page.wait_for_function(PARTS_LOADED)
    light = violations(page)
    screenshot(page, f"{name}-light")
    if name == "overview" and os.environ.get("JOBQUEUE_README_SCREENSHOT") == "1":
        page.screenshot(path=str(README_SHOT), animations="disabled")
    page.emulate_media(color_scheme="dark")
    dark = violations(page, COLOUR_RULES)
    screenshot(page, f"{name}-dark")
    assert not light, f"{name} (light):\n{described(light)}"
    assert not dark, f"{name} (dark):\n{described(dark)}"


def test_the_check_catches_a_bad_page(new_page: Callable[..., Page]) -> None:
    page = new_page()
    page.set_content(BAD_PAGE)
    found = {v["id"] for v in violations(page)}
    assert {"button-name", "color-contrast", "document-title", "html-has-lang"} <= found
