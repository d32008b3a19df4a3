"""The jobs list and the job page, with their actions, on every backend."""

from __future__ import annotations

import re

import httpx

from jobqueue import JobQueue

from .live_server import Client
from .seed import seed


def rows(html: str) -> list[str]:
    """The job ids of the list's rows, in page order."""
    return re.findall(r'data-testid="job-row" data-job-id="([^"]+)"', html)


def test_every_page_renders_on_every_backend(any_queue: JobQueue, dashboard: Client) -> None:
    ids = seed(any_queue)
    client = dashboard(any_queue)
    listing = client.get("/jobs")
    assert listing.status_code == 200
    assert sorted(rows(listing.text)) == sorted(ids.values())
    assert 'data-testid="progress"' in listing.text  # the running job's bar
    assert '<progress max="100" value="40' in listing.text
    for status, job_id in ids.items():
        page = client.get(f"/jobs/{job_id}")
        assert page.status_code == 200, status
        assert f'data-status="{status}"' in page.text
        assert rows(client.get(f"/jobs?status={status}").text) == [job_id]
    health = client.get("/health.json")
    assert health.status_code in (200, 503) and health.json()["status"] in (
        "healthy", "degraded", "unhealthy",
    )  # fmt: skip


def test_actions_change_the_job_on_every_backend(any_queue: JobQueue, dashboard: Client) -> None:
    ids = seed(any_queue)
    client = dashboard(any_queue)
    back = client.post(f"/jobs/{ids['failed']}/retry", data={"next": "/jobs?status=failed"})
    assert (back.status_code, back.headers["location"]) == (303, "/jobs?status=failed")
    assert any_queue.get_job(ids["failed"]).status == "pending"  # type: ignore[union-attr]
    assert client.post(f"/jobs/{ids['pending']}/cancel", data={"reason": "no"}).status_code == 303
    cancelled = any_queue.get_job(ids["pending"])
    assert cancelled is not None and cancelled.status == "cancelled"
    assert cancelled.reason == "no"  # type: ignore[union-attr]
    deleted = client.post(
        f"/jobs/{ids['complete']}/delete", data={"next": f"/jobs/{ids['complete']}"}
    )
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/jobs")
    assert any_queue.get_job(ids["complete"]) is None
    running = client.post(f"/jobs/{ids['running']}/cancel")
    assert running.status_code == 303  # asked: the worker stops it
    assert client.get(f"/jobs/{ids['complete']}").status_code == 404


def test_delete_removes_only_ended_jobs(any_queue: JobQueue) -> None:
    ids = seed(any_queue)
    for status in ("pending", "running"):
        assert any_queue.delete(ids[status]) is False
        assert any_queue.get_job(ids[status]) is not None
    for status in ("complete", "failed", "cancelled"):
        assert any_queue.delete(ids[status]) is True
        assert any_queue.get_job(ids[status]) is None
        assert any_queue.delete(ids[status]) is False  # gone already
    assert any_queue.stats()["total"] == 2


def test_a_refused_action_says_why_and_changes_nothing(queue: JobQueue, dashboard: Client) -> None:
    ids = seed(queue)
    client = dashboard()
    for status, action in [("pending", "retry"), ("running", "delete"), ("complete", "cancel")]:
        response = client.post(f"/jobs/{ids[status]}/{action}")
        assert response.status_code == 409, (status, action)
        assert 'data-testid="refused"' in response.text
        assert queue.get_job(ids[status]).status == status  # type: ignore[union-attr]
    assert client.post("/jobs/nope-0/retry").status_code == 404
    assert client.post(f"/jobs/{ids['failed']}/explode").status_code == 404
    assert client.get(f"/jobs/{ids['failed']}/retry").status_code == 405  # no GET changes


def test_an_htmx_action_answers_with_the_fragment_it_replaces(
    queue: JobQueue, dashboard: Client
) -> None:
    ids = seed(queue)
    client = dashboard()
    hx = {"hx-request": "true"}
    row = client.post(
        f"/jobs/{ids['failed']}/retry", data={"view": "row", "next": "/jobs"}, headers=hx
    )
    assert row.status_code == 200
    assert row.text.lstrip().startswith(f'<tr id="job-row-{ids["failed"]}"')
    assert "retried" in row.text and "status-pending" in row.text
    summary = client.post(f"/jobs/{ids['pending']}/cancel", data={"view": "job"}, headers=hx)
    assert summary.status_code == 200 and 'id="job-summary"' in summary.text
    assert 'data-status="cancelled"' in summary.text and "action-retry" in summary.text
    refused = client.post(f"/jobs/{ids['complete']}/cancel", data={"view": "row"}, headers=hx)
    assert refused.status_code == 409 and "cannot cancel" in refused.text
    assert f'id="job-row-{ids["complete"]}"' in refused.text  # the row stays, with the reason
    gone = client.post(f"/jobs/{ids['complete']}/delete", data={"view": "job"}, headers=hx)
    assert gone.headers["hx-redirect"] == "/jobs"


def test_next_never_leaves_the_dashboard(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    for hostile in ("https://evil.example/", "//evil.example/jobs", "/\\evil.example", "jobs"):
        job = queue.enqueue("resize", {})
        response = client.post(f"/jobs/{job.metadata.id}/cancel", data={"next": hostile})
        assert response.headers["location"] == f"/jobs/{job.metadata.id}", hostile


def test_the_job_page_shows_its_history(queue: JobQueue, dashboard: Client) -> None:
    ids = seed(queue)
    client = dashboard()
    failed = client.get(f"/jobs/{ids['failed']}").text
    assert "ValueError: bad &lt;b&gt;pixel&lt;/b&gt;" in failed
    assert failed.count('data-testid="attempt"') == 2
    assert "same error as attempt 1" in failed
    assert "Traceback: line 1" in failed
    assert "attempt 1 started" in failed and "attempt 2 failed" in failed
    assert "worker-7 on test-host (pid 4242)" in failed
    assert f"jobqueue --store {queue.location} retry {ids['failed']}" in failed
    assert "c.png" in failed  # params
    complete = client.get(f"/jobs/{ids['complete']}").text
    assert "&#34;width&#34;: 640" in complete and 'data-testid="result"' in complete
    assert "attempt 1 succeeded" in complete
    running = client.get(f"/jobs/{ids['running']}").text
    assert "40% encoding: d.mp4" in running and "action-cancel" in running
    assert "action-retry" not in running and "action-delete" not in running
    cancelled = client.get(f"/jobs/{ids['cancelled']}").text
    assert (
        "not needed" in cancelled and "action-retry" in cancelled and "action-delete" in cancelled
    )


def test_a_missing_or_malformed_job(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    missing = client.get("/jobs/20300101T000000000000Z-00000000")
    assert missing.status_code == 404 and 'data-testid="job-missing"' in missing.text
    assert client.get("/jobs/..%2F..%2Fetc").status_code in (400, 404)


def test_redact_hides_params_everywhere(queue: JobQueue, dashboard: Client) -> None:
    def redact(doc: dict[str, object]) -> dict[str, object]:
        return {**doc, "params": {"hidden": True}}

    job = queue.enqueue("login", {"password": "hunter2"})
    client = dashboard(redact=redact)
    for page in ("/jobs", f"/jobs/{job.metadata.id}"):
        assert "hunter2" not in client.get(page).text, page
    assert rows(client.get("/jobs?q=params.password:hunter2").text) == []  # cannot be probed


def test_paging_newer_and_older(queue: JobQueue, dashboard: Client) -> None:
    made = [queue.enqueue("resize", {"n": n}).metadata.id for n in range(60)]
    newest = made[::-1]
    client = dashboard()
    first = client.get("/jobs").text
    assert rows(first) == newest[:25]
    assert 'data-testid="page-newer"' not in first
    older = re.search(r'href="([^"]+)" rel="next"', first)
    assert older is not None
    second = client.get(older.group(1).replace("&amp;", "&")).text
    assert rows(second) == newest[25:50]
    third = client.get(f"/jobs?after={newest[49]}").text
    assert rows(third) == newest[50:] and 'rel="next"' not in third
    newer = re.search(r'href="([^"]+)" rel="prev"', third)
    assert newer is not None
    assert rows(client.get(newer.group(1).replace("&amp;", "&")).text) == newest[25:50]
    assert rows(client.get("/jobs?limit=50").text) == newest[:50]
    assert rows(client.get("/jobs?limit=7").text) == newest[:25]  # not a choice: the default


def test_search_filters_the_list(queue: JobQueue, dashboard: Client) -> None:
    ids = seed(queue)
    other = queue.enqueue("resize", {"path": "z.png", "size": 4}).metadata.id
    client = dashboard()

    def found(q: str, **extra: str) -> list[str]:
        response = client.get("/jobs", params={"q": q, **extra})
        assert response.status_code == 200, response.text
        return rows(response.text)

    assert found("type:resize") == [other, ids["pending"]]
    assert found("params.path:a.png") == [ids["pending"]]
    assert found("params.size:4") == [other]
    assert found('error:"bad <b>"') == [ids["failed"]]
    assert found("worker:worker-7") == sorted(
        [ids["failed"], ids["complete"], ids["running"]], reverse=True
    )
    assert found(f"id:{ids['running']}") == [ids["running"]]
    assert found("type:resize", status="pending") == [other, ids["pending"]]
    assert found("type:resize", status="failed") == []
    assert found("created:<1h type:crop") == [ids["failed"]]
    assert found("created:>1h") == []
    assert 'data-testid="match-count"' in client.get("/jobs?q=type:resize").text
    bad = client.get("/jobs", params={"q": "colour:red"})
    assert bad.status_code == 400 and "unknown qualifier colour:" in bad.text


def test_a_capped_search_says_so_and_can_go_on(queue: JobQueue, dashboard: Client) -> None:
    hit = queue.enqueue("needle", {}).metadata.id
    queue.enqueue_many("hay", [{}] * 30)
    client = dashboard(scan_cap=20)
    assert rows(client.get("/jobs", params={"q": "type:needle error:x"}).text) == []
    capped = client.get("/jobs", params={"q": "needle"}).text
    assert rows(capped) == []
    assert "≥ 0" in capped and "scanned the newest 20 jobs" in capped
    assert 'data-testid="scan-capped"' in capped
    more = re.search(r'href="([^"]+)" data-testid="keep-searching"', capped)
    assert more is not None
    assert rows(httpx.get(str(client.base_url) + more.group(1).replace("&amp;", "&")).text) == [hit]


def test_health_json_answers_probes(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    healthy = client.get("/health.json")
    assert healthy.status_code == 200 and healthy.json()["status"] == "healthy"
    assert healthy.headers["cache-control"] == "no-store"
    queue.enqueue("resize", {})  # due, and no worker alive: nothing will run it
    unhealthy = client.get("/health.json")
    assert unhealthy.status_code == 503
    assert unhealthy.json()["status"] == "unhealthy" and unhealthy.json()["reasons"]
