"""``/events``: the event log, live, filtered (``event``, ``type``, ``job`` in the URL),
with history from a "from" time (``since``), and ``/events.ndjson``: the same events as
a download, one JSON object a line with the keys ``jobqueue events --json`` prints.

* **Live.** The page subscribes to the ``events`` view: each new event that passes the
  filters is prepended to the table (``hx-swap-oob="afterbegin"``), from the dashboard's
  one follower of the log.
* **History.** With ``since`` (an ISO time, UTC unless it says otherwise, or a duration
  ago such as ``15m``), the page first replays the log from then, oldest first, at most
  ``ROWS`` matching events and ``SCAN`` events read (replaying decodes every job
  document), within a search's time limit, and says where it stopped, with a link
  that continues from there. When it stopped short of the present, the page does not
  stream: new events would land above a gap.
* **Download.** A bounded replay from ``since`` (default: an hour ago) to the moment
  of the request, streamed as it is read, at most ``DOWNLOAD_ROWS`` events; the log is
  followed with ``idle_timeout=0``, so the download ends when the log has nothing more.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ...codec import format_time
from ...durations import parse_duration
from ...errors import InvalidJob
from ...event_json import dump_event
from ...events import EVENT_NAMES, JobEvent
from ...ids import check_id, check_type
from ...search import Limits
from ..context import Dashboard, NavLink, Renderer, dashboard_of
from ..templating import fragment, here, render, url
from .stream import stream_url

#: Matching events one page shows from ``since``.
ROWS = 100
#: Events one page reads from ``since`` before it stops (each decodes a job document).
SCAN = 1000
#: Events one download holds at most.
DOWNLOAD_ROWS = 100_000
#: The download's ``since`` when none is given.
DOWNLOAD_SINCE = "1h"


@dataclass(frozen=True, slots=True)
class Filters:
    """Which events to show: all of them where a field is None."""

    event: str | None = None
    job_type: str | None = None
    job_id: str | None = None

    def matches(self, event: JobEvent) -> bool:
        """Whether the event passes every filter given."""
        return (
            self.event in (None, event.event)
            and self.job_type in (None, event.job_type)
            and self.job_id in (None, event.job_id)
        )

    def query(self) -> dict[str, str | None]:
        """The filters as URL parameters."""
        return {"event": self.event, "type": self.job_type, "job": self.job_id}


def filters(request: Request) -> Filters:
    """The filters of the URL; InvalidJob with a line to show for a bad one."""
    params = request.query_params
    event = params.get("event") or None
    if event is not None and event not in EVENT_NAMES:
        raise InvalidJob(f"unknown event {event!r}: use one of {', '.join(EVENT_NAMES)}")
    job_type, job_id = params.get("type") or None, params.get("job") or None
    return Filters(event, job_type and check_type(job_type), job_id and check_id(job_id))


def since_of(text: str | None, now: datetime) -> datetime | None:
    """``since`` as a time: an ISO date or time (UTC unless it has an offset), or a
    duration ago (``15m``, ``2h``); None when empty. InvalidJob otherwise."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        try:
            return now - parse_duration(text)
        except InvalidJob:
            raise InvalidJob(
                f"from: {text!r} is neither a time (2030-01-31T12:00) nor a duration (15m)"
            ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# --- the page -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Replay:
    """The events read from ``since``: matching ones, oldest first; ``stopped`` says which
    bound cut the replay short ("rows", "scan"), None when it reached the present."""

    events: list[JobEvent]
    scanned: int
    stopped: str | None


def events_page(request: Request) -> Response:
    """The live tail, with history from ``since`` first when asked."""
    dash = dashboard_of(request)
    context: dict[str, Any] = {
        "active": "events", "event_names": EVENT_NAMES, "rows": ROWS, "scan": SCAN,
        "params": request.query_params, "error": None, "docs": [], "replay": None,
    }  # fmt: skip
    try:
        wanted = filters(request)
        since = since_of(request.query_params.get("since"), dash.queue.clock.now())
    except InvalidJob as e:
        context["error"] = str(e)
        return render(request, "events.html", context, status=400)
    position = dash.live.position()  # before the data: see stream_url
    replay = None if since is None else read_history(dash, wanted, since)
    context.update(
        replay=replay,
        docs=[_row(dash, e) for e in reversed(replay.events)] if replay else [],
        more=_continue(request, replay),
        download=_download(request, wanted),
    )
    if replay is None or replay.stopped is None:
        context["live_url"] = stream_url(request, "events", position, **wanted.query(),
                                         next=here(request))  # fmt: skip
    return render(request, "events.html", context)


def read_history(dash: Dashboard, wanted: Filters, since: datetime) -> Replay:
    """Replay the log from ``since`` (see the module docstring for the bounds; the time
    bound is the one a search has, ``dash.limits``)."""
    found: list[JobEvent] = []
    scanned = 0
    limits = dash.limits
    deadline = None if limits.seconds is None else limits.timer() + limits.seconds
    stream = dash.queue.events(since, idle_timeout=0)
    try:
        for event in stream:
            scanned += 1
            if wanted.matches(event):
                found.append(event)
            if len(found) >= ROWS:
                return Replay(found, scanned, "rows")
            # The time bound counts once a page's worth is read: a page that shows next
            # to nothing because the machine is slow would be useless.
            if scanned >= SCAN or (scanned >= ROWS and _late(deadline, limits)):
                return Replay(found, scanned, "scan")
    finally:
        _close(stream)
    return Replay(found, scanned, None)


def _late(deadline: float | None, limits: Limits) -> bool:
    """Whether the time bound (``deadline``, None for none) has passed."""
    return deadline is not None and limits.timer() > deadline


def _close(stream: Iterator[JobEvent]) -> None:
    if isinstance(stream, Generator):
        stream.close()  # stops the file log's watch at once


def _row(dash: Dashboard, event: JobEvent) -> dict[str, Any]:
    return {"event": event.event, "at": format_time(event.at), "job_id": event.job_id,
            "job_type": event.job_type, "doc": dash.document(event.job)}  # fmt: skip


def _continue(request: Request, replay: Replay | None) -> str | None:
    """The page that goes on from where a cut replay stopped (its last event's time)."""
    if replay is None or replay.stopped is None:
        return None
    last = replay.events[-1].at if replay.events else None
    if last is None:
        return None
    return url(request, "events", {**request.query_params, "since": format_time(last)})


def _download(request: Request, wanted: Filters) -> str:
    since = request.query_params.get("since") or DOWNLOAD_SINCE
    return url(request, "events_ndjson", {**wanted.query(), "since": since})


def live_event(request: Request, event: JobEvent) -> str | None:
    """The ``events`` view: a new row on top, for events that pass the page's filters."""
    params = request.query_params
    wanted = Filters(params.get("event") or None, params.get("type") or None,
                     params.get("job") or None)  # fmt: skip
    if not wanted.matches(event):
        return None
    dash = dashboard_of(request)
    return fragment(request, "_event_rows.html", {"docs": [_row(dash, event)], "oob": True})


# --- the download ---------------------------------------------------------------------------


def events_ndjson(request: Request) -> Response:
    """The filtered events from ``since`` to now, one JSON object a line (streamed)."""
    dash = dashboard_of(request)
    now = dash.queue.clock.now()
    try:
        wanted = filters(request)
        since = since_of(request.query_params.get("since") or DOWNLOAD_SINCE, now)
    except InvalidJob as e:
        return Response(f"{e}\n", status_code=400, media_type="text/plain")
    assert since is not None  # a default is always given
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        ndjson_lines(dash, wanted, since, now),
        media_type="application/x-ndjson",
        headers={
            "content-disposition": f'attachment; filename="jobqueue-events-{stamp}.ndjson"',
            "cache-control": "no-store",
            "x-jobqueue-max-events": str(DOWNLOAD_ROWS),
        },
    )


def ndjson_lines(dash: Dashboard, wanted: Filters, since: datetime, until: datetime
                 ) -> Iterator[bytes]:  # fmt: skip
    """The download's lines (a plain generator: Starlette runs it in a thread, and
    closes it when the client goes, which closes the log's follow)."""
    stream = dash.queue.events(since, idle_timeout=0)
    sent = 0
    try:
        for event in stream:
            if event.at > until or sent >= DOWNLOAD_ROWS:
                return
            if wanted.matches(event):
                sent += 1
                yield dump_event(event, dash.document) + b"\n"
    finally:
        _close(stream)


ROUTES = (
    Route("/events", events_page, name="events"),
    Route("/events.ndjson", events_ndjson, name="events_ndjson"),
)
NAV = (NavLink("Events", "events"),)
LIVE: tuple[tuple[str, Renderer], ...] = (("events", live_event),)
