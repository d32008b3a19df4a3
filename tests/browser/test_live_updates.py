"""Live updates as a user sees them: changes made by OTHER processes (the CLI, a worker)
reach the open pages over SSE; a dropped stream reconnects and resumes where it was."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from dashboard.seed import seed
from playwright.sync_api import Page, Request, Route, expect
from starlette.types import ASGIApp

from jobqueue import JobQueue
from jobqueue.dashboard import create_app

from .browsing import PROCESS_TIMEOUT, Problems, cli, mark, same_document, wait_live
from .cutter import Cutter

#: A worker whose one job reports 20 %, waits for the file ``go1`` next to this module,
#: reports 60 %, waits for ``go2``, and completes: the test sets the pace.
STEPPER = textwrap.dedent(
    """
    import time
    from pathlib import Path

    from jobqueue import JobWorker

    HERE = Path(__file__).parent


    class Stepper(JobWorker):
        def __init__(self, queue, **options):
            super().__init__(queue, **{"poll_interval": 0.05, "heartbeat_interval": 0.2,
                                       **options})

        def execute_job(self, job, ctx):
            for n, percentage in enumerate((20, 60), start=1):
                ctx.report_progress(percentage, stage=f"step {n}")
                deadline = time.monotonic() + 20
                while not (HERE / f"go{n}").exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
            return {"steps": 2}
    """
)


def test_cli_changes_from_another_process_reach_the_open_list(
    page: Page, queue: JobQueue, data_dir: Path, dashboard: Callable[..., str]
) -> None:
    ids = seed(queue)
    page.goto(dashboard() + "/jobs")
    wait_live(page)
    token = mark(page)
    cli(data_dir, "cancel", ids["pending"], "--reason", "from a shell")
    expect(page.locator(f"#job-row-{ids['pending']}").get_by_test_id("status")).to_have_text(
        "cancelled"
    )
    expect(page.get_by_test_id("live-announcer")).to_have_text("1 job changed")
    cli(data_dir, "retry", ids["failed"])
    failed = page.locator(f"#job-row-{ids['failed']}")
    expect(failed.get_by_test_id("status")).to_have_text("pending")
    expect(failed.get_by_test_id("action-cancel")).to_be_visible()  # its actions follow
    assert same_document(page, token)


def test_a_new_job_is_announced_and_shown_on_request(
    page: Page, queue: JobQueue, dashboard: Callable[..., str]
) -> None:
    """Rows already shown change in place; a new one would shift the page under the
    reader, so it is announced with a link that reads the page again."""
    seed(queue)
    page.goto(dashboard() + "/jobs")
    wait_live(page)
    expect(page.get_by_test_id("new-jobs")).to_have_count(0)
    queue.enqueue("newcomer", {"n": 1})  # (the CLI tests above: other processes reach it)
    page.get_by_test_id("show-new-jobs").click()
    expect(page.get_by_test_id("job-row")).to_have_count(6)
    expect(page.get_by_test_id("job-row").first).to_contain_text("newcomer")


def test_a_worker_process_moves_the_progress_bar_and_the_timeline(
    new_page: Callable[..., Page], queue: JobQueue, data_dir: Path, dashboard: Callable[..., str]
) -> None:
    (data_dir.parent / "stepper.py").write_text(STEPPER)
    job_id = queue.enqueue("step", {"of": 2}).metadata.id
    base = dashboard()
    listing, detail = new_page(), new_page()
    listing.goto(base + "/jobs")
    detail.goto(f"{base}/jobs/{job_id}")
    wait_live(listing)
    wait_live(detail)
    worker = subprocess.Popen(
        [sys.executable, "-m", "jobqueue", "--data-dir", str(data_dir), "worker",
         "stepper:Stepper", "--burst"],
        cwd=data_dir.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        row = listing.locator(f"#job-row-{job_id}")
        expect(row.get_by_test_id("progress")).to_contain_text("20% step 1")
        expect(row.locator("progress")).to_have_attribute("value", "20.0")
        summary = detail.get_by_test_id("job-summary")
        expect(summary).to_have_attribute("data-status", "running")
        expect(summary.get_by_test_id("progress")).to_contain_text("20% step 1")
        (data_dir.parent / "go1").touch()
        expect(row.get_by_test_id("progress")).to_contain_text("60% step 2")
        expect(summary.get_by_test_id("progress")).to_contain_text("60% step 2")
        (data_dir.parent / "go2").touch()
        expect(row.get_by_test_id("status")).to_have_text("complete")
        expect(summary).to_have_attribute("data-status", "complete")
        expect(detail.get_by_test_id("changed")).to_contain_text("The job is now complete")
        lines = detail.get_by_test_id("timeline-live")
        expect(lines.first).to_contain_text("started")
        expect(lines.last).to_contain_text("completed")
        output, _ = worker.communicate(timeout=PROCESS_TIMEOUT)
        assert worker.returncode == 0, output
    finally:
        worker.kill()
        worker.wait(PROCESS_TIMEOUT)


def test_a_dropped_stream_reconnects_and_resumes(
    page: Page, queue: JobQueue, served: Callable[[ASGIApp], str], problems: Problems
) -> None:
    ids = seed(queue)
    port = int(served(create_app(queue)).rsplit(":", 1)[1])
    streams: list[Request] = []

    def opened(request: Request) -> None:
        if "/stream" in request.url:
            streams.append(request)

    page.on("request", opened)
    with Cutter(port) as cutter:
        page.goto(cutter.base + "/jobs")
        wait_live(page)
        token = mark(page)
        queue.retry(ids["failed"])  # one event seen: the stream now has a Last-Event-ID
        failed = page.locator(f"#job-row-{ids['failed']}").get_by_test_id("status")
        expect(failed).to_have_text("pending")
        problems.allow("ERR_")  # the browser and htmx log the broken stream
        problems.allow("htmx:sse:error")
        cutter.cut()
        indicator = page.get_by_test_id("live-indicator")
        expect(indicator).to_have_attribute("data-state", "reconnecting")
        queue.cancel(ids["failed"])  # while the page is cut off
        queue.cancel(ids["pending"])
        cutter.mend()
        expect(indicator).to_have_attribute("data-state", "live")
        expect(failed).to_have_text("cancelled")
        pending = page.locator(f"#job-row-{ids['pending']}").get_by_test_id("status")
        expect(pending).to_have_text("cancelled")
        assert same_document(page, token)  # resumed, not reloaded
    resumed = [r for r in streams[1:] if r.all_headers().get("last-event-id")]
    assert resumed, "no reconnect carried Last-Event-ID"


def test_a_stream_that_cannot_resume_reloads_the_page(
    page: Page, queue: JobQueue, dashboard: Callable[..., str]
) -> None:
    """The server lost track (an unknown position: its follower restarted): it sends
    ``reload``, and the page reads itself again, so it shows what it missed."""
    ids = seed(queue)
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/stream?*", hold_the_first)
    page.goto(dashboard() + "/jobs")
    mark(page)
    queue.retry(ids["failed"])
    for _ in range(500):  # the stream connects after the page has loaded
        if held:
            break
        page.wait_for_timeout(20)
    stream = held[0].request.url
    held[0].continue_(url=re.sub(r"after=[^&]+", "after=00000000-0", stream))
    page.wait_for_function("() => window.jobqueueTestMark === undefined")  # reloaded
    status = page.locator(f"#job-row-{ids['failed']}").get_by_test_id("status")
    expect(status).to_have_text("pending")
    wait_live(page)


def test_the_stream_connects_when_the_sse_extension_loads_late(
    page: Page, queue: JobQueue, dashboard: Callable[..., str]
) -> None:
    """htmx starts once the document is parsed: an extension that arrives after that is
    never used (the scripts are not deferred for this reason)."""

    def late(route: Route) -> None:
        time.sleep(0.3)
        route.continue_()

    page.route("**/hx-sse.min.js", late)
    page.goto(dashboard() + "/jobs")
    wait_live(page)
