"""Browser fixtures: Debian's Chromium driven by Playwright's sync API, and the dashboard
served for real (``tests/dashboard/live_server.py``).

* **browser**: one Chromium for this package, ``/usr/bin/chromium`` (Debian's package;
  ``playwright install`` is never run, it downloads). Without it every test here skips,
  and the run ends with one line saying how to get it; under
  ``JOBQUEUE_REQUIRE_BROWSER=1`` (``.ci/run`` sets it) they fail instead, so CI cannot
  pass without running them. It stops when the last test of the package ends (this
  directory is a package for that, see ``__init__``): while Playwright's sync API runs
  it keeps an event loop marked as running in the main thread, and ``asyncio.run`` in
  any later test of the same session would raise; the teardown checks that no such
  loop is left.
* **new_page(**context options)**: a page in a fresh context (fixed viewport, reduced
  motion, light colour scheme unless given). Every page error and console error of
  every page it opened fails the test at teardown: that catches CSP violations, 404s
  and JavaScript errors on every page a test visits. ``problems.allow(text)`` accepts the
  ones a test provokes (the console line of a refused request). ``page`` is one of them.
* **served(app)**: serve an ASGI app until the test ends; its base URL. Pages close
  before their servers stop (the fixtures depend on each other in that order), so no
  open event stream delays a stop or ends in a console error.
* **queue** / **dashboard(**create_app options)**: a file queue in ``tmp_path`` (another
  process can open it: the CLI, a worker) and its dashboard's base URL.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from dashboard.live_server import serve  # tests/dashboard's, shared with its tests
from starlette.types import ASGIApp

from jobqueue import JobQueue
from jobqueue.dashboard import create_app

from .browsing import Problems

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

#: Debian's package; ``JOBQUEUE_CHROMIUM`` names another build (never a downloaded one).
CHROMIUM = Path(os.environ.get("JOBQUEUE_CHROMIUM", "/usr/bin/chromium"))
REQUIRE_ENV = "JOBQUEUE_REQUIRE_BROWSER"
HOW = "install Debian's chromium: apt-get install chromium fonts-dejavu-core"
#: Why the browser tests were skipped, for the one line at the end of the run.
SKIPPED = pytest.StashKey[str]()
#: Headless in a container, and no call home (the network is closed: without these,
#: Chromium keeps trying to reach Google's update and sync services).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}
#: How long an ``expect`` or a page action waits: generous, for a machine shared with
#: other work (a change made by another process starts a Python process first).
EXPECT_TIMEOUT_MS = 10_000


def why_no_browser() -> str | None:
    """Why the browser tests cannot run here (one line), or None when they can."""
    return None if CHROMIUM.exists() else f"no {CHROMIUM}: {HOW}"


@pytest.fixture(scope="package")
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Debian's Chromium, headless, for every test of this package (see the docstring)."""
    if not isinstance(request.node, pytest.Package):  # it would outlive the package
        raise RuntimeError("tests/browser needs its __init__.py: see tests/browser/__init__")
    why = why_no_browser()
    if why is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{why} ({REQUIRE_ENV}=1)", pytrace=False)
        request.config.stash[SKIPPED] = why
        pytest.skip(why)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        yield chromium
        chromium.close()
    if asyncio._get_running_loop() is not None:
        raise RuntimeError("Playwright left an event loop running: asyncio.run would fail")


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Say once, at the end, why the browser tests were skipped and how to run them."""
    why = config.stash.get(SKIPPED, None)
    if why is not None:
        terminalreporter.write_line(f"browser tests skipped: {why}")


@pytest.fixture
def served() -> Iterator[Callable[[ASGIApp], str]]:
    """``served(app)``: serve an ASGI app for the rest of the test; its base URL."""
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(serve(app))


@pytest.fixture
def problems() -> Problems:
    """What the test's pages reported; checked by ``new_page`` at teardown."""
    return Problems()


@pytest.fixture
def new_page(
    browser: Browser, served: Callable[[ASGIApp], str], problems: Problems
) -> Iterator[Callable[..., Page]]:
    """``new_page(**context options)``: a watched page in a fresh context."""
    contexts = []

    def make(**options: Any) -> Page:
        settings = {"viewport": VIEWPORT, "reduced_motion": "reduce", "color_scheme": "light"}
        context = browser.new_context(**{**settings, **options})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(EXPECT_TIMEOUT_MS)
        page.on("console", problems.console)
        page.on("pageerror", problems.page_error)
        return page

    yield make
    for context in contexts:
        context.close()
    unexpected = problems.unexpected()
    if unexpected:
        pytest.fail("the pages reported errors:\n" + "\n".join(unexpected), pytrace=False)


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A watched page in a fresh context (the common case)."""
    return new_page()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The file store's directory: another process (CLI, worker) can open it too."""
    return tmp_path / "data"


@pytest.fixture
def queue(data_dir: Path) -> Iterator[JobQueue]:
    """A file queue in ``tmp_path`` (not durable: the tests need no fsync)."""
    the_queue = JobQueue(data_dir, durable=False)
    yield the_queue
    the_queue.close()


@pytest.fixture
def dashboard(queue: JobQueue, served: Callable[[ASGIApp], str]) -> Callable[..., str]:
    """``dashboard(**create_app options)``: the queue's dashboard served; its base URL."""
    return lambda **options: served(create_app(queue, **options))
