"""Templates and URLs: each dashboard has its own Jinja environment (autoescaped), and
every URL is built from ``scope["root_path"]`` plus this app's own route table.

Why not ``request.url_for``: inside a mounted app it resolves names against the *host*
app's router and raises ``NoMatchFound`` (Starlette sets ``scope["router"]`` only when
absent; design note §3.3, verified). ``root_path`` is the prefix the host's ``Mount``
or uvicorn's ``--root-path`` put in front of us, so the links work under any prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse

from . import formatting
from .context import dashboard_of
from .formatting import span


def environment() -> jinja2.Environment:
    """The Jinja environment of one app: the package's templates, autoescaped (params,
    results and errors are user data). Undefined names are lenient: a job document has
    the keys of its status only, and ``doc.error`` on a pending job reads as nothing."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jobqueue.dashboard", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        exact=formatting.exact,
        span=span,
        between=formatting.between,
        count=formatting.count,
        pretty=formatting.pretty,
    )
    env.globals.update(url=_url, static=_static, ago=_ago)
    return env


def url(
    connection: HTTPConnection,
    name: str,
    query: Mapping[str, Any] | None = None,
    **params: Any,
) -> str:
    """The path of route ``name`` of this dashboard, as the browser must request it
    (under any prefix); ``query`` items whose value is None or "" are left out."""
    path: str = connection.scope.get("root_path", "") + connection.app.url_path_for(name, **params)
    kept = {k: v for k, v in (query or {}).items() if v is not None and v != ""}
    return f"{path}?{urlencode(kept)}" if kept else path


def back_to(connection: HTTPConnection, wanted: str | None, default: str) -> str:
    """Where a plain form returns after its POST: ``wanted`` (the form's ``next`` field)
    when it is a path inside this dashboard, else ``default``. Never another site: a
    ``next`` of ``//evil.example`` or ``https://...`` would be an open redirect."""
    root = connection.scope.get("root_path", "")
    inside = wanted is not None and wanted.startswith(root + "/")
    if inside and wanted is not None and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return default


def here(request: Request) -> str:
    """This request's path and query, as the browser sees them (where a form returns)."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def fragment(
    connection: HTTPConnection, template: str, context: Mapping[str, Any] | None = None
) -> str:
    """Render a template to text (SSE messages), with the same names as ``render``."""
    dash = dashboard_of(connection)
    return dash.templates.get_template(template).render(_names(connection, context))


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render a page with what every template may use: ``request``, ``dash`` (the
    Dashboard), ``read_only``, ``now`` (the queue's clock), ``nav``, ``health`` (for the
    header's badge, up to a few seconds old), ``live_url`` (the page's stream, None for
    none) and ``active`` (the nav entry to mark as current)."""
    dash = dashboard_of(request)
    names = {"health": dash.health.get(), "live_url": None, "active": None, **(context or {})}
    html = dash.templates.get_template(template).render(_names(request, names))
    return HTMLResponse(html, status_code=status, headers=dict(headers or {}))


def _names(connection: HTTPConnection, context: Mapping[str, Any] | None) -> dict[str, Any]:
    dash = dashboard_of(connection)
    return {
        "request": connection,
        "dash": dash,
        "read_only": dash.read_only,
        "now": dash.queue.clock.now(),
        "nav": dash.nav,
        **(context or {}),
    }


@jinja2.pass_context
def _url(ctx: jinja2.runtime.Context, name: str, query: Mapping[str, Any] | None = None,
         **params: Any) -> str:  # fmt: skip
    return url(ctx["request"], name, query, **params)


@jinja2.pass_context
def _static(ctx: jinja2.runtime.Context, path: str) -> str:
    return url(ctx["request"], "static", path=path)


@jinja2.pass_context
def _ago(ctx: jinja2.runtime.Context, value: Any) -> str:
    return formatting.ago(value, ctx["now"])
