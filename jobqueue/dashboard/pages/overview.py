"""``/``: the overview. What the queue holds now (status tiles, each a link to its
list), what it did over a window (``?window=15m|1h|24h|7d``: throughput, error rate and
p95 duration), what needs attention (only what is wrong, each with what to do), and the
recent failures grouped by error, each with "view" (the jobs list, filtered) and "retry
group" (the bulk dialog, prefilled).

Cheap by construction: counts and health come from the dashboard's short caches
(``dash.stats``, ``dash.health``), the charts from the app's one ``History`` (settled
buckets are cached). The queue latency chart reads the event log's samples a second
time, and grouping the failures reads up to ``FAILURES`` failed jobs: each is a request
of its own
(``/overview/latency``, ``/overview/failures``), which htmx loads as soon as the page
is shown, and which without JavaScript is a link to a page.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ...health import DEFAULT_LIMITS, unserved_types, worker_states
from ...history import SPANS, FailureGroup, History, Series, Span, failure_groups
from ...process import hostname
from ..charts import Formatter, Kind, chart, plain
from ..context import NavLink, Renderer, dashboard_of
from ..formatting import span as duration
from ..shell import command
from ..templating import fragment, render, url

DEFAULT_WINDOW = "1h"
#: Failed jobs read to group the recent failures (newest first).
FAILURES = 1000
#: Failure groups shown.
GROUPS = 20
_PLACEHOLDER = re.compile(r"<(?:n|id|uuid|time|hex)>")


def overview_page(request: Request) -> Response:
    """The overview (a plain GET: the window switch is a set of links)."""
    dash = dashboard_of(request)
    window = _window(request)
    health, stats = dash.health.get(), dash.stats.get()
    return render(request, "overview.html", {
        "active": "overview", "window": window, "windows": _windows(request, window),
        "health": health, "tiles": tiles(request, stats),
        "charts": series_charts(history_of(request).series(window)),
        "latency_url": url(request, "overview_latency", {"window": window}),
        "failures_url": url(request, "overview_failures", {"window": window}),
        "attention": attention(request, health, stats),
    })  # fmt: skip


def latency_part(request: Request) -> Response:
    """The queue latency charts (see ``part``)."""
    window = _window(request)
    series = history_of(request).latency(window)
    labels = bucket_labels(series)
    return part(request, "_latency.html", "Queue latency", {
        "window": window,
        "charts": [
            _chart("latency-p95", "Queue latency p95 (due to started)",
                   [b.p95_s for b in series.buckets], "line", labels, duration),
            _chart("latency-p50", "Queue latency p50",
                   [b.p50_s for b in series.buckets], "line", labels, duration),
        ],
        "started": sum(b.started or 0 for b in series.buckets),
    })  # fmt: skip


def failures_part(request: Request) -> Response:
    """The recent failures grouped by error (see ``part``)."""
    window = _window(request)
    report = failure_groups(dashboard_of(request).queue, SPANS[window].length, limit=FAILURES)
    return part(request, "_failures.html", "Recent failures", {
        "window": window, "report": report,
        "failures": [failure_row(request, g) for g in report.groups[:GROUPS]],
    })  # fmt: skip


def part(request: Request, template: str, title: str, context: dict[str, Any]) -> Response:
    """A part of the overview that is read apart, because it reads more: for htmx (the
    overview loads it at once) the fragment that replaces its placeholder, else a page
    of its own (the placeholder's link, without JavaScript)."""
    if "hx-request" in request.headers:
        return HTMLResponse(fragment(request, template, context))
    return render(request, "overview_part.html", {
        **context, "active": "overview", "part": template, "title": title,
    })  # fmt: skip


def history_of(request: Request) -> History:
    """The app's one History, made by the first request that needs it and kept on the
    app's state: its cache of settled buckets is what makes the charts cheap. (Two first
    requests at once may each make one; the last stays, the other is just not reused.)"""
    state = request.app.state
    try:
        found: History = state.jobqueue_history
    except AttributeError:
        found = History(dashboard_of(request).queue)
        state.jobqueue_history = found
    return found


def _window(request: Request) -> str:
    value = request.query_params.get("window", DEFAULT_WINDOW)
    return value if value in SPANS else DEFAULT_WINDOW


def _windows(request: Request, current: str) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "href": url(request, "overview", {"window": name}),
            "current": name == current,
        }
        for name in SPANS
    ]


# --- tiles ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tile:
    """One count of the store: where its list is, or the command that lists it."""

    name: str
    label: str
    count: int
    href: str | None = None
    command: str | None = None


def tiles(request: Request, stats: Mapping[str, int]) -> list[Tile]:
    """The status tiles, in a job's order of life; "pending" split into due and delayed."""
    dash = dashboard_of(request)

    def listed(name: str, label: str, status: str, count: int) -> Tile:
        return Tile(name, label, count, url(request, "jobs", {"status": status}))

    return [
        listed("due", "Pending, due", "pending", stats["pending"] - stats["delayed"]),
        listed("delayed", "Delayed", "pending", stats["delayed"]),
        *(listed(s, s.capitalize(), s, stats[s]) for s in ("running", "complete", "failed")),
        listed("cancelled", "Cancelled", "cancelled", stats["cancelled"]),
        Tile("quarantined", "Quarantined files", stats.get("quarantined", 0),
             command=command(dash, "quarantine", "list")),
    ]  # fmt: skip


# --- charts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart of a window: its SVG (made by ``charts.chart``, escaped there) and the
    latest value as text, for the caption."""

    name: str
    title: str
    svg: Markup
    latest: str


def series_charts(series: Series[Any]) -> list[Chart]:
    """Throughput, error rate and p95 duration per bucket of the window."""
    labels = bucket_labels(series)
    buckets = series.buckets
    rates = [None if not b.finished else b.error_rate for b in buckets]
    return [
        _chart("throughput", "Throughput (jobs/min)",
               [b.throughput_per_minute for b in buckets], "bars", labels, plain),
        _chart("error-rate", "Error rate", rates, "line", labels, _percent, top=1.0),
        _chart("p95-duration", "p95 duration",
               [b.p95_duration_s for b in buckets], "line", labels, duration),
    ]  # fmt: skip


def _chart(
    name: str, title: str, values: Sequence[float | None], kind: Kind, labels: Sequence[str],
    fmt: Formatter, top: float | None = None,
) -> Chart:  # fmt: skip
    svg = chart(values, kind=kind, labels=labels, title=title, fmt=fmt, top=top,
                css_class=f"chart-{name}")  # fmt: skip
    latest = next((fmt(v) for v in reversed(values) if v is not None), "no data")
    return Chart(name, title, Markup(svg), latest)  # charts.chart escaped its text


def _percent(value: float) -> str:
    return f"{value:.1%}"


def bucket_labels(series: Series[Any]) -> list[str]:
    """Each bucket's start, as precise as its width needs (UTC)."""
    return [bucket_label(b.start, series.span) for b in series.buckets]


def bucket_label(start: datetime, span: Span) -> str:
    """``12:30:30`` for sub-minute buckets, ``12:30`` within a day, ``Mon 12:00`` beyond."""
    if span.width < timedelta(minutes=1):
        return start.strftime("%H:%M:%S")
    return start.strftime("%H:%M" if span.length <= timedelta(days=1) else "%a %H:%M")


# --- needs attention ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attention:
    """One thing that is wrong, and what to do about it: a page, or a command."""

    kind: str
    message: str
    href: str | None = None
    link: str = ""
    command: str | None = None


def attention(
    request: Request, health: Mapping[str, Any], stats: Mapping[str, int]
) -> list[Attention]:
    """Only what is wrong (bull-board's principle), from the health facts and counts."""
    if health.get("queue_depth") is None:  # the store cannot be read
        return [Attention("store", reason) for reason in health.get("reasons", ())]
    found = _worker_trouble(request, health)
    found += _backlog_trouble(request, health, stats)
    found += failing_types(request)
    return found


def _worker_trouble(request: Request, health: Mapping[str, Any]) -> list[Attention]:
    dash = dashboard_of(request)
    workers = url(request, "workers")
    found = []
    if health["queue_depth"] and not health["active_workers"]:
        found.append(Attention(
            "no-worker", f"{_due(health['queue_depth'])} and no worker is alive",
            workers, "Workers", command(dash, "worker", "MODULE:WORKER"),
        ))  # fmt: skip
    if health["stale_workers"]:
        found.append(Attention(
            "stale-workers",
            f"{_plural(health['stale_workers'], 'stale worker record')} (killed or silent)",
            workers, "Workers", command(dash, "reap"),
        ))  # fmt: skip
    return found


def _backlog_trouble(
    request: Request, health: Mapping[str, Any], stats: Mapping[str, int]
) -> list[Attention]:
    dash = dashboard_of(request)
    pending = url(request, "jobs", {"status": "pending"})
    found = []
    if health["oldest_due_wait_s"] > DEFAULT_LIMITS.max_wait_s:
        waited = duration(health["oldest_due_wait_s"])
        found.append(Attention("slow", f"the oldest due job has waited {waited}", pending,
                               "Pending jobs"))  # fmt: skip
    if stats.get("quarantined"):
        found.append(Attention(
            "quarantined",
            f"{_plural(stats['quarantined'], 'job file')} quarantined (unreadable)",
            command=command(dash, "quarantine", "list"),
        ))  # fmt: skip
    if health["status"] != "healthy" and health["queue_depth"] and health["active_workers"]:
        for job_type in _unserved(request):
            found.append(Attention(
                "unserved", f"due jobs of type {job_type} wait: no live worker serves it",
                url(request, "jobs", {"status": "pending", "q": f"type:{job_type}"}), "Its jobs",
            ))  # fmt: skip
    return found


def _plural(n: int, thing: str) -> str:
    return f"{n:,} {thing}{'' if n == 1 else 's'}"


def _due(n: int) -> str:
    return f"{_plural(n, 'due job')} {'waits' if n == 1 else 'wait'}"


def _unserved(request: Request) -> list[str]:
    """The types of due jobs no live worker serves, as ``queue.health()`` finds them
    (its reason names them in a sentence; here each gets its own link)."""
    queue = dashboard_of(request).queue
    now = queue.clock.now()
    states = worker_states(queue.backend.workers.all(), now, hostname())
    return unserved_types(queue.backend.jobs, states, now, [t.type for t in queue.tasks])


def failing_types(request: Request) -> list[Attention]:
    """Job types most of whose jobs failed in health's error window (15 minutes)."""
    limits = DEFAULT_LIMITS
    by_type = dashboard_of(request).queue.metrics(limits.error_window)["by_type"]
    window = duration(limits.error_window.total_seconds())
    return [
        Attention(
            "failing-type",
            f"type {name}: {m['failed']} of {m['finished']} jobs finished in the last "
            f"{window} failed ({m['error_rate']:.0%})",
            url(request, "jobs", {"status": "failed", "q": f"type:{name}"}), "Its failures",
        )
        for name, m in sorted(by_type.items(), key=lambda item: -item[1]["error_rate"])
        if m["failed"] and m["error_rate"] > limits.max_error_rate
    ]  # fmt: skip


# --- failures grouped by error ----------------------------------------------------------------


def failure_row(request: Request, group: FailureGroup) -> dict[str, Any]:
    """A failure group with its links: its jobs, and the bulk retry of them."""
    q = group_query(group)
    return {
        "group": group,
        "view": url(request, "jobs", {"status": "failed", "q": q}),
        "retry": url(request, "bulk", {"action": "retry", "status": "failed", "q": q}),
    }


def group_query(group: FailureGroup) -> str:
    """A jobs search for the group: its type, its error type, and the longest part of its
    message that is the same in every failure (the search has no placeholders)."""
    words = [f"type:{group.job_type}", f"error:{group.error_type}"]
    fixed = max((part.strip() for part in _PLACEHOLDER.split(group.pattern)), key=len, default="")
    if fixed:
        words.append(f"error:{fixed}")
    return " ".join(shlex.quote(word) for word in words)


ROUTES = (
    Route("/", overview_page, name="overview"),
    Route("/overview/latency", latency_part, name="overview_latency"),
    Route("/overview/failures", failures_part, name="overview_failures"),
)
NAV = (NavLink("Overview", "overview"),)
LIVE: tuple[tuple[str, Renderer], ...] = ()
