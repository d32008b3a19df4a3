"""``create_app``: one dashboard, as an ASGI app, from its page modules.

The app is a plain Starlette app: ``jobqueue dashboard`` serves it under uvicorn, and a
host app mounts it under any prefix (``Mount("/admin/jobs", app=create_app(queue))``);
every URL it writes is built from the request's ``root_path`` (see ``templating``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from ..queue import JobQueue
from ..search import SCAN_CAP, Limits
from .auth import make_auth
from .cache import Recent
from .context import Dashboard, Redact
from .live import LiveFeed
from .pages import (
    PageModule,
    bulk,
    events,
    job,
    jobs,
    metrics,
    overview,
    probes,
    schedules,
    stream,
    workers,
)
from .security import Guard
from .templating import environment

#: Seconds a search may scan for one page: with the rest of the page, within the 300 ms
#: a page may take (a file store reads some 10,000 jobs a second).
SCAN_SECONDS = 0.15
#: Seconds the header's health badge may be old.
HEALTH_TTL = 5.0
#: Seconds the status tabs' counts may be old (changes made elsewhere).
STATS_TTL = 2.0
#: The page modules, in the order of the header's navigation.
PAGES: tuple[PageModule, ...] = (
    overview, jobs, job, workers, schedules, events, bulk, stream, probes, metrics,
)  # fmt: skip


def create_app(
    queue: JobQueue | str | os.PathLike[str],
    *,
    read_only: bool = False,
    token: str | None = None,
    basic: str | tuple[str, str] | None = None,
    redact: Redact | None = None,
    trusted_origins: Collection[str] = (),
    title: str = "jobqueue",
    scan_cap: int = SCAN_CAP,
    scan_seconds: float | None = SCAN_SECONDS,
) -> Starlette:
    """The dashboard of ``queue`` (a JobQueue, or a path or URL to open one).

    ``read_only`` hides every action and refuses every POST. ``token`` or ``basic``
    (``"USER:PASS"`` or a pair) makes every request authenticate; a host app that mounts
    the dashboard behind its own auth gives neither. ``redact`` sees each job's document
    before it is shown (hide secrets). ``trusted_origins`` (``"https://host"``) may POST
    although they are not this site: a proxy that rewrites ``Host`` needs it.
    A search reads at most ``scan_cap`` jobs and ``scan_seconds`` (None: no limit) for
    one page, then says "≥ N (scanned the newest M)" and offers to keep searching.
    """
    owned = not isinstance(queue, JobQueue)
    the_queue = queue if isinstance(queue, JobQueue) else JobQueue(_store(queue))
    live = LiveFeed(the_queue)
    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(
                Guard,
                auth=make_auth(token, basic),
                read_only=read_only,
                trusted_origins=trusted_origins,
            )
        ],
        lifespan=_lifespan(live, the_queue if owned else None),
    )
    app.state.dashboard = Dashboard(
        queue=the_queue,
        read_only=read_only,
        redact=redact,
        templates=environment(),
        live=live,
        nav=tuple(link for page in PAGES for link in page.NAV),
        views=dict(view for page in PAGES for view in page.LIVE),
        title=title,
        limits=Limits(jobs=scan_cap, seconds=scan_seconds),
        health=Recent(the_queue.health, HEALTH_TTL),
        stats=Recent(the_queue.stats, STATS_TTL),
    )
    return app


def _store(where: str | os.PathLike[str]) -> str | Path:
    return where if isinstance(where, str) else Path(where)


def routes() -> list[BaseRoute]:
    """Every page's routes, then the static files (CSS, the vendored htmx)."""
    static = StaticFiles(packages=[("jobqueue.dashboard", "static")])
    return [*(r for page in PAGES for r in page.ROUTES), Mount("/static", static, name="static")]


def _lifespan(live: LiveFeed, owned: JobQueue | None) -> Any:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with live.lifespan(app):
            yield
        if owned is not None:
            owned.close()

    return lifespan
