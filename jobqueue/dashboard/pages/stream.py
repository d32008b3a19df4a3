"""``/stream?view=NAME``: the server-sent events of one open page (see ``live``).

A page connects with ``hx-sse:connect`` to the URL ``stream_url`` gives it, which
carries ``after`` (the feed's position when the page was read), so the events between
reading the page and connecting reach it too. On reconnecting, the browser's
``Last-Event-ID`` takes over. Each message is the view's fragments for one event
(``hx-swap-oob`` elements htmx swaps in place); a named ``reload`` event asks the page
to read itself again (``dashboard.js``).

Events a page does not show still move its position, at most once a ``IDS_EVERY``
seconds (an ``id:`` line alone), so that resuming replays little and rarely falls off
the ring.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ...errors import StoreError
from ..context import Dashboard, NavLink, Renderer, dashboard_of
from ..live import CLOSED, RELOAD, Item, Start
from ..refusal import refusal
from ..templating import url

KEEPALIVE = 15.0
RETRY_MS = 2000
IDS_EVERY = 1.0


def stream_url(request: Request, view: str, position: str | None, **params: Any) -> str | None:
    """The URL a page of ``view`` connects to, resuming from ``position``: the page takes
    it with ``dash.live.position()`` *before* reading its data, so no event falls in
    between. None when the event log cannot be followed (``position`` is None): the
    page then renders without live updates."""
    if position is None:
        return None
    return url(request, "stream", {"view": view, "after": position, **params})


async def stream(request: Request) -> Response:
    """Open one page's event stream (``text/event-stream``)."""
    dash = dashboard_of(request)
    renderer = dash.views.get(request.query_params.get("view", ""))
    if renderer is None:
        return refusal(404, f"no live view {request.query_params.get('view', '')!r}")
    last_id = request.headers.get("last-event-id") or request.query_params.get("after")
    loop = asyncio.get_running_loop()
    try:
        start = await run_in_threadpool(dash.live.subscribe, last_id, loop)
    except StoreError as e:
        return refusal(503, f"cannot follow the event log: {e}")
    return StreamingResponse(
        _messages(request, dash, renderer, start),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def _messages(
    request: Request, dash: Dashboard, renderer: Renderer, start: Start
) -> AsyncIterator[str]:
    sub = start.subscription
    try:
        yield f"retry: {RETRY_MS}\n\n"
        if start.reload:
            yield _reload()
            return
        last_sent = time.monotonic()
        for item in start.replay:
            yield _message(request, renderer, item, force=True)
        while True:
            message = await sub.next(KEEPALIVE)
            if message is None:
                yield ": keep-alive\n\n"
                continue
            if message is CLOSED:
                return
            if message is RELOAD or not isinstance(message, Item):
                yield _reload()
                return
            text = _message(
                request, renderer, message, force=time.monotonic() - last_sent > IDS_EVERY
            )
            if text:
                last_sent = time.monotonic()
                yield text
    finally:
        dash.live.unsubscribe(sub)


def _message(request: Request, renderer: Renderer, item: Item, *, force: bool) -> str:
    """The SSE message for one event: its fragments with its id, its id alone (when
    ``force``), or nothing."""
    html = renderer(request, item.event)
    if not html:
        return f"id: {item.id}\n\n" if force else ""
    data = "".join(f"data: {line}\n" for line in html.splitlines())
    return f"id: {item.id}\n{data}\n"


def _reload() -> str:
    return "event: reload\ndata: reload\n\n"


ROUTES = (Route("/stream", stream, name="stream"),)
NAV: tuple[NavLink, ...] = ()
LIVE: tuple[tuple[str, Renderer], ...] = ()
