"""``/jobs/{id}``: one job, and the actions on it (``POST /jobs/{id}/retry|cancel|delete``).

The page shows what the job is (metadata, params, result, error), its timeline and every
attempt (see ``timeline``), its raw document, and the actions its state allows, each
with the command that does the same from a shell. Live: the ``job`` view sends the
job's summary (status, progress, actions) and one timeline line per event of this job.

An action answers a plain form with a 303 back to the page it came from (``next``, kept
inside this dashboard), and an htmx request with the fragment it replaces (``view``:
``row`` in the list, ``job`` here), carrying a short notice. A refused action (the job
changed state meanwhile) answers 409 with the fragment as it now is, and the reason.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ...codec import format_time
from ...errors import InvalidJob, JobNotFound
from ...events import JobEvent
from ..context import Dashboard, NavLink, Renderer, dashboard_of
from ..forms import posted
from ..refusal import refusal
from ..shell import command
from ..templating import back_to, fragment, here, render, url
from ..timeline import Step, attempt_rows, steps
from .stream import stream_url

ACTIONS = ("retry", "cancel", "delete")


def job_page(request: Request) -> Response:
    """The job's page; 404 when there is no such job (400 for an id that cannot be one)."""
    dash = dashboard_of(request)
    job_id = request.path_params["job_id"]
    position = dash.live.position()  # before the data: see stream_url
    try:
        job = dash.queue.get_job(job_id)
    except InvalidJob as e:
        return refusal(400, str(e))
    if job is None:
        return render(request, "job_missing.html", {"job_id": job_id, "active": "jobs"}, status=404)
    doc = dash.document(job)
    live_url = stream_url(request, "job", position, job=job_id, status=job.status,
                          next=here(request))  # fmt: skip
    return render(request, "job.html", {
        "active": "jobs", "doc": doc, "live_url": live_url, "next": here(request),
        "steps": steps(doc), "attempts": attempt_rows(doc.get("attempts") or []),
        "commands": commands(dash, doc),
    })  # fmt: skip


def commands(dash: Dashboard, doc: dict[str, Any]) -> dict[str, str]:
    """The shell (or Python) equivalent of each thing the page offers."""
    job_id, status = doc["metadata"]["id"], doc["status"]
    found = {"show": command(dash, "show", job_id, "--json")}
    if status in ("pending", "running"):
        found["cancel"] = command(dash, "cancel", job_id)
    if status in ("failed", "cancelled"):
        found["retry"] = command(dash, "retry", job_id)
    if status in ("complete", "failed", "cancelled"):
        found["delete"] = f"queue.delete({job_id!r})  # Python: JobQueue.delete"
    return found


async def job_action(request: Request) -> Response:
    """Retry, cancel or delete one job (POST only; see the module docstring)."""
    return await posted(request, ACTIONS, _act)


def _act(request: Request, action: str, fields: dict[str, str]) -> Response:
    dash = dashboard_of(request)
    job_id = request.path_params["job_id"]
    try:
        done, message = _apply(dash, action, job_id, fields.get("reason") or None)
    except JobNotFound as e:
        return refusal(404, str(e))
    except InvalidJob as e:
        done, message = False, str(e)
    if "hx-request" not in request.headers:
        if not done:
            return refusal(409, message)
        return RedirectResponse(_next(request, fields.get("next"), action), status_code=303)
    return _fragment(request, dash, job_id, fields, message, 200 if done else 409)


def _apply(dash: Dashboard, action: str, job_id: str, reason: str | None) -> tuple[bool, str]:
    """Do it; whether it was done, and the notice saying what happened."""
    queue = dash.queue
    dash.stats.forget()
    if action == "retry":
        queue.retry(job_id)
        return True, "retried: due now"
    if action == "cancel":
        if queue.cancel(job_id, reason=reason):
            return True, "cancel requested"
        return False, f"cannot cancel job {job_id!r}: it has ended (or does not exist)"
    if queue.delete(job_id):
        return True, "deleted"
    return False, f"cannot delete job {job_id!r}: only an ended job can be deleted"


def _fragment(
    request: Request, dash: Dashboard, job_id: str, fields: dict[str, str], notice: str,
    status: int,
) -> Response:  # fmt: skip
    """The htmx answer: the row or the summary, re-read, with the notice."""
    job = dash.queue.get_job(job_id)
    next_url = _next(request, fields.get("next"), "")
    if job is None:  # deleted
        if fields.get("view") == "job":
            return Response(status_code=200, headers={"hx-redirect": url(request, "jobs")})
        return render_text(request, "_job_gone.html", {"job_id": job_id, "notice": notice}, status)
    context = {"doc": dash.document(job), "notice": notice, "next": next_url}
    template = "_job_summary.html" if fields.get("view") == "job" else "_job_row.html"
    return render_text(request, template, context, status)


def render_text(request: Request, template: str, context: dict[str, Any], status: int) -> Response:
    """A fragment as an HTML response (no page around it)."""
    return Response(
        fragment(request, template, context), status_code=status, media_type="text/html"
    )


def _next(request: Request, wanted: str | None, action: str) -> str:
    """Where a plain form returns: ``wanted`` if inside this dashboard, except the page
    of a job just deleted; else the list (after a delete) or the job."""
    if action == "delete":
        listing = url(request, "jobs")
        target = back_to(request, wanted, listing)
        return (
            listing
            if target.startswith(url(request, "job", job_id=request.path_params["job_id"]))
            else target
        )
    return back_to(request, wanted, url(request, "job", job_id=request.path_params["job_id"]))


def live_job(request: Request, event: JobEvent) -> str | None:
    """The ``job`` view: this job's summary and a timeline line, for its events only."""
    if event.job_id != request.query_params.get("job"):
        return None
    dash = dashboard_of(request)
    doc = dash.document(event.job)
    step = Step(format_time(event.at), event.event, _event_detail(doc))
    return fragment(request, "_job_live.html", {
        "doc": doc, "step": step, "next": request.query_params.get("next") or url(request, "jobs"),
    })  # fmt: skip


def _event_detail(doc: dict[str, Any]) -> str:
    progress = doc.get("progress")
    if progress:
        return f"{progress['percentage']:.0f}% {progress.get('stage') or ''}".strip()
    error = doc.get("error")
    return f"{error['type']}: {error['message']}" if error else ""


ROUTES = (
    Route("/jobs/{job_id}", job_page, name="job"),
    Route("/jobs/{job_id}/{action}", job_action, methods=["POST"], name="job_action"),
)
NAV: tuple[NavLink, ...] = ()
LIVE: tuple[tuple[str, Renderer], ...] = (("job", live_job),)
