"""The workers page: the registry with stale records flagged, the empty state, and the
reap action with its preview."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from jobqueue import JobQueue
from jobqueue.backend import WorkerRecord

from .live_server import Client
from .markup import elements, one, text
from .seed import run


def record(name: str, *, beat_ago: float, running: tuple[str, ...] = ()) -> WorkerRecord:
    """A worker on another host that last beat ``beat_ago`` seconds ago."""
    now = datetime.now(UTC)
    return WorkerRecord(name=name, host="elsewhere", pid=77, pid_started=None,
                        started_at=now - timedelta(hours=2),
                        heartbeat_at=now - timedelta(seconds=beat_ago), concurrency=4,
                        running=running)  # fmt: skip


def lost_job(queue: JobQueue) -> str:
    """A running job whose worker (on another host) has been silent for five minutes."""
    job_id = queue.enqueue("encode", {}).metadata.id
    run(queue, "encode", lambda j: replace(j, heartbeat_at=j.heartbeat_at - timedelta(minutes=5)))
    return job_id


def test_the_registry_on_every_backend(any_queue: JobQueue, dashboard: Client) -> None:
    lost = lost_job(any_queue)
    any_queue.backend.workers.put(record("alive", beat_ago=1, running=(lost,)))
    any_queue.backend.workers.put(record("hung", beat_ago=600))
    client = dashboard(any_queue)
    page = client.get("/workers")
    assert page.status_code == 200
    rows = {row["data-worker-id"]: row for row in elements(page.text, "worker-row")}
    assert {name: row["data-stale"] for name, row in rows.items()} == {
        "alive": "false", "hung": "true",
    }  # fmt: skip
    assert rows["alive"]["id"] == "worker-row-alive"
    assert "elsewhere" in rows["alive"]["text"] and lost in rows["alive"]["text"]
    assert f'href="/jobs/{lost}"' in page.text
    assert [e["text"] for e in elements(page.text, "stale")] == ["stale"]
    assert [e["data-job-id"] for e in elements(page.text, "lost-job")] == [lost]
    assert "jobqueue --store" in text(page.text, "reap") and "reap --stale-after 30s" in page.text
    reaped = client.post("/workers/reap", data={"next": "/workers"})
    assert (reaped.status_code, reaped.headers["location"]) == (303, "/workers?reaped=1")
    assert any_queue.get_job(lost).status == "pending"  # type: ignore[union-attr]
    after = client.get(reaped.headers["location"])
    assert text(after.text, "notice") == "reaped 1 job"
    assert elements(after.text, "lost-job") == []


def test_an_htmx_reap_answers_with_the_panel(queue: JobQueue, dashboard: Client) -> None:
    lost = lost_job(queue)
    answer = dashboard().post("/workers/reap", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert one(answer.text, "workers-panel")["id"] == "workers-panel"
    assert text(answer.text, "notice") == f"reaped 1 job: {lost} → pending"


def test_a_live_workers_job_is_not_reaped(queue: JobQueue, dashboard: Client) -> None:
    job_id = queue.enqueue("encode", {}).metadata.id
    run(queue, "encode", lambda j: j)  # just claimed: its heartbeat is fresh
    client = dashboard()
    page = client.get("/workers")
    assert text(page.text, "reap-preview").startswith("No running job has lost its worker")
    assert client.post("/workers/reap").status_code == 303
    assert queue.get_job(job_id).status == "running"  # type: ignore[union-attr]


def test_no_live_worker_is_said_plainly(queue: JobQueue, dashboard: Client) -> None:
    queue.enqueue("resize", {})
    queue.enqueue("resize", {})
    queue.enqueue("resize", {}, delay=3600)  # not due: not waiting yet
    page = dashboard().get("/workers")
    assert text(page.text, "no-workers") == "No live worker; 2 due jobs waiting."
    assert text(page.text, "no-worker-records") == "No worker is registered."


def test_read_only_hides_reap_and_refuses_it(queue: JobQueue, dashboard: Client) -> None:
    lost = lost_job(queue)
    client = dashboard(read_only=True)
    page = client.get("/workers")
    assert elements(page.text, "action-reap") == [] and elements(page.text, "lost-job")
    assert client.post("/workers/reap").status_code == 403
    assert queue.get_job(lost).status == "running"  # type: ignore[union-attr]


def test_a_cross_site_reap_is_refused(queue: JobQueue, dashboard: Client) -> None:
    lost = lost_job(queue)
    client = dashboard()
    answer = client.post("/workers/reap", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert queue.get_job(lost).status == "running"  # type: ignore[union-attr]
    outside = client.post("/workers/reap", data={"next": "//evil.example/x"})
    assert outside.headers["location"] == "/workers?reaped=1"  # never another site


def test_hostile_worker_names_are_escaped(queue: JobQueue, dashboard: Client) -> None:
    queue.backend.workers.put(record("<img src=x onerror=alert(1)>", beat_ago=1))
    page = dashboard().get("/workers")
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
