"""The events page: the live tail, its filters, history from a "from" time (bounded),
and the NDJSON download with the keys ``jobqueue events --json`` prints."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from jobqueue import JobQueue
from jobqueue.cli._render_monitor import event_json
from jobqueue.codec import format_time
from jobqueue.dashboard.pages import events as events_page

from .live_server import Client
from .markup import elements, one, text
from .seed import seed
from .sse import connect_url, sse_messages


def rows(html: str) -> list[tuple[str, str]]:
    """(event, job id) of the table's rows, top first."""
    return [(r["data-event"], r["data-job-id"]) for r in elements(html, "event-row")]


def since(queue: JobQueue, ago: timedelta = timedelta(hours=1)) -> str:
    return format_time(queue.clock.now() - ago)


def test_history_filters_and_download_on_every_backend(
    any_queue: JobQueue, dashboard: Client
) -> None:
    start = since(any_queue)
    ids = seed(any_queue)
    client = dashboard(any_queue)
    page = client.get("/events", params={"since": start})
    assert page.status_code == 200
    shown = rows(page.text)
    logged = [
        (e.event, e.job_id)
        for e in any_queue.events(any_queue.clock.now() - timedelta(hours=1), idle_timeout=0)
    ]
    assert shown == logged[::-1]  # newest on top
    assert ("failed", ids["failed"]) in shown and ("cancelled", ids["cancelled"]) in shown
    assert "then live" in text(page.text, "events-scope")
    assert connect_url(page.text).startswith("/stream?view=events&after=")
    failed = client.get("/events", params={"since": start, "event": "failed"})
    assert rows(failed.text) == [("failed", ids["failed"])]
    crop = client.get("/events", params={"since": start, "type": "crop"})
    assert {job for _, job in rows(crop.text)} == {ids["failed"]}
    one_job = client.get("/events", params={"since": start, "job": ids["running"]})
    assert [e for e, _ in rows(one_job.text)] == ["progress", "started", "created"]
    download = client.get("/events.ndjson", params={"since": start})
    assert download.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in download.headers["content-disposition"]
    lines = download.text.splitlines()
    cli = [
        event_json(e)
        for e in any_queue.events(any_queue.clock.now() - timedelta(hours=1), idle_timeout=0)
    ]
    assert [orjson.loads(line) for line in lines] == [orjson.loads(line) for line in cli]
    assert set(orjson.loads(lines[0])) == {"event", "job_id", "job_type", "at", "job"}


def test_the_download_is_filtered_and_bounded(queue: JobQueue, dashboard: Client) -> None:
    start = since(queue)
    ids = seed(queue)
    client = dashboard()
    failed = client.get("/events.ndjson", params={"since": start, "type": "crop"})
    docs = [orjson.loads(line) for line in failed.text.splitlines()]
    assert {d["job_id"] for d in docs} == {ids["failed"]}
    assert [d["event"] for d in docs] == ["created", "started", "retrying", "started", "failed"]
    future = client.get("/events.ndjson", params={"since": "2999-01-01T00:00:00Z"})
    assert future.status_code == 200 and future.text == ""
    default = client.get("/events.ndjson")  # from an hour ago
    assert len(default.text.splitlines()) == len(
        list(queue.events(queue.clock.now() - timedelta(hours=1), idle_timeout=0))
    )
    assert client.get("/events.ndjson", params={"event": "nope"}).status_code == 400


def test_the_download_stops_at_its_cap(
    queue: JobQueue, dashboard: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(queue)
    monkeypatch.setattr(events_page, "DOWNLOAD_ROWS", 3)
    download = dashboard().get("/events.ndjson", params={"since": since(queue)})
    assert len(download.text.splitlines()) == 3
    assert download.headers["x-jobqueue-max-events"] == "3"


def test_the_live_tail_prepends_matching_events(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    page = client.get("/events", params={"type": "resize"})
    assert rows(page.text) == [] and text(page.text, "no-events") == "No event yet."
    assert "Live: new events appear on top" in text(page.text, "events-scope")
    url = connect_url(page.text)
    assert "type=resize" in url
    with client.stream("GET", url) as response:
        queue.enqueue("mail", {})  # another type: not sent
        job = queue.enqueue("resize", {"path": "<b>x</b>"})
        stream = sse_messages(response)
        message = next(m for m in stream if "data" in m)
    assert message["data"].startswith('<tbody hx-swap-oob="afterbegin:#event-rows">')
    assert rows(message["data"]) == [("created", job.metadata.id)]
    assert "mail" not in message["data"]


def test_history_is_bounded_and_says_so(
    queue: JobQueue, dashboard: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = since(queue)
    seed(queue)
    monkeypatch.setattr(events_page, "ROWS", 3)
    client = dashboard()
    page = client.get("/events", params={"since": start})
    assert len(rows(page.text)) == 3
    scope = text(page.text, "events-scope")
    assert "stopped at the first 3 matching events" in scope and "Not live" in scope
    assert "hx-sse:connect" not in page.text  # new events would land above a gap
    more = one(page.text, "events-continue")["href"]
    assert more.startswith("/events?since=")
    assert len(rows(client.get(more).text)) == 3
    monkeypatch.setattr(events_page, "SCAN", 2)
    scanned = client.get("/events", params={"since": start, "event": "failed"})
    assert rows(scanned.text) == [] and "stopped after reading 2 events" in scanned.text


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"event": "<script>alert(1)</script>"}, "unknown event '<script>alert(1)</script>'"),
        ({"type": "../x"}, "job type"),
        ({"job": "a/b"}, "job id"),
        ({"since": "<i>last week</i>"}, "from: '<i>last week</i>' is neither a time"),
    ],
)
def test_bad_filters_are_refused_and_escaped(
    queue: JobQueue, dashboard: Client, params: dict[str, str], fragment: str
) -> None:
    page = dashboard().get("/events", params=params)
    assert page.status_code == 400
    assert fragment in text(page.text, "filter-error")  # said, as text:
    assert "<script>alert" not in page.text and "<i>last" not in page.text  # escaped


def test_a_time_without_offset_is_utc_and_a_duration_is_ago() -> None:
    from datetime import UTC, datetime

    now = datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert events_page.since_of("2030-01-01T10:00", now) == datetime(2030, 1, 1, 10, tzinfo=UTC)
    assert events_page.since_of("15m", now) == now - timedelta(minutes=15)
    assert events_page.since_of("", now) is None


def test_redaction_reaches_the_rows_the_tail_and_the_download(
    queue: JobQueue, dashboard: Client
) -> None:
    def redact(doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "params": {"hidden": True}}

    start = since(queue)
    queue.enqueue("resize", {"password": "hunter2"})
    client = dashboard(redact=redact)
    assert "hunter2" not in client.get("/events.ndjson", params={"since": start}).text
    docs = [
        orjson.loads(line)
        for line in client.get("/events.ndjson", params={"since": start}).text.splitlines()
    ]
    assert docs[0]["job"]["params"] == {"hidden": True}
    page = client.get("/events", params={"since": start})
    assert "hunter2" not in page.text and rows(page.text)
