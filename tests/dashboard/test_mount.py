"""Mounted under a prefix in a host app, or served behind a proxy's prefix
(``--root-path``): every URL the dashboard writes carries the prefix (design-note trap:
``request.url_for`` would resolve against the host's router)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from jobqueue import JobQueue
from jobqueue.dashboard import create_app

from .live_server import serve
from .sse import connect_url, sse_messages


def links(page: str) -> list[str]:
    return [html.unescape(u) for u in re.findall(r'(?:href|src|action|hx-post)="(/[^"]*)"', page)]


def host_app(dashboard: Any) -> Starlette:
    home = Route("/", lambda request: PlainTextResponse("host"), name="home")
    return Starlette(routes=[home, Mount("/admin/jobs", app=dashboard, name="jobqueue")])


def test_mounted_under_a_prefix(queue: JobQueue, served: Callable[[Any], str]) -> None:
    job = queue.enqueue("resize", {})
    failed = queue.enqueue("crop", {})
    queue.cancel(failed.metadata.id)
    dashboard = create_app(queue, token="t0k")
    client = httpx.Client(base_url=served(host_app(dashboard)), timeout=10)
    assert client.get("/").text == "host"
    handover = client.get("/admin/jobs/jobs?token=t0k")
    assert "Path=/admin/jobs" in handover.headers["set-cookie"]
    assert 'url=/admin/jobs/jobs"' in handover.text
    page = client.get("/admin/jobs/jobs")
    assert page.status_code == 200
    found = links(page.text)
    assert found and all(u.startswith("/admin/jobs/") for u in found), found
    for asset in [u for u in found if "/static/" in u]:
        assert client.get(asset).status_code == 200, asset
    assert client.get(f"/admin/jobs/jobs/{job.metadata.id}").status_code == 200
    back = client.post(f"/admin/jobs/jobs/{failed.metadata.id}/retry")
    assert back.headers["location"] == f"/admin/jobs/jobs/{failed.metadata.id}"
    outside = client.post(f"/admin/jobs/jobs/{job.metadata.id}/cancel", data={"next": "/"})
    assert outside.headers["location"] == f"/admin/jobs/jobs/{job.metadata.id}"  # not the host's
    url = connect_url(page.text)
    assert url.startswith("/admin/jobs/stream?")
    with client.stream("GET", url) as response:
        queue.cancel(failed.metadata.id)
        stream = sse_messages(response)
        next(stream)
        message = next(stream)
    assert f'href="/admin/jobs/jobs/{failed.metadata.id}"' in message["data"]
    client.close()
    dashboard.state.dashboard.live.close()  # a mounted app gets no lifespan from its host


def test_behind_a_proxy_prefix(queue: JobQueue) -> None:
    job = queue.enqueue("resize", {})
    with serve(create_app(queue), root_path="/queue") as base:
        page = httpx.get(base + "/jobs", timeout=10)  # the proxy strips /queue
        assert page.status_code == 200
        found = links(page.text)
        assert found and all(u.startswith("/queue/") for u in found), found
        assert f"/queue/jobs/{job.metadata.id}" in found
