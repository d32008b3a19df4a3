"""``/metrics``: the queue in Prometheus's text format, for a scraper."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from jobqueue import JobQueue
from jobqueue.prometheus import CONTENT_TYPE

from .live_server import Client
from .seed import seed


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_metrics_on_every_backend(any_queue: JobQueue, dashboard: Client) -> None:
    seed(any_queue)
    answer = dashboard(any_queue).get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == CONTENT_TYPE
    found = samples(answer.text)
    for status in ("pending", "running", "complete", "failed", "cancelled"):
        assert found[("jobqueue_jobs", (("status", status),))] == 1
    assert found[("jobqueue_store_up", ())] == 1
    assert found[("jobqueue_metrics_window_seconds", ())] == 3600


def test_the_window_is_a_parameter(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    found = samples(client.get("/metrics?window=15m").text)
    assert found[("jobqueue_metrics_window_seconds", ())] == 900
    bad = client.get("/metrics?window=<b>soon</b>")
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/plain")


def test_metrics_need_the_same_auth_as_the_pages(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard(token="s3cret")
    assert client.get("/metrics").status_code == 401
    authed = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert authed.status_code == 200
