"""Reading a dashboard's server-sent events in a test."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx


def sse_messages(response: httpx.Response) -> Iterator[dict[str, str]]:
    """The stream's messages as {"id", "event", "data"} dicts (comments skipped)."""
    message: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if message:
                yield message
            message = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            message[field] = message.get(field, "") + ("\n" if field in message else "") + value


def connect_url(page: str) -> str:
    found = re.search(r'hx-sse:connect="([^"]+)"', page)
    assert found is not None, "the page does not stream"
    return html.unescape(found.group(1))
