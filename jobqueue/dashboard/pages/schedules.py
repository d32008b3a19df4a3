"""``/schedules``: every schedule with its cron (and what it means, for the common
shapes), timezone, next five fire times, last run, run count and state; and the actions
``POST /schedules/{name}/pause|resume|remove``, each beside its shell command.

Removing is for good (the schedule's file or row goes; jobs it enqueued stay), so its
form carries a checkbox that must be ticked: the browser asks for it (``required``) and
the server refuses the POST without it, so a stray click or a script cannot remove.
An action answers a plain form with a 303 back to the list, and htmx with the row,
carrying a notice (or 409 and the reason when refused).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ...errors import ScheduleNotFound
from ...schedules.model import Schedule
from ..context import NavLink, Renderer, dashboard_of
from ..crontext import meaning
from ..forms import posted
from ..refusal import refusal
from ..shell import command
from ..templating import back_to, fragment, render, url

log = logging.getLogger(__name__)

ACTIONS = ("pause", "resume", "remove")
#: Fire times shown per schedule.
NEXT_FIRES = 5


def schedules_page(request: Request) -> Response:
    """Every schedule, by name."""
    dash = dashboard_of(request)
    rows = [schedule_row(request, s) for s in dash.queue.get_schedules()]
    return render(request, "schedules.html", {
        "active": "schedules", "rows": rows, "next": url(request, "schedules"),
        "add_command": command(dash, "schedule", "add", "NAME", "CRON", "TYPE"),
    })  # fmt: skip


def schedule_row(request: Request, schedule: Schedule) -> dict[str, Any]:
    """What one row shows: the schedule, its cron in words, its next fire times and the
    shell commands of its actions."""
    dash = dashboard_of(request)
    return {
        "s": schedule,
        "meaning": meaning(schedule.cron),
        "fires": next_fires(request, schedule.name),
        "commands": {a: command(dash, "schedule", a, schedule.name) for a in ACTIONS},
        "jobs": url(request, "jobs", {"q": f"type:{schedule.type}"}),
    }


def next_fires(request: Request, name: str) -> list[datetime]:
    """The schedule's next ``NEXT_FIRES`` ticks (none while paused or once retired)."""
    queue = dashboard_of(request).queue
    fires: list[datetime] = []
    try:
        at = queue.next_run_time(name)
        while at is not None and len(fires) < NEXT_FIRES:
            fires.append(at)
            at = queue.next_run_time(name, after=at)
    except ScheduleNotFound:  # removed since the list was read
        return []
    return fires


async def schedule_action(request: Request) -> Response:
    """Pause, resume or remove one schedule (POST only; see the module docstring)."""
    return await posted(request, ACTIONS, _act)


def _act(request: Request, action: str, fields: dict[str, str]) -> Response:
    name = request.path_params["schedule"]
    try:
        done, message = _apply(request, action, name, fields.get("confirm") == "yes")
    except ScheduleNotFound as e:
        return refusal(404, str(e))
    if done:
        log.info("dashboard: schedule %s: %s", name, message)
    if "hx-request" not in request.headers:
        if not done:
            return refusal(409, message)
        target = back_to(request, fields.get("next"), url(request, "schedules"))
        return RedirectResponse(target, status_code=303)
    return _row_answer(request, name, message, 200 if done else 409)


def _apply(request: Request, action: str, name: str, confirmed: bool) -> tuple[bool, str]:
    """Do it; whether it was done, and the notice saying what happened."""
    queue = dashboard_of(request).queue
    current = next((s for s in queue.get_schedules() if s.name == name), None)
    if current is None:
        raise ScheduleNotFound(name)
    if action == "remove":
        if not confirmed:
            return False, f"not removed: tick the box to remove {name} for good"
        queue.unschedule(name)
        return True, "removed"
    if current.retired:
        return False, f"cannot {action} {name}: it is retired (it fires no more)"
    if current.paused == (action == "pause"):
        return False, f"{name} is already {'paused' if current.paused else 'running'}"
    changed = queue.pause(name) if action == "pause" else queue.resume(name)
    return True, "paused" if changed.paused else "resumed"


def _row_answer(request: Request, name: str, notice: str, status: int) -> Response:
    """The htmx answer: the schedule's row, read again, with the notice."""
    found = next((s for s in dashboard_of(request).queue.get_schedules() if s.name == name), None)
    context: dict[str, Any] = {"notice": notice, "next": url(request, "schedules"), "name": name}
    if found is not None:
        context["row"] = schedule_row(request, found)
    html = fragment(request, "_schedule_row.html", context)
    return HTMLResponse(html, status_code=status)


ROUTES = (
    Route("/schedules", schedules_page, name="schedules"),
    Route(
        "/schedules/{schedule}/{action}", schedule_action, methods=["POST"], name="schedule_action"
    ),
)
NAV = (NavLink("Schedules", "schedules"),)
LIVE: tuple[tuple[str, Renderer], ...] = ()
