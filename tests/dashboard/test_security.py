"""The dashboard's security rules (design note §3.4), over real HTTP."""

from __future__ import annotations

import base64

import pytest

from jobqueue import JobQueue
from jobqueue.dashboard.security import CSP

from .live_server import Client
from .seed import seed

CROSS = [
    {"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
    {"origin": "http://evil.example"},  # plain http on a LAN: no fetch metadata
    {"sec-fetch-site": "same-site"},  # a sibling subdomain is another site's code
]


@pytest.mark.parametrize("headers", CROSS)
def test_a_cross_site_post_is_refused_and_changes_nothing(
    queue: JobQueue, dashboard: Client, headers: dict[str, str]
) -> None:
    job = queue.enqueue("resize", {})
    response = dashboard().post(f"/jobs/{job.metadata.id}/cancel", headers=headers)
    assert response.status_code == 403
    assert "cross-site" in response.text
    assert queue.get_job(job.metadata.id) == job


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, a script: no ambient credentials
        {"sec-fetch-site": "same-origin", "origin": "https://ignored.example"},
        {"sec-fetch-site": "none"},  # typed in the address bar
    ],
)
def test_a_same_origin_post_or_one_without_browser_headers_passes(
    queue: JobQueue, dashboard: Client, headers: dict[str, str]
) -> None:
    job = queue.enqueue("resize", {})
    response = dashboard().post(f"/jobs/{job.metadata.id}/cancel", headers=headers)
    assert response.status_code == 303
    assert queue.get_job(job.metadata.id).status == "cancelled"  # type: ignore[union-attr]


def test_an_origin_naming_our_host_passes_without_fetch_metadata(
    queue: JobQueue, dashboard: Client
) -> None:
    client = dashboard()
    job = queue.enqueue("resize", {})
    origin = f"http://{client.base_url.host}:{client.base_url.port}"
    assert (
        client.post(f"/jobs/{job.metadata.id}/cancel", headers={"origin": origin}).status_code
        == 303
    )


def test_a_trusted_origin_may_post(queue: JobQueue, dashboard: Client) -> None:
    job = queue.enqueue("resize", {})
    client = dashboard(trusted_origins=["https://proxy.example"])
    headers = {"origin": "https://proxy.example", "sec-fetch-site": "cross-site"}
    assert client.post(f"/jobs/{job.metadata.id}/cancel", headers=headers).status_code == 303


def test_read_only_renders_no_action_and_refuses_every_post(
    queue: JobQueue, dashboard: Client
) -> None:
    ids = seed(queue)
    client = dashboard(read_only=True)
    pages = ["/jobs", *(f"/jobs/{job_id}" for job_id in ids.values())]
    for page in pages:
        html = client.get(page).text
        assert 'data-testid="read-only-banner"' in html
        assert '<form method="post"' not in html and "hx-post" not in html, page
    for status, job_id in ids.items():
        for action in ("retry", "cancel", "delete", "anything"):
            response = client.post(f"/jobs/{job_id}/{action}")
            assert response.status_code == 403, (status, action)
            assert "read-only" in response.text
    assert queue.get_job(ids["pending"]).status == "pending"  # type: ignore[union-attr]
    assert queue.get_job(ids["failed"]).status == "failed"  # type: ignore[union-attr]


def test_every_response_carries_the_security_headers(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    for path in ("/jobs", "/static/dashboard.css", "/health.json", "/nothing-here"):
        response = client.get(path)
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert "'unsafe-inline'" not in CSP and "script-src" not in CSP  # default-src 'self' only


def test_pages_have_no_inline_script_or_style(queue: JobQueue, dashboard: Client) -> None:
    ids = seed(queue)
    client = dashboard()
    for page in ["/jobs", *(f"/jobs/{job_id}" for job_id in ids.values())]:
        html = client.get(page).text
        assert "<style" not in html and " style=" not in html, page
        assert "hx-on" not in html, page
        scripts = html.count("<script")
        assert scripts == html.count("<script src="), page


def test_user_data_is_escaped(queue: JobQueue, dashboard: Client) -> None:
    ids = seed(queue)  # the failed job's message holds <b>pixel</b>
    job = queue.enqueue("resize", {"name": "<script>alert(1)</script>"})
    client = dashboard()
    for page in (f"/jobs/{job.metadata.id}", f"/jobs/{ids['failed']}", "/jobs"):
        html = client.get(page).text
        assert "<script>alert" not in html and "<b>pixel</b>" not in html, page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(f"/jobs/{job.metadata.id}").text


# --- authentication ------------------------------------------------------------------------


def test_a_token_is_required_and_swapped_for_a_strict_cookie(
    queue: JobQueue, dashboard: Client
) -> None:
    client = dashboard(token="s3cret")
    assert client.get("/jobs").status_code == 401
    assert client.get("/health.json").status_code == 401
    assert client.get("/jobs?token=wrong").status_code == 401
    handover = client.get("/jobs?token=s3cret&status=failed")
    assert handover.status_code == 200
    assert 'content="0;url=/jobs?status=failed"' in handover.text  # the token leaves the URL
    cookie = handover.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert client.get("/jobs?status=failed").status_code == 200  # the cookie now
    assert "s3cret" not in client.get("/jobs").text


def test_a_bearer_token_works_without_a_cookie(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard(token="s3cret")
    assert client.get("/jobs", headers={"authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/jobs", headers={"authorization": "Bearer nope"}).status_code == 401


def test_basic_auth_is_required_when_set(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard(basic="admin:pa:ss")
    refused = client.get("/jobs")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic ")
    assert client.get("/jobs", auth=("admin", "wrong")).status_code == 401
    assert client.get("/jobs", auth=("root", "pa:ss")).status_code == 401
    assert client.get("/jobs", auth=("admin", "pa:ss")).status_code == 200
    garbage = {"authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()}
    assert client.get("/jobs", headers=garbage).status_code == 401


def test_auth_does_not_switch_off_the_cross_origin_check(
    queue: JobQueue, dashboard: Client
) -> None:
    job = queue.enqueue("resize", {})
    client = dashboard(basic=("admin", "pw"))
    headers = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
    response = client.post(f"/jobs/{job.metadata.id}/cancel", auth=("admin", "pw"), headers=headers)
    assert response.status_code == 403


def test_token_and_basic_together_are_refused(queue: JobQueue) -> None:
    from jobqueue.dashboard import create_app
    from jobqueue.errors import InvalidOption

    with pytest.raises(InvalidOption, match="not both"):
        create_app(queue, token="t", basic="a:b")
    with pytest.raises(InvalidOption, match="USER:PASS"):
        create_app(queue, basic="nopassword")
