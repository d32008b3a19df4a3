"""Live updates: the one follower (LiveFeed) and the SSE stream, with resume."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from jobqueue import JobQueue
from jobqueue.dashboard.live import CLOSED, RELOAD, Item, LiveFeed, Message

from .live_server import Client
from .sse import connect_url, sse_messages

DEADLINE = 10.0


def wait_until(condition: object, what: str) -> None:
    """Poll ``condition()`` until true, failing after DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while not condition():  # type: ignore[operator]
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


async def take(feed: LiveFeed, last_id: str | None, n: int, act: object = None) -> list[Message]:
    """Subscribe after ``last_id``, run ``act()`` in a thread, collect ``n`` messages."""
    start = feed.subscribe(last_id, asyncio.get_running_loop())
    got: list[Message] = [*start.replay] if not start.reload else [RELOAD]
    if act is not None:
        await asyncio.to_thread(act)  # type: ignore[arg-type]
    while len(got) < n:
        message = await start.subscription.next(DEADLINE)
        assert message is not None, f"only {len(got)} of {n} messages came"
        got.append(message)
    feed.unsubscribe(start.subscription)
    return got


def events(messages: list[Message]) -> list[tuple[str, str]]:
    return [(m.event.event, m.event.job_id) for m in messages if isinstance(m, Item)]


@pytest.fixture
def feed(queue: JobQueue) -> Iterator[LiveFeed]:
    feed = LiveFeed(queue, idle=0.05, grace=60, ring_size=5)
    yield feed
    feed.close()


def followers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "jobqueue-dashboard-live"}


def test_one_follower_fans_out_in_order(queue: JobQueue, feed: LiveFeed) -> None:
    before = followers()  # other tests' followers may still be ending
    position = feed.position()
    assert position is not None and position.endswith("-0") and feed.running

    def act() -> None:
        job = queue.enqueue("resize", {})
        queue.cancel(job.metadata.id)

    async def two_tabs() -> tuple[list[Message], list[Message]]:
        first = asyncio.create_task(take(feed, position, 2))
        second = asyncio.create_task(take(feed, position, 2, act))
        return await first, await second

    one, two = asyncio.run(two_tabs())
    assert [e for e, _ in events(one)] == ["created", "cancelled"]
    assert events(one) == events(two)
    assert [m.id for m in one] == [f"{position[:-2]}-1", f"{position[:-2]}-2"]  # type: ignore[union-attr]
    assert len(followers() - before) == 1  # two tabs, one follower


def test_a_reconnect_resumes_from_the_ring(queue: JobQueue, feed: LiveFeed) -> None:
    position = feed.position()
    jobs = [queue.enqueue("resize", {"n": n}).metadata.id for n in range(3)]
    wait_until(lambda: feed.position() != position and feed.position().endswith("-3"), "3 events")  # type: ignore[union-attr]
    epoch = position.rpartition("-")[0]  # type: ignore[union-attr]
    resumed = asyncio.run(take(feed, f"{epoch}-1", 2))
    assert events(resumed) == [("created", jobs[1]), ("created", jobs[2])]
    assert asyncio.run(take(feed, f"{epoch}-3", 0)) == []  # up to date: nothing to replay


@pytest.mark.parametrize("last_id", ["other-1", "garbage", "-", "EPOCH-99", "EPOCH-x"])
def test_an_id_that_cannot_be_resumed_gets_reload(
    queue: JobQueue, feed: LiveFeed, last_id: str
) -> None:
    epoch = feed.position().rpartition("-")[0]  # type: ignore[union-attr]
    assert asyncio.run(take(feed, last_id.replace("EPOCH", epoch), 1)) == [RELOAD]


def test_an_id_that_fell_off_the_ring_gets_reload(queue: JobQueue, feed: LiveFeed) -> None:
    epoch = feed.position().rpartition("-")[0]  # type: ignore[union-attr]
    for n in range(7):  # the ring keeps 5
        queue.enqueue("resize", {"n": n})
    wait_until(lambda: feed.position() == f"{epoch}-7", "7 events")
    assert asyncio.run(take(feed, f"{epoch}-1", 1)) == [RELOAD]
    assert len(asyncio.run(take(feed, f"{epoch}-2", 5))) == 5  # the oldest kept is 3


def test_a_tab_that_falls_behind_is_told_to_reload(queue: JobQueue) -> None:
    feed = LiveFeed(queue, idle=0.05, backlog=2)
    position = feed.position()

    async def slow_tab() -> list[Message]:
        start = feed.subscribe(position, asyncio.get_running_loop())
        await asyncio.to_thread(lambda: [queue.enqueue("resize", {"n": n}) for n in range(4)])
        await asyncio.to_thread(wait_until, lambda: feed.position().endswith("-4"), "4 events")  # type: ignore[union-attr]
        got = []
        while (message := await start.subscription.next(0.5)) is not None:
            got.append(message)
        return got

    try:
        got = asyncio.run(slow_tab())
    finally:
        feed.close()
    assert len(got) == 3 and got[-1] is RELOAD


def test_the_follower_stops_after_the_grace_period_and_on_close(queue: JobQueue) -> None:
    alone = LiveFeed(queue, idle=0.05, grace=0.1)
    alone.position()
    assert alone.running
    wait_until(lambda: not alone.running, "the follower to stop with no tab open")
    first = alone.position()  # starts again, in a new epoch: old ids must reload
    assert alone.running and first is not None
    closing = LiveFeed(queue, idle=0.05, grace=60)
    closing.position()

    async def open_then_close() -> Message | None:
        start = closing.subscribe(None, asyncio.get_running_loop())
        await asyncio.to_thread(closing.close)
        return await start.subscription.next(DEADLINE)

    assert asyncio.run(open_then_close()) is CLOSED
    assert not closing.running
    alone.close()
    assert not alone.running


# --- over HTTP ---------------------------------------------------------------------------


def test_a_page_streams_its_rows_and_resumes(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    job = queue.enqueue("resize", {})
    url = connect_url(client.get("/jobs").text)
    with client.stream("GET", url) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        queue.cancel(job.metadata.id)
        stream = sse_messages(response)
        assert next(stream) == {"retry": "2000"}
        message = next(stream)
    assert f'<tr id="job-row-{job.metadata.id}"' in message["data"]
    assert 'hx-swap-oob="outerHTML"' in message["data"] and "status-cancelled" in message["data"]
    seen = message["id"]
    queue.retry(job.metadata.id)  # while no tab is connected
    with client.stream("GET", url, headers={"last-event-id": seen}) as response:
        stream = sse_messages(response)
        next(stream)
        replayed = next(stream)
    assert "status-pending" in replayed["data"]
    assert replayed["id"].rpartition("-")[2] == str(int(seen.rpartition("-")[2]) + 1)


def test_an_unknown_position_reloads_the_page(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    client.get("/jobs")
    with client.stream(
        "GET", "/stream?view=jobs", headers={"last-event-id": "gone-12"}
    ) as response:
        stream = sse_messages(response)
        next(stream)
        assert next(stream) == {"event": "reload", "data": "reload"}
    assert client.get("/stream?view=nothing").status_code == 404


def test_the_job_page_streams_only_its_job(queue: JobQueue, dashboard: Client) -> None:
    client = dashboard()
    mine, other = queue.enqueue("resize", {}), queue.enqueue("resize", {})
    url = connect_url(client.get(f"/jobs/{mine.metadata.id}").text)
    with client.stream("GET", url) as response:
        queue.cancel(other.metadata.id)
        queue.cancel(mine.metadata.id)
        stream = sse_messages(response)
        next(stream)
        message = next(m for m in stream if "data" in m)
    assert 'id="job-summary"' in message["data"] and 'data-status="cancelled"' in message["data"]
    assert "The job is now cancelled: reload" in message["data"]
    assert 'hx-swap-oob="beforeend:#job-timeline"' in message["data"]
    assert other.metadata.id not in message["data"]
