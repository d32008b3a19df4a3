"""The overview: tiles, window switch, charts, the latency fragment, what needs
attention, and the failures grouped by error with their links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobqueue import JobQueue, transitions
from jobqueue.backend import WorkerRecord
from jobqueue.dashboard.pages.overview import group_query
from jobqueue.history import FailureGroup
from jobqueue.job import ErrorInfo
from jobqueue.search import parse

from .live_server import Client
from .markup import elements, one, text
from .seed import run, seed


def counts(html: str) -> dict[str, int]:
    """The tiles' counts by name."""
    found = elements(html, "tiles")[0]
    assert found["tag"] == "ul"
    return {t["data-testid"][5:]: int(t["data-count"]) for t in _tiles(html)}


def _tiles(html: str) -> list[dict[str, str]]:
    names = ("due", "delayed", "running", "complete", "failed", "cancelled", "quarantined")
    return [one(html, f"tile-{name}") for name in names]


def fail(queue: JobQueue, job_type: str, message: str, error_type: str = "KeyError") -> str:
    """A job of ``job_type`` that failed once, for good, with this message."""
    job_id = queue.enqueue(job_type, {}, max_retries=0).metadata.id
    error = ErrorInfo(type=error_type, message=message, traceback="")
    run(queue, job_type, lambda j: transitions.fail(j, error, queue.clock.now(), None))
    return job_id


def test_the_overview_on_every_backend(any_queue: JobQueue, dashboard: Client) -> None:
    seed(any_queue)
    any_queue.enqueue("resize", {}, delay=3600)
    client = dashboard(any_queue)
    page = client.get("/")
    assert page.status_code == 200
    assert counts(page.text) == {"due": 1, "delayed": 1, "running": 1, "complete": 1,
                                 "failed": 1, "cancelled": 1, "quarantined": 0}  # fmt: skip
    assert '<a href="/jobs?status=failed">' in page.text  # each tile links to its list
    for name in ("throughput", "error-rate", "p95-duration"):
        chart = one(page.text, f"chart-{name}")
        assert chart["tag"] == "figure"
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-bars chart-throughput"' in (
        page.text
    )
    assert elements(page.text, "failure-row") == []  # read apart:
    assert one(page.text, "failures")["hx-get"] == "/overview/failures?window=1h"
    (row,) = elements(client.get("/overview/failures?window=1h").text, "failure-row")
    assert row["data-job-type"] == "crop" and "ValueError" in row["text"]


def test_the_parts_read_apart_load_with_htmx_or_as_pages(
    queue: JobQueue, dashboard: Client
) -> None:
    seed(queue)
    client = dashboard()
    page = client.get("/?window=15m")
    latency = one(page.text, "latency")
    assert latency["hx-get"] == "/overview/latency?window=15m"
    assert (latency["hx-trigger"], latency["data-loaded"]) == ("load", "false")
    assert one(page.text, "latency-link")["href"] == "/overview/latency?window=15m"
    plain = client.get("/overview/latency?window=15m")  # no JavaScript: a page of its own
    assert plain.status_code == 200 and plain.text.startswith("<!doctype html>")
    assert one(plain.text, "latency")["data-loaded"] == "true"
    swapped = client.get("/overview/latency?window=15m", headers={"HX-Request": "true"})
    assert not swapped.text.lstrip().startswith("<!doctype")  # the fragment only
    assert one(swapped.text, "latency")["id"] == "latency"  # it replaces the placeholder
    # the attempts that finished a job: not crop's retried one, nor encode's (running)
    assert "2 starts" in text(swapped.text, "latency")
    assert one(swapped.text, "chart-latency-p95")["tag"] == "figure"
    failures = one(page.text, "failures")
    assert (failures["hx-trigger"], failures["data-loaded"]) == ("load", "false")
    assert one(page.text, "failures-link")["href"] == "/overview/failures?window=15m"
    plain = client.get("/overview/failures?window=15m")
    assert plain.text.startswith("<!doctype html>") and elements(plain.text, "failure-row")
    swapped = client.get("/overview/failures?window=15m", headers={"HX-Request": "true"})
    assert one(swapped.text, "failures")["data-loaded"] == "true"
    assert not swapped.text.lstrip().startswith("<!doctype")


def test_the_window_is_in_the_url(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    for window in ("15m", "1h", "24h", "7d"):
        page = client.get(f"/?window={window}")
        assert one(page.text, "charts")["data-window"] == window
        assert one(page.text, f"window-{window}").get("aria-current") == "page"
    hostile = client.get("/?window=<script>alert(1)</script>")
    assert hostile.status_code == 200
    assert one(hostile.text, "charts")["data-window"] == "1h"  # the default
    assert "<script>alert" not in hostile.text


def test_nothing_needs_attention_on_a_quiet_queue(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    page = client.get("/")
    assert elements(page.text, "attention-item") == []
    assert text(page.text, "all-well") == "Nothing needs attention."
    failures = client.get("/overview/failures").text
    assert text(failures, "no-failures") == "No job failed in the last 1h."


def attention(html: str) -> dict[str, dict[str, str]]:
    return {item["data-kind"]: item for item in elements(html, "attention-item")}


def test_needs_attention_lists_what_is_wrong(queue: JobQueue, dashboard: Client) -> None:
    seed(queue)  # a due job and no worker; crop failed its only finished job
    client = dashboard()
    found = attention(client.get("/").text)
    assert set(found) == {"no-worker", "failing-type"}
    assert found["no-worker"]["text"].startswith("1 due job waits and no worker is alive")
    assert "worker MODULE:WORKER" in found["no-worker"]["text"]
    assert (
        "type crop: 1 of 1 jobs finished in the last 15m00s failed"
        in (found["failing-type"]["text"])
    )
    assert 'href="/jobs?status=failed&amp;q=type%3Acrop"' in client.get("/").text


def record(name: str, *, beat_ago: float, types: tuple[str, ...] = ()) -> WorkerRecord:
    """A registry record of a worker on another host that last beat ``beat_ago`` ago."""
    now = datetime.now(UTC)
    return WorkerRecord(name=name, host="elsewhere", pid=1, pid_started=None,
                        started_at=now - timedelta(hours=1),
                        heartbeat_at=now - timedelta(seconds=beat_ago), concurrency=2,
                        types=types)  # fmt: skip


def test_stale_workers_and_unserved_types_need_attention(
    queue: JobQueue, dashboard: Client
) -> None:
    queue.enqueue("resize", {})
    queue.backend.workers.put(record("live", beat_ago=1, types=("thumb",)))
    queue.backend.workers.put(record("gone", beat_ago=600))
    page = dashboard().get("/")
    found = attention(page.text)
    assert set(found) == {"stale-workers", "unserved"}
    assert found["stale-workers"]["text"].startswith("1 stale worker record (killed or silent)")
    assert "reap" in found["stale-workers"]["text"]
    assert found["unserved"]["text"].startswith(
        "due jobs of type resize wait: no live worker serves it"
    )
    assert 'href="/workers"' in page.text


def test_quarantined_files_need_attention(tmp_path: Path, dashboard: Client) -> None:
    queue = JobQueue(tmp_path / "data", durable=False)
    (tmp_path / "data" / "jobs" / "pending" / "broken.json").write_text("{not json")
    queue.query_jobs()  # reading it quarantines it
    page = dashboard(queue).get("/")
    quarantined = attention(page.text)["quarantined"]["text"]
    assert quarantined.startswith("1 job file quarantined (unreadable)")
    assert f"jobqueue --store {queue.location} quarantine list" in quarantined
    assert one(page.text, "tile-quarantined")["data-count"] == "1"
    queue.close()


def test_failures_are_grouped_with_links_that_find_them(queue: JobQueue, dashboard: Client) -> None:
    ids = [fail(queue, "sync", f"no row {n} in table users") for n in (4, 97, 1234)]
    other = fail(queue, "sync", "upstream timed out after 30s", "TimeoutError")
    hostile = fail(queue, "mail", "<script>alert('x')</script> at 0xdeadbeef")
    client = dashboard()
    page = client.get("/overview/failures")
    rows = elements(page.text, "failure-row")
    assert [r["data-job-type"] for r in rows] == ["sync", "mail", "sync"]
    assert "KeyError: no row <n> in table users" in rows[0]["text"]
    assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text
    views = [e["href"] for e in elements(page.text, "failure-view")]
    listed = client.get(views[0])
    assert sorted(_rows(listed.text)) == sorted(ids)  # the group's jobs, not the others
    assert other not in listed.text and hostile not in listed.text
    retry = elements(page.text, "failure-retry")[0]["href"]
    assert retry.startswith("/bulk?action=retry&status=failed&q=")
    dialog = client.get(retry)
    assert one(dialog.text, "bulk-dialog")["data-count"] == "3"


def _rows(html: str) -> list[str]:
    return [row["data-job-id"] for row in elements(html, "job-row")]


T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_a_group_query_keeps_the_fixed_part_of_the_message() -> None:
    group = FailureGroup(
        job_type="sync", error_type="KeyError", pattern="no row <n> in table <id>", count=2,
        first_seen=T0, last_seen=T0, sample_id="x", sample_message="m",
    )  # fmt: skip
    assert group_query(group) == "type:sync error:KeyError 'error:in table'"
    assert parse(group_query(group)).type == "sync"  # the jobs search reads it back
    bare = FailureGroup(
        job_type="sync", error_type="OSError", pattern="<n>", count=1,
        first_seen=T0, last_seen=T0, sample_id="x", sample_message="m",
    )  # fmt: skip
    assert group_query(bare) == "type:sync error:OSError"


def test_read_only_offers_no_retry_group(queue: JobQueue, dashboard: Client) -> None:
    seed(queue)
    page = dashboard(read_only=True).get("/overview/failures")
    assert elements(page.text, "failure-row") and not elements(page.text, "failure-retry")
    assert elements(page.text, "failure-view")
