"""The schedules page: what each schedule is and when it fires next, and pause, resume
and remove (with its confirmation), each refused when it does not apply."""

from __future__ import annotations

import re
import shlex

import pytest

from jobqueue import JobQueue
from jobqueue.dashboard.crontext import meaning

from .live_server import Client
from .markup import elements, one, text


def schedules(queue: JobQueue) -> None:
    """One active schedule (nightly), one paused (often), one retired (once)."""
    queue.schedule("nightly", "30 2 * * 1", "resize", {"size": 3}, timezone="Europe/Paris")
    queue.schedule("often", "*/5 * * * *", "thumb", {})
    queue.pause("often")
    queue.schedule("once", "0 * * * *", "mail", {}, max_runs=1, run_on_start=True)


def states(html: str) -> dict[str, str]:
    return {row["data-schedule-id"]: row["data-state"] for row in elements(html, "schedule-row")}


def fires(html: str, name: str) -> list[str]:
    """The next run times of schedule ``name``, as the page's ``<time datetime>``."""
    row = re.search(rf'<tr id="schedule-row-{name}".*?</tr>', html, re.S)
    assert row is not None
    cell = re.search(r'data-testid="next-runs">(.*?)</td>', row.group(0), re.S)
    assert cell is not None
    return re.findall(r'<time datetime="([^"]+)"', cell.group(1))


def test_the_page_and_its_actions_on_every_backend(any_queue: JobQueue, dashboard: Client) -> None:
    schedules(any_queue)
    client = dashboard(any_queue)
    page = client.get("/schedules")
    assert page.status_code == 200
    assert states(page.text) == {"nightly": "active", "often": "paused", "once": "retired"}
    assert [e["text"] for e in elements(page.text, "cron-meaning")] == [
        "every Monday at 02:30", "every 5 minutes", "every hour at :00",
    ]  # fmt: skip
    expected, at = [], any_queue.next_run_time("nightly")
    while at is not None and len(expected) < 5:
        expected.append(at.isoformat())
        at = any_queue.next_run_time("nightly", after=at)
    assert fires(page.text, "nightly") == expected and len(expected) == 5
    assert fires(page.text, "often") == [] and fires(page.text, "once") == []
    assert "Europe/Paris" in page.text
    commands = [e["text"] for e in elements(page.text, "cli")]
    assert f"jobqueue --store {shlex.quote(any_queue.location)} schedule pause nightly" in commands
    paused = client.post("/schedules/nightly/pause", data={"next": "/schedules"})
    assert (paused.status_code, paused.headers["location"]) == (303, "/schedules")
    assert states(client.get("/schedules").text)["nightly"] == "paused"
    assert client.post("/schedules/nightly/resume").status_code == 303
    assert states(client.get("/schedules").text)["nightly"] == "active"
    refused = client.post("/schedules/nightly/remove")
    assert refused.status_code == 409 and "tick the box" in text(refused.text, "refused")
    assert "nightly" in states(client.get("/schedules").text)
    assert client.post("/schedules/nightly/remove", data={"confirm": "yes"}).status_code == 303
    assert [s.name for s in any_queue.get_schedules()] == ["often", "once"]


def test_htmx_actions_answer_with_the_row(queue: JobQueue, dashboard: Client) -> None:
    schedules(queue)
    client = dashboard()
    hx = {"HX-Request": "true"}
    answer = client.post("/schedules/nightly/pause", headers=hx, data={"view": "row"})
    assert answer.status_code == 200
    row = one(answer.text, "schedule-row")
    assert (row["id"], row["data-state"]) == ("schedule-row-nightly", "paused")
    assert text(answer.text, "notice") == "paused"
    again = client.post("/schedules/nightly/pause", headers=hx)
    assert again.status_code == 409 and text(again.text, "notice") == "nightly is already paused"
    removed = client.post("/schedules/nightly/remove", headers=hx, data={"confirm": "yes"})
    assert removed.status_code == 200
    assert one(removed.text, "schedule-row")["data-state"] == "removed"
    assert text(removed.text, "notice") == "nightly: removed"


@pytest.mark.parametrize(
    ("name", "action", "status", "fragment"),
    [
        ("often", "pause", 409, "often is already paused"),
        ("nightly", "resume", 409, "nightly is already running"),
        ("once", "pause", 409, "cannot pause once: it is retired"),
        ("once", "resume", 409, "cannot resume once: it is retired"),
        ("nope", "pause", 404, "no schedule named 'nope'"),
        ("nope", "remove", 404, "no schedule named 'nope'"),
        ("nightly", "explode", 404, "no action 'explode'"),
    ],
)
def test_refused_actions_change_nothing(
    queue: JobQueue, dashboard: Client, name: str, action: str, status: int, fragment: str
) -> None:
    schedules(queue)
    client = dashboard()
    before = states(client.get("/schedules").text)
    answer = client.post(f"/schedules/{name}/{action}", data={"confirm": "yes"})
    assert answer.status_code == status and fragment in text(answer.text, "refused")
    assert states(client.get("/schedules").text) == before


def test_no_get_changes_a_schedule(queue: JobQueue, dashboard: Client) -> None:
    schedules(queue)
    client = dashboard()
    assert client.get("/schedules/nightly/pause").status_code == 405
    assert states(client.get("/schedules").text)["nightly"] == "active"


def test_read_only_shows_no_action_and_refuses_them(queue: JobQueue, dashboard: Client) -> None:
    schedules(queue)
    client = dashboard(read_only=True)
    page = client.get("/schedules")
    for verb in ("pause", "resume", "remove"):
        assert elements(page.text, f"action-{verb}") == []
        assert client.post(f"/schedules/nightly/{verb}", data={"confirm": "yes"}).status_code == 403
    assert states(page.text) == states(client.get("/schedules").text)
    assert "schedule remove nightly" in page.text  # the commands stay: they are text


def test_a_plain_form_returns_inside_the_dashboard_only(queue: JobQueue, dashboard: Client) -> None:
    schedules(queue)
    client = dashboard()
    for wanted in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        answer = client.post("/schedules/often/resume", data={"next": wanted})
        assert answer.headers["location"] == "/schedules"
        client.post("/schedules/often/pause")


def test_no_schedule_says_how_to_add_one(queue: JobQueue, dashboard: Client) -> None:
    page = dashboard().get("/schedules")
    assert "schedule add NAME CRON TYPE" in text(page.text, "no-schedules")


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("* * * * *", "every minute"),
        ("*/15 * * * *", "every 15 minutes"),
        ("5 * * * *", "every hour at :05"),
        ("0 */6 * * *", "every 6 hours at :00"),
        ("0 3 * * *", "every day at 03:00"),
        ("30 2 * * 1", "every Monday at 02:30"),
        ("0 0 * * 7", "every Sunday at 00:00"),
        ("15 8 1 * *", "on day 1 of every month at 08:15"),
        ("* * * * * */10", "every 10 seconds"),
        ("@daily", "every day at 00:00"),
        ("0 9 * * 1-5", None),  # beyond the common shapes: no paraphrase
        ("0 9 1 1 *", None),
        ("0,30 * * * *", None),
        ("* * * * * 5", None),
    ],
)
def test_cron_in_plain_words(cron: str, words: str | None) -> None:
    assert meaning(cron) == words
