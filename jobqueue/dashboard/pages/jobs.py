"""``/jobs``: the jobs list, with status tabs, search and keyset paging.

Every filter lives in the URL (``status``, ``q``, ``after``/``before``, ``limit``), so a
view can be shared and bookmarked. Paging is by id (creation order), newest first:
"Older" continues ``after`` the page's last id, "Newer" ``before`` its first; no offset.
Tab counts come from ``stats()`` (exact and cheap); a search's count scans at most
``search.SCAN_CAP`` jobs and says "≥ N" when it stopped there.

Live: the page subscribes to the ``jobs`` view, which sends each event's job as its row
(``hx-swap-oob``), so a row on the page follows its job (status, progress bar) with no
extra read: the event carries the job.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ... import search
from ...errors import InvalidJob
from ...events import JobEvent
from ...job import STATUSES, Status
from ..context import NavLink, Renderer, dashboard_of
from ..templating import fragment, here, render, url
from .stream import stream_url

PER_PAGE = (25, 50, 100)


def jobs_page(request: Request) -> Response:
    """The list (a plain GET: filters and pages are links)."""
    dash = dashboard_of(request)
    params = request.query_params
    status, q = _status(params.get("status")), params.get("q", "").strip()
    limit = _limit(params.get("limit"))
    position = dash.live.position()  # before the data: see stream_url
    live_url = stream_url(request, "jobs", position, next=here(request))
    links = _Links(request, status, q, limit)
    stats = dash.stats.get()
    context: dict[str, Any] = {
        "active": "jobs", "status": status, "q": q, "limit": limit, "live_url": live_url,
        "tabs": _tabs(links, status, stats), "per_page_choices": PER_PAGE,
        "per_page_links": {n: links.to(limit=n) for n in PER_PAGE}, "error": None,
    }  # fmt: skip
    try:
        context.update(_results(request, search.parse(q).narrowed(status), limit, links, stats))
    except InvalidJob as e:
        context["error"] = str(e)
        return render(request, "jobs.html", context, status=400)
    return render(request, "jobs.html", context)


def _results(
    request: Request, wanted: search.Search, limit: int, links: _Links, stats: dict[str, int]
) -> dict[str, Any]:
    """The page of matches, its count (on the first page) and its links."""
    dash = dashboard_of(request)
    after, before = request.query_params.get("after"), request.query_params.get("before")
    paged = after is not None or before is not None
    by_status = wanted.id is None and wanted.type is None and not wanted.tests
    found = search.find(
        dash.queue, wanted, limit=limit, after=after, before=before, limits=dash.limits,
        view=dash.document, count_all=not paged and not by_status,
    )  # fmt: skip
    total = None if paged and not by_status else found.count
    if by_status:  # counted exactly, for free
        total = search.Count(sum(stats[s] for s in wanted.statuses or STATUSES), False)
    first, last = (
        (found.jobs[0].metadata.id, found.jobs[-1].metadata.id) if found.jobs else ("", "")
    )
    return {
        "found": found,
        "total": total,
        "docs": [dash.document(job) for job in found.jobs],
        "next": here(request),
        "newer": links.to(before=first)
        if found.jobs and (after or (before and found.more))
        else None,
        "older": links.to(after=last) if found.jobs and (found.more or before) else None,
        "keep_searching": links.to(after=found.resume) if found.resume else None,
    }


class _Links:
    """This list's URL with some parameters changed (the others kept)."""

    def __init__(self, request: Request, status: Status | None, q: str, limit: int) -> None:
        self.request = request
        self.base = {"status": status, "q": q, "limit": None if limit == PER_PAGE[0] else limit}

    def to(self, **changes: Any) -> str:
        query = {**self.base, **changes}
        if "limit" in changes and changes["limit"] == PER_PAGE[0]:
            query["limit"] = None
        return url(self.request, "jobs", query)


def _tabs(links: _Links, status: Status | None, stats: dict[str, int]) -> list[dict[str, Any]]:
    tabs = [{"name": "all", "label": "All", "count": stats["total"], "status": None}]
    tabs += [{"name": s, "label": s.capitalize(), "count": stats[s], "status": s} for s in STATUSES]
    for tab in tabs:
        tab["href"] = links.to(status=tab["status"], after=None, before=None)
        tab["current"] = tab["status"] == status
    return tabs


def _status(value: str | None) -> Status | None:
    return value if value in STATUSES else None


def _limit(value: str | None) -> int:
    return (
        int(value)
        if value is not None and value.isdigit() and int(value) in PER_PAGE
        else PER_PAGE[0]
    )


def live_row(request: Request, event: JobEvent) -> str | None:
    """The ``jobs`` view: the event's job as its row, swapped in if the page shows it; a
    new job, which no row shows yet, as a link that reads the page again (where it sorts
    depends on the page's order and cursor, which a row swap cannot know)."""
    dash = dashboard_of(request)
    doc = dash.document(event.job)
    next_url = request.query_params.get("next") or url(request, "jobs")
    if event.event == "created":
        shown = parse_qs(urlsplit(next_url).query).get("status", ["pending"])
        if "pending" not in shown:
            return None  # this tab never shows a new job
        return fragment(request, "_new_jobs.html", {"next": next_url, "oob": True})
    return fragment(request, "_job_row.html", {"doc": doc, "oob": True, "next": next_url})


ROUTES = (Route("/jobs", jobs_page, name="jobs"),)
NAV = (NavLink("Jobs", "jobs"),)
LIVE: tuple[tuple[str, Renderer], ...] = (("jobs", live_row),)
