"""Machine endpoints: ``/health.json`` for load balancers and orchestrators.

200 when the queue is healthy or degraded (it still runs jobs: a probe that restarts
things must not fire on a slow queue), 503 when unhealthy (no live worker for due jobs,
or the store cannot be read). The body is ``queue.health()``, reasons included.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..context import NavLink, Renderer, dashboard_of


def health_json(request: Request) -> Response:
    """The queue's health verdict as JSON; the status code says it to probes."""
    report = dashboard_of(request).queue.health()
    return Response(
        json.dumps(report, default=str),
        status_code=503 if report["status"] == "unhealthy" else 200,
        media_type="application/json",
        headers={"cache-control": "no-store"},
    )


ROUTES = (Route("/health.json", health_json, name="health_json"),)
NAV: tuple[NavLink, ...] = ()
LIVE: tuple[tuple[str, Renderer], ...] = ()
