"""What the browser tests do: wait for a page's live stream, check that a change happened
in place (no navigation), switch the theme, save a screenshot, run the CLI in another
process, and collect the errors the pages report."""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
PROCESS_TIMEOUT = 30


def wait_live(page: Page) -> None:
    """Wait until the page's event stream is connected (the header says "live")."""
    page.locator("[data-testid=live-indicator][data-state=live]").wait_for()


def mark(page: Page) -> str:
    """Tag the current document; ``same_document`` later tells whether it was replaced."""
    token = secrets.token_hex(8)
    page.evaluate("token => { window.jobqueueTestMark = token; }", token)
    return token


def same_document(page: Page, token: str) -> bool:
    """Whether the page is still the document ``mark`` tagged (nothing reloaded it)."""
    return bool(page.evaluate("token => window.jobqueueTestMark === token", token))


def set_theme(page: Page, theme: str) -> None:
    """Click the theme toggle until it reads ``theme`` (system -> light -> dark)."""
    toggle = page.get_by_test_id("theme-toggle")
    for _ in range(3):
        if toggle.inner_text() == f"Theme: {theme}":
            return
        toggle.click()
    raise AssertionError(f"the theme toggle never reached {theme!r}")


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``screenshots/<name>.png`` (for people to look at when a
    page changes: not compared pixel by pixel, fonts vary); its path."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


def cli(data_dir: Path, *args: str) -> None:
    """Run ``jobqueue --data-dir DATA_DIR ARGS`` in another process (it must succeed)."""
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(data_dir), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=PROCESS_TIMEOUT)
    assert done.returncode == 0, done.stderr


@dataclass
class Problems:
    """Page errors and console errors seen by a test's pages (``conftest.new_page``)."""

    seen: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, text: str) -> None:
        """Accept the errors containing ``text`` (one the test provokes on purpose)."""
        self.allowed.append(text)

    def console(self, message: ConsoleMessage) -> None:
        """Record a console error (a CSP violation, a failed load, a script's error)."""
        if message.type == "error":
            where = message.location.get("url", "")
            self.seen.append(f"console: {message.text} ({where})")

    def page_error(self, error: Exception) -> None:
        """Record an uncaught JavaScript error."""
        self.seen.append(f"pageerror: {error}")

    def unexpected(self) -> list[str]:
        """The errors no ``allow`` covers."""
        return [p for p in self.seen if not any(a in p for a in self.allowed)]
