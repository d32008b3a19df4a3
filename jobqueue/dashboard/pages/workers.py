"""``/workers``: the worker registry, stale records flagged, and the reap action
(``POST /workers/reap``) with its preview: the running jobs whose worker is gone, which
a reap would return to pending (or fail, or cancel when that was asked).

A worker record is stale when its process is gone (same host) or its heartbeat is older
than its own ``stale_after`` (``jobqueue.health``). A stale record is only a sign; what
a reap changes is the *jobs*: those whose owner is gone (``jobqueue.reaper``), judged
with ``--stale-after`` (``STALE_AFTER``, as the CLI's default) for other hosts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ...errors import InvalidJob
from ...job import RunningJob
from ...process import hostname
from ...reaper import lost_reason
from ..context import NavLink, Renderer, dashboard_of
from ..forms import read_form
from ..refusal import refusal
from ..shell import command
from ..templating import back_to, fragment, render, url

log = logging.getLogger(__name__)

#: A running job of another host is lost once its heartbeat is this old (the CLI's default).
STALE_AFTER = timedelta(seconds=30)
#: Running jobs read for the reap preview (a queue runs as many as its workers' slots).
PREVIEW_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Lost:
    """A running job a reap would take back, and why its worker is taken for gone."""

    job_id: str
    job_type: str
    worker: str
    reason: str


def workers_page(request: Request) -> Response:
    """The registry, live and stale records alike, and what a reap would do."""
    return render(request, "workers.html", _context(request))


def _context(request: Request, notice: str | None = None) -> dict[str, Any]:
    dash = dashboard_of(request)
    workers = dash.queue.workers(include_stale=True)
    health = dash.health.get()
    return {
        "active": "workers", "workers": workers, "health": health,
        "live": sum(1 for w in workers if not w.get("stale")),
        "due": health.get("queue_depth") or 0, "lost": lost_jobs(request),
        "reap_command": command(dash, "reap", "--stale-after", f"{STALE_AFTER.seconds}s"),
        "notice": notice or _reaped_notice(request), "next": url(request, "workers"),
    }  # fmt: skip


def lost_jobs(request: Request) -> list[Lost]:
    """The reap preview: running jobs with no live owner (what ``reap`` would change)."""
    queue = dashboard_of(request).queue
    now, host = queue.clock.now(), hostname()
    found = []
    for job in queue.query_jobs("running", limit=PREVIEW_LIMIT):
        if isinstance(job, RunningJob):
            why = lost_reason(job, now, STALE_AFTER, host)
            if why is not None:
                found.append(Lost(job.metadata.id, job.metadata.type, job.worker.name, why))
    return found


def _reaped_notice(request: Request) -> str | None:
    """After a plain form's reap, the list says how many (``?reaped=N``)."""
    value = request.query_params.get("reaped", "")
    return f"reaped {int(value)} job{'' if value == '1' else 's'}" if value.isdigit() else None


async def reap(request: Request) -> Response:
    """Reap the lost running jobs (POST only): back to the list (plain form, 303) or the
    workers section with a notice naming each job and what it became (htmx)."""
    try:
        fields = await read_form(request)
    except InvalidJob as e:
        return refusal(400, str(e))
    reaped = await run_in_threadpool(_reap, request)
    dashboard_of(request).stats.forget()
    if "hx-request" not in request.headers:
        target = back_to(request, fields.get("next"), url(request, "workers"))
        separator = "&" if "?" in target else "?"
        return RedirectResponse(f"{target}{separator}reaped={len(reaped)}", status_code=303)
    notice = f"reaped {len(reaped)} job{'' if len(reaped) == 1 else 's'}"
    if reaped:
        notice += ": " + ", ".join(f"{job_id} → {status}" for job_id, status in reaped)
    context = await run_in_threadpool(_context, request, notice)
    return HTMLResponse(fragment(request, "_workers.html", context))


def _reap(request: Request) -> list[tuple[str, str]]:
    reaped = dashboard_of(request).queue.reap(stale_after=STALE_AFTER)
    for job in reaped:
        log.info("dashboard reap: %s (%s) -> %s", job.metadata.id, job.metadata.type, job.status)
    return [(job.metadata.id, job.status) for job in reaped]


ROUTES = (
    Route("/workers", workers_page, name="workers"),
    Route("/workers/reap", reap, methods=["POST"], name="workers_reap"),
)
NAV = (NavLink("Workers", "workers"),)
LIVE: tuple[tuple[str, Renderer], ...] = ()
