"""What every route of one dashboard shares: its queue, its mode, its templates and its
live feed, in one ``Dashboard`` stored on the app (``app.state.dashboard``).

Routes reach it with ``dashboard_of(request)``: inside a mounted app Starlette sets
``scope["app"]`` to the dashboard itself, so several dashboards (on several queues)
can live in one host app without sharing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jinja2
from starlette.requests import HTTPConnection, Request

from ..codec import to_document
from ..events import JobEvent
from ..job import Job
from ..search import Limits
from .cache import Recent

if TYPE_CHECKING:
    from ..queue import JobQueue
    from .live import LiveFeed

#: Given a job's document (what ``jobqueue show --json`` prints, a fresh dict), returns
#: the document to display: hide secrets in params, results or error messages.
Redact = Callable[[dict[str, Any]], dict[str, Any]]
#: Renders one job event for one open page of a live view (see ``pages``): the
#: ``hx-swap-oob`` fragments to send, or None when that page does not show the job.
Renderer = Callable[[Request, JobEvent], str | None]


@dataclass(frozen=True, slots=True)
class NavLink:
    """One entry of the header's navigation: its label and its route's name."""

    label: str
    route: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Dashboard:
    """One dashboard app's shared state (see the module docstring)."""

    queue: JobQueue
    read_only: bool
    redact: Redact | None
    templates: jinja2.Environment
    live: LiveFeed
    nav: tuple[NavLink, ...]
    #: The live views pages subscribe to (``/stream?view=NAME``), by name.
    views: Mapping[str, Renderer]
    title: str
    #: How much a search reads for one page before saying "≥ N" (``jobqueue.search``).
    limits: Limits
    #: The header badge's health verdict, read at most every few seconds.
    health: Recent[dict[str, Any]]
    #: ``queue.stats()`` for the status tabs, read at most every second or two, and
    #: forgotten when this dashboard changes a job.
    stats: Recent[dict[str, int]]

    def document(self, job: Job) -> dict[str, Any]:
        """The job as the dashboard shows it: its document, through ``redact``. Every
        page, fragment, search and download goes through here, so nothing escapes it."""
        doc = to_document(job)
        return doc if self.redact is None else self.redact(doc)


def dashboard_of(connection: HTTPConnection) -> Dashboard:
    """The Dashboard of the app serving this request (or websocket/stream)."""
    found = connection.app.state.dashboard
    if not isinstance(found, Dashboard):
        raise RuntimeError("this route belongs to a jobqueue dashboard app (create_app)")
    return found
