"""``/metrics``: the queue in Prometheus's text format, for a scraper
(``jobqueue.prometheus``: counts, health, workers and the last hour's window, read at
each scrape, nothing cached). Needs ``prometheus-client`` (the dashboard extra)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...durations import parse_duration
from ...errors import InvalidJob
from ...prometheus import CONTENT_TYPE, exposition
from ..context import NavLink, Renderer, dashboard_of


def metrics(request: Request) -> Response:
    """One scrape (a plain ``def``: it reads the store, in Starlette's thread pool);
    ``?window=15m`` sets what the window families cover (default an hour)."""
    try:
        window = parse_duration(request.query_params.get("window") or "1h")
    except InvalidJob as e:
        return Response(f"{e}\n", status_code=400, media_type="text/plain")
    body = exposition(dashboard_of(request).queue, window=window)
    return Response(body, media_type=CONTENT_TYPE, headers={"cache-control": "no-store"})


ROUTES = (Route("/metrics", metrics, name="metrics"),)
NAV: tuple[NavLink, ...] = ()
LIVE: tuple[tuple[str, Renderer], ...] = ()
