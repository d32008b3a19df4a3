"""``/bulk``: retry, cancel or delete every job a filter matches, with a dry run first.

The Jobs list's filter (``status``, ``type``, ``q``: the same search) and an ``action``
open the dialog (``GET /bulk?action=retry&status=failed&q=...``). It shows the dry run
(``jobqueue.bulk.preview``): how many jobs match and can take the action, the newest
five (a run goes newest first: the dry run then reads one end of the store only), and
how many match but cannot (a running job cannot be retried). The user confirms by
typing the count; ``POST /bulk`` runs it and answers with the report: jobs done,
skipped because they changed meanwhile (each change is compare-and-set), and errors,
with their ids.

What the run may touch is bounded by what was confirmed: at most the count typed
(never more than ``RUN_CAP``), newest first, and no job newer than the newest one the
dry run counted (``until``). A job that left the filter since the dry run is simply
not found, and the report says how many fewer there were. The report is the POST's
answer (a plain form gets the whole page, htmx the dialog's section): it exists nowhere
else to redirect to.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ... import search
from ...bulk import ACTIONS, Action, BulkReport, Preview, Selection, apply_all, count, preview
from ...errors import InvalidJob
from ...ids import check_id, check_type
from ...job import STATUSES, Status
from ...search import Count, Search
from ..context import NavLink, Renderer, dashboard_of
from ..forms import read_form
from ..refusal import refusal
from ..shell import command
from ..templating import fragment, render, url

log = logging.getLogger(__name__)

#: The most jobs one run changes (newest first); the dialog says so.
RUN_CAP = 10_000
#: Ids a report lists per outcome; the rest are counted.
LISTED = 100
#: What the dialog calls a job the action changed.
PARTICIPLES = MappingProxyType({"retry": "retried", "cancel": "cancelled", "delete": "deleted"})


@dataclass(frozen=True, slots=True)
class Plan:
    """What was asked: the action and the filter, split by what the action applies to."""

    action: Action
    status: Status | None
    job_type: str | None
    q: str
    wanted: Search
    #: The statuses the filter matches that the action applies to, and the others.
    eligible: tuple[Status, ...]
    others: tuple[Status, ...]

    def query(self) -> dict[str, str | None]:
        """The filter as the dialog's URL parameters."""
        return {"status": self.status, "type": self.job_type, "q": self.q or None}

    def listing(self) -> dict[str, str | None]:
        """The filter as the jobs list's URL parameters (its search takes the type)."""
        typed = f"type:{self.job_type}" if self.job_type else ""
        return {"status": self.status, "q": " ".join(w for w in (self.q, typed) if w) or None}

    def selection(self, until: str | None = None) -> Selection:
        """The jobs a run walks: the filter's, in the statuses the action applies to."""
        return Selection(statuses=self.eligible, job_type=self.wanted.type, search=self.wanted,
                         until=until, newest_first=True)  # fmt: skip


def plan_of(params: Mapping[str, str]) -> Plan:
    """The plan of a dialog's URL or form; InvalidJob, with a line to show, if bad."""
    name = params.get("action", "")
    if name not in ACTIONS:
        raise InvalidJob(f"no bulk action {name!r}: use one of {', '.join(ACTIONS)}")
    action, status = ACTIONS[name], params.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidJob(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    q, job_type = params.get("q", "").strip(), params.get("type") or None
    wanted = search.parse(q).narrowed(status)
    if job_type is not None:
        wanted = replace(wanted, type=check_type(job_type))
    matched = wanted.statuses or STATUSES
    eligible = tuple(s for s in matched if s in action.allowed)
    others = tuple(s for s in matched if s not in action.allowed)
    return Plan(action, status, job_type, q, wanted, eligible, others)


# --- the dialog -------------------------------------------------------------------------------


def bulk_page(request: Request) -> Response:
    """The dialog: the dry run, and the form that confirms it."""
    try:
        plan = plan_of(request.query_params)
    except InvalidJob as e:
        return render(request, "bulk.html", {"active": "jobs", "error": str(e)}, status=400)
    return render(request, "bulk.html", dialog(request, plan))


def dialog(request: Request, plan: Plan, notice: str | None = None) -> dict[str, Any]:
    """The dialog's names: the plan, its dry run, and what confirming it means."""
    dash = dashboard_of(request)
    found = Preview(0, False, ())
    if plan.eligible:
        found = preview(dash.queue, plan.selection(), plan.action.allowed, view=dash.document,
                        limits=dash.limits, stats=dash.stats.get())  # fmt: skip
    return {
        "active": "jobs", "error": None, "plan": plan, "preview": found, "notice": notice,
        "participle": PARTICIPLES[plan.action.name],
        "cannot": _cannot(request, plan), "expected": min(found.count, RUN_CAP),
        "cap": RUN_CAP, "listing": url(request, "jobs", plan.listing()),
        "commands": _commands(request, plan),
    }  # fmt: skip


def _cannot(request: Request, plan: Plan) -> Count:
    """How many jobs match the filter in a status the action does not apply to."""
    if not plan.others:
        return Count(0, False)
    dash = dashboard_of(request)
    others = replace(plan.wanted, statuses=plan.others)
    return count(dash.queue, others, limits=dash.limits, view=dash.document,
                 stats=dash.stats.get())  # fmt: skip


def _commands(request: Request, plan: Plan) -> list[str]:
    """The CLI's bulk retry/cancel by status and type, when the filter is only that."""
    dash = dashboard_of(request)
    if plan.action.name == "delete" or plan.wanted.tests or plan.wanted.id or not plan.eligible:
        return []
    words = [plan.action.name]
    for status in plan.eligible:
        words += ["--status", status]
    if plan.wanted.type:
        words += ["--type", plan.wanted.type]
    return [command(dash, *words, "--dry-run"), command(dash, *words)]


# --- the run --------------------------------------------------------------------------------


async def bulk_run(request: Request) -> Response:
    """Run a confirmed bulk action (POST only; see the module docstring)."""
    try:
        fields = await read_form(request)
    except InvalidJob as e:
        return refusal(400, str(e))
    return await run_in_threadpool(_run, request, fields)


def _run(request: Request, fields: dict[str, str]) -> Response:
    try:
        plan = plan_of(fields)
        expected = _expected(fields.get("expected", ""))
        until = check_id(fields["until"]) if fields.get("until") else None
    except InvalidJob as e:
        return refusal(400, str(e))
    typed = fields.get("confirm", "").replace(",", "").replace(" ", "")
    if typed != str(expected):
        notice = f"not run: type {expected} to confirm (you typed {typed or 'nothing'})"
        return _answer(request, "_bulk_dialog.html", dialog(request, plan, notice), 409)
    report = run(request, plan, expected, until, fields.get("reason") or None)
    context = {
        "active": "jobs", "plan": plan, "report": report, "expected": expected, "listed": LISTED,
        "listing": url(request, "jobs", plan.listing()),
        "again": url(request, "bulk", {"action": plan.action.name, **plan.query()}),
    }  # fmt: skip
    return _answer(request, "_bulk_report.html", context, 200)


def _expected(text: str) -> int:
    """The count the dialog asked to confirm, as its form carries it."""
    if not text.isdigit() or not 0 < int(text) <= RUN_CAP:
        raise InvalidJob(f"nothing to confirm: the dialog's count must be 1 to {RUN_CAP:,}")
    return int(text)


def run(request: Request, plan: Plan, expected: int, until: str | None,
        reason: str | None) -> BulkReport:  # fmt: skip
    """Apply the action to at most ``expected`` jobs of the filter, none newer than
    ``until``; forget the cached counts, and log what was done."""
    dash = dashboard_of(request)
    change = plan.action.change(dash.queue, reason)
    report = apply_all(dash.queue, plan.selection(until), change, view=dash.document,
                       limit=expected)  # fmt: skip
    dash.stats.forget()
    log.info("dashboard bulk %s (status=%s type=%s q=%r): %d done, %d skipped, %d errors",
             plan.action.name, plan.status, plan.job_type, plan.q, len(report.done_ids),
             len(report.skipped), len(report.errors))  # fmt: skip
    return report


def _answer(request: Request, template: str, context: dict[str, Any], status: int) -> Response:
    """The dialog's section for htmx; for a plain form, the whole page around it."""
    if "hx-request" in request.headers:
        return HTMLResponse(fragment(request, template, context), status_code=status)
    return render(request, "bulk.html", {**context, "body": template}, status=status)


ROUTES = (
    Route("/bulk", bulk_page, name="bulk"),
    Route("/bulk", bulk_run, methods=["POST"], name="bulk_run"),
)
NAV: tuple[NavLink, ...] = ()
LIVE: tuple[tuple[str, Renderer], ...] = ()
