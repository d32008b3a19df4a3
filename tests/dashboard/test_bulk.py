"""Bulk actions by filter: the dry run, the confirmation by count, the run and its
report, including jobs that change between the dry run and the run, or during it."""

from __future__ import annotations

from typing import Any

import pytest

from jobqueue import JobQueue, transitions
from jobqueue.dashboard.pages import bulk as bulk_page
from jobqueue.job import ErrorInfo

from .live_server import Client
from .markup import elements, one, text
from .seed import run

HX = {"HX-Request": "true"}


def failed(queue: JobQueue, n: int, job_type: str = "crop", message: str = "boom") -> list[str]:
    """``n`` jobs of ``job_type`` that failed for good, oldest first."""
    error = ErrorInfo(type="ValueError", message=message, traceback="")
    ids = []
    for _ in range(n):
        ids.append(queue.enqueue(job_type, {}, max_retries=0).metadata.id)
        run(queue, job_type, lambda j: transitions.fail(j, error, queue.clock.now(), None))
    return ids


def form(html: str) -> dict[str, str]:
    """The confirmation form's hidden fields, as the dialog wrote them."""
    fields = {}
    for name in ("action", "status", "type", "q", "expected", "until"):
        found = [e for e in _inputs(html) if e.get("name") == name]
        fields[name] = found[0]["value"] if found else ""
    return fields


def _inputs(html: str) -> list[dict[str, str]]:
    from html.parser import HTMLParser

    found: list[dict[str, str]] = []

    class Inputs(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "input":
                found.append({k: v or "" for k, v in attrs})

    Inputs().feed(html)
    return found


def statuses(queue: JobQueue, ids: list[str]) -> list[str]:
    return [queue.get_job(i).status for i in ids]  # type: ignore[union-attr]


def test_dry_run_confirm_and_report_on_every_backend(
    any_queue: JobQueue, dashboard: Client
) -> None:
    ids = failed(any_queue, 3)
    other = failed(any_queue, 1, job_type="mail")
    client = dashboard(any_queue)
    dialog = client.get("/bulk", params={"action": "retry", "status": "failed", "q": "type:crop"})
    assert dialog.status_code == 200
    assert one(dialog.text, "bulk-dialog")["data-count"] == "3"
    samples = [e["href"] for e in elements(dialog.text, "job-link")]
    assert samples == [f"/jobs/{i}" for i in reversed(ids)]  # newest first: a run's order
    assert text(dialog.text, "bulk-cannot").startswith("No matching job")
    fields = form(dialog.text)
    assert fields == {"action": "retry", "status": "failed", "type": "", "q": "type:crop",
                      "expected": "3", "until": ids[-1]}  # fmt: skip
    assert statuses(any_queue, ids) == ["failed"] * 3  # a dry run changes nothing
    report = client.post("/bulk", data={**fields, "confirm": "3"})
    assert report.status_code == 200 and report.text.startswith("<!doctype html>")
    summary = one(report.text, "bulk-report")
    assert (summary["data-done"], summary["data-skipped"], summary["data-errors"]) == (
        "3",
        "0",
        "0",
    )
    assert text(report.text, "notice") == "retry: 3 done, 0 skipped, 0 errors."
    done = [e["href"] for e in elements(report.text, "job-link")]
    assert sorted(done) == sorted(f"/jobs/{i}" for i in ids)
    assert statuses(any_queue, ids) == ["pending"] * 3
    assert statuses(any_queue, other) == ["failed"]


def test_the_count_must_be_typed(queue: JobQueue, dashboard: Client) -> None:
    ids = failed(queue, 2)
    client = dashboard()
    fields = form(client.get("/bulk", params={"action": "retry", "status": "failed"}).text)
    for typed in ("", "3", "two"):
        answer = client.post("/bulk", data={**fields, "confirm": typed}, headers=HX)
        assert answer.status_code == 409
        assert one(answer.text, "bulk-dialog")["id"] == "bulk-dialog"  # the dialog again
        assert text(answer.text, "refused").startswith("not run: type 2 to confirm")
    assert statuses(queue, ids) == ["failed", "failed"]
    answer = client.post("/bulk", data={**fields, "confirm": " 2 "}, headers=HX)
    assert answer.status_code == 200
    assert not answer.text.lstrip().startswith("<!doctype")  # htmx: the section only
    assert one(answer.text, "bulk-report")["id"] == "bulk-dialog"


def test_the_dry_run_counts_what_cannot_take_the_action(queue: JobQueue, dashboard: Client) -> None:
    ids = failed(queue, 2)
    queue.enqueue("crop", {})
    queue.enqueue("crop", {})
    dialog = dashboard().get("/bulk", params={"action": "retry", "q": "type:crop"})
    assert one(dialog.text, "bulk-dialog")["data-count"] == "2"
    assert text(dialog.text, "bulk-cannot").startswith("2 more match but cannot be retried")
    assert "they are pending or running or complete" in text(dialog.text, "bulk-cannot")
    assert form(dialog.text)["until"] == ids[-1]


def test_jobs_that_change_between_dry_run_and_run(queue: JobQueue, dashboard: Client) -> None:
    ids = failed(queue, 3)
    client = dashboard()
    fields = form(client.get("/bulk", params={"action": "retry", "status": "failed"}).text)
    queue.retry(ids[0])  # another client retried it: it left the filter
    late = failed(queue, 1, job_type="mail")[0]  # failed after the dry run: not confirmed
    report = client.post("/bulk", data={**fields, "confirm": "3"})
    assert one(report.text, "bulk-report")["data-done"] == "2"
    assert "1 of the 3 jobs confirmed no longer matched" in text(report.text, "bulk-fewer")
    assert statuses(queue, [*ids, late]) == ["pending", "pending", "pending", "failed"]


def test_a_job_that_changes_during_the_run_is_skipped(queue: JobQueue, dashboard: Client) -> None:
    ids = failed(queue, 3)
    armed: dict[str, bool] = {"on": False}

    def redact(doc: dict[str, Any]) -> dict[str, Any]:
        """While the run reads the newest job, another client retries the oldest one:
        the run has read it already (same page), so its compare-and-set loses."""
        if armed["on"] and doc["metadata"]["id"] == ids[-1]:
            armed["on"] = False
            queue.retry(ids[0])
        return doc

    client = dashboard(redact=redact)
    q = {"action": "retry", "status": "failed", "q": "error:boom"}  # tests documents
    fields = form(client.get("/bulk", params=q).text)
    armed["on"] = True
    report = client.post("/bulk", data={**fields, "confirm": "3"})
    summary = one(report.text, "bulk-report")
    assert (summary["data-done"], summary["data-skipped"]) == ("2", "1")
    assert text(report.text, "bulk-skipped") == f"{ids[0]}: is pending"
    assert statuses(queue, ids) == ["pending"] * 3


def test_a_run_is_capped_and_says_so(
    queue: JobQueue, dashboard: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = failed(queue, 3)
    monkeypatch.setattr(bulk_page, "RUN_CAP", 2)
    client = dashboard()
    dialog = client.get("/bulk", params={"action": "delete", "status": "failed"})
    assert one(dialog.text, "bulk-dialog")["data-expected"] == "2"
    assert "at most 2 jobs, the newest first" in text(dialog.text, "bulk-capped")
    report = client.post("/bulk", data={**form(dialog.text), "confirm": "2"})
    assert one(report.text, "bulk-report")["data-done"] == "2"
    assert text(report.text, "bulk-stopped").startswith("Stopped at the 2 jobs you confirmed")
    assert [queue.get_job(i) is None for i in ids] == [False, True, True]


def test_cancel_with_a_reason_and_delete(queue: JobQueue, dashboard: Client) -> None:
    pending = [queue.enqueue("mail", {}).metadata.id for _ in range(2)]
    client = dashboard()
    dialog = client.get("/bulk", params={"action": "cancel", "status": "pending"})
    assert one(dialog.text, "cancel-reason")
    report = client.post("/bulk", data={**form(dialog.text), "confirm": "2", "reason": "maint"})
    assert text(report.text, "notice") == "cancel: 2 done, 0 skipped, 0 errors."
    assert [queue.get_job(i).reason for i in pending] == ["maint", "maint"]  # type: ignore[union-attr]
    dialog = client.get("/bulk", params={"action": "delete", "q": "type:mail"})
    report = client.post("/bulk", data={**form(dialog.text), "confirm": "2"})
    assert one(report.text, "bulk-report")["data-done"] == "2"
    assert [queue.get_job(i) for i in pending] == [None, None]


def test_nothing_to_do_offers_no_form(queue: JobQueue, dashboard: Client) -> None:
    queue.enqueue("mail", {})
    dialog = dashboard().get("/bulk", params={"action": "delete", "status": "pending"})
    assert text(dialog.text, "bulk-nothing") == "Nothing to delete."
    assert elements(dialog.text, "bulk-form") == []
    assert "1 more match but cannot be deleted: they are pending" in text(
        dialog.text, "bulk-cannot"
    )


def test_read_only_shows_the_dry_run_only(queue: JobQueue, dashboard: Client) -> None:
    ids = failed(queue, 1)
    client = dashboard(read_only=True)
    dialog = client.get("/bulk", params={"action": "retry", "status": "failed"})
    assert one(dialog.text, "bulk-dialog")["data-count"] == "1"
    assert elements(dialog.text, "bulk-form") == [] and elements(dialog.text, "action-retry") == []
    data = {"action": "retry", "status": "failed", "expected": "1", "confirm": "1"}
    assert client.post("/bulk", data=data).status_code == 403
    assert statuses(queue, ids) == ["failed"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"action": "explode"}, "no bulk action 'explode'"),
        ({"action": "retry", "status": "<b>x</b>"}, "unknown status '<b>x</b>'"),
        ({"action": "retry", "q": 'error:"open'}, "close the double quote"),
        ({"action": "retry", "type": "../x"}, "job type"),
    ],
)
def test_a_bad_dialog_is_refused(
    queue: JobQueue, dashboard: Client, params: dict[str, str], fragment: str
) -> None:
    page = dashboard().get("/bulk", params=params)
    assert page.status_code == 400
    assert fragment in text(page.text, "refused")
    assert "<b>x</b>" not in page.text


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"action": "retry", "status": "failed", "confirm": "1"}, "nothing to confirm"),
        ({"action": "retry", "status": "failed", "expected": "0", "confirm": "0"}, "nothing to"),
        ({"action": "retry", "expected": "1", "confirm": "1", "until": "../x"}, "job id"),
        ({"action": "nuke", "expected": "1", "confirm": "1"}, "no bulk action 'nuke'"),
    ],
)
def test_a_bad_run_is_refused(
    queue: JobQueue, dashboard: Client, fields: dict[str, str], fragment: str
) -> None:
    ids = failed(queue, 1)
    answer = dashboard().post("/bulk", data=fields)
    assert answer.status_code == 400 and fragment in text(answer.text, "refused")
    assert statuses(queue, ids) == ["failed"]


def test_a_hostile_search_is_shown_as_text(queue: JobQueue, dashboard: Client) -> None:
    failed(queue, 1, message="<script>alert(1)</script>")
    q = "error:<script>alert(1)</script>"
    dialog = dashboard().get("/bulk", params={"action": "retry", "q": q})
    assert one(dialog.text, "bulk-dialog")["data-count"] == "1"
    assert text(dialog.text, "bulk-q") == q and "<script>alert" not in dialog.text
    assert form(dialog.text)["q"] == q  # carried to the run as it was typed


def test_the_shell_equivalent_of_a_status_and_type_filter(
    queue: JobQueue, dashboard: Client
) -> None:
    failed(queue, 1)
    client = dashboard()
    dialog = client.get("/bulk", params={"action": "retry", "status": "failed", "q": "type:crop"})
    commands = [e["text"] for e in elements(dialog.text, "cli")]
    assert commands[-1].endswith("retry --status failed --type crop")
    assert commands[0].endswith("--dry-run")
    searched = client.get("/bulk", params={"action": "retry", "q": "error:boom"})
    assert elements(searched.text, "cli") == []  # the CLI has no search: no false command


def test_a_type_parameter_narrows_like_a_type_term(queue: JobQueue, dashboard: Client) -> None:
    crops = failed(queue, 2)
    failed(queue, 1, job_type="mail")
    client = dashboard()
    params = {"action": "retry", "status": "failed", "type": "crop"}
    dialog = client.get("/bulk", params=params)
    assert one(dialog.text, "bulk-dialog")["data-count"] == "2"
    assert 'href="/jobs?status=failed&amp;q=type%3Acrop"' in dialog.text  # back to the list
    report = client.post("/bulk", data={**form(dialog.text), "confirm": "2"})
    assert sorted(e["href"][6:] for e in elements(report.text, "job-link")) == sorted(crops)
