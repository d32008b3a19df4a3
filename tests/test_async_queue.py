"""AsyncJobQueue: every JobQueue method as a coroutine that never blocks the event loop;
``events()`` as an async iterator; ``wait`` holding no thread while it waits."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import Assembled, FakeClock

from jobqueue import (
    AsyncJobQueue,
    CompleteJob,
    HandlerWorker,
    InvalidJob,
    Job,
    JobContext,
    JobEvent,
    JobNotFound,
    JobQueue,
    PendingJob,
)
from jobqueue.aio import AsyncTask
from jobqueue.backends.memory import MemoryBackend

T = TypeVar("T")

#: JobQueue's public callables that are not I/O, so not coroutines on AsyncJobQueue.
NOT_COROUTINES = {"task", "events", "scheduler", "reopened"}


def run(coro: Awaitable[T], timeout: float = 30) -> T:
    """Run one test coroutine on a fresh loop, bounded in time."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


@pytest.fixture(params=["file", "memory"])
def aq(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AsyncJobQueue]:
    if request.param == "file":
        aq = AsyncJobQueue(tmp_path / "data", durable=False)
    else:
        aq = AsyncJobQueue("memory://")
    yield aq
    aq.queue.close()


def serve(queue: JobQueue) -> HandlerWorker:
    worker = HandlerWorker(queue, poll_interval=0.05)
    worker.register_handler("double", lambda params, ctx: params["n"] * 2)
    return worker


class SlowJobs:
    """A jobs part whose ``add`` takes ``delay`` seconds, like a slow disk's fsync."""

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def add(self, jobs: Sequence[PendingJob]) -> list[Job]:
        time.sleep(self.delay)
        added: list[Job] = self.inner.add(jobs)
        return added

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_enqueues_never_block_the_event_loop() -> None:
    """A heartbeat ticking every 5 ms keeps ticking while 16 enqueues, each taking 100 ms
    in the store, run: called on the loop, each would stall it for 100 ms."""
    inner = MemoryBackend()
    aq = AsyncJobQueue(Assembled.of(inner, jobs=SlowJobs(inner.jobs, 0.1)), threads=4)
    gaps: list[float] = []

    async def main() -> list[PendingJob | Any]:
        stop = asyncio.Event()

        async def heartbeat() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.005)
                gaps.append(time.monotonic() - last)
                last = time.monotonic()

        beating = asyncio.create_task(heartbeat())
        jobs = await asyncio.gather(*(aq.enqueue("x", {"i": i}) for i in range(16)))
        stop.set()
        await beating
        return jobs

    began = time.monotonic()
    jobs = run(main())
    assert len(jobs) == 16 and time.monotonic() - began >= 0.4  # 16 x 100 ms over 4 threads
    assert len(gaps) > 40 and max(gaps) < 0.08


def test_every_jobqueue_method_is_a_coroutine_on_async_job_queue() -> None:
    public = {
        name
        for name, attr in vars(JobQueue).items()
        if not name.startswith("_") and inspect.isfunction(attr)
    }
    aq = AsyncJobQueue("memory://")
    missing = {
        n for n in public - NOT_COROUTINES if not inspect.iscoroutinefunction(getattr(aq, n))
    }
    assert missing == set()
    assert aq.enqueue.__doc__ == JobQueue.enqueue.__doc__  # and the docstring came along


def test_the_calls_reach_the_queue(aq: AsyncJobQueue) -> None:
    async def main() -> None:
        job = await aq.enqueue("double", {"n": 2}, priority=3)
        more = await aq.enqueue_many("double", [{"n": 3}, {"n": 4}])
        assert (await aq.get_job(job.metadata.id)) == job
        assert [j.metadata.id for j in await aq.query_jobs(status="pending")] == [
            job.metadata.id, *(j.metadata.id for j in more),
        ]  # fmt: skip
        assert (await aq.stats())["pending"] == 3
        assert await aq.cancel(job.metadata.id)
        assert (await aq.retry(job.metadata.id)).status == "pending"
        assert await aq.remove_jobs("double") == 3
        assert (await aq.health())["status"] == "healthy"

    run(main())


def test_wait_returns_the_ended_job(aq: AsyncJobQueue) -> None:
    worker = serve(aq.queue)

    async def main() -> None:
        jobs = await aq.enqueue_many("double", [{"n": n} for n in range(30)])
        worker.start()
        done = await asyncio.gather(*(aq.wait(j.metadata.id, timeout=10) for j in jobs))
        assert [d.result for d in done if isinstance(d, CompleteJob)] == [n * 2 for n in range(30)]
        assert (await aq.wait(jobs[0].metadata.id, timeout=10)) == done[0]  # ended: at once

    try:
        run(main())
    finally:
        worker.stop(timeout=10)


def test_waiting_coroutines_hold_no_thread(aq: AsyncJobQueue) -> None:
    async def main() -> None:
        jobs = await aq.enqueue_many("double", [{"n": n} for n in range(50)])
        before = set(threading.enumerate())
        waits = [asyncio.create_task(aq.wait(j.metadata.id, timeout=10)) for j in jobs]
        await asyncio.sleep(0.3)  # every wait is waiting now
        started = set(threading.enumerate()) - before
        # One thread follows the log for every waiter (watchdog's threads aside, on
        # files), and the pool has at most its 8 threads, idle again: not one per wait.
        assert len([t for t in started if t.name == "jobqueue-wait"]) == 1
        assert len([t for t in started if t.name.startswith("jobqueue-async")]) <= 8
        await aq.cancel(jobs[0].metadata.id)
        assert (await waits[0]).status == "cancelled"
        for wait in waits[1:]:
            wait.cancel()

    run(main())


def test_wait_timeout_and_unknown_id(aq: AsyncJobQueue) -> None:
    async def main() -> None:
        job = await aq.enqueue("double", {"n": 1})
        began = time.monotonic()
        with pytest.raises(TimeoutError):
            await aq.wait(job.metadata.id, timeout=0.2)
        assert 0.2 <= time.monotonic() - began < 2.0
        with pytest.raises(JobNotFound):
            await aq.wait("20300101T000000000000Z-00000000", timeout=5)

    run(main())


def test_events_as_an_async_iterator(aq: AsyncJobQueue) -> None:
    async def main() -> list[JobEvent]:
        async with aq.events() as stream:
            jobs = await aq.enqueue_many("double", [{"n": 1}, {"n": 2}])
            await aq.cancel(jobs[0].metadata.id)
            seen = [event async for event in _take(stream, 3)]
        assert [(e.event, e.job_id) for e in seen] == [
            ("created", jobs[0].metadata.id),
            ("created", jobs[1].metadata.id),
            ("cancelled", jobs[0].metadata.id),
        ]
        return seen

    seen = run(main())

    async def replay() -> list[str]:  # since=: history first, and the stream ends when idle
        since = seen[0].at
        return [e.event async for e in aq.events(since=since, idle_timeout=0.5)]

    assert run(replay()) == ["created", "created", "cancelled"]


async def _take(stream: Any, n: int) -> Any:
    async for event in stream:
        yield event
        n -= 1
        if n == 0:
            return


def test_a_closed_stream_stops_its_thread(aq: AsyncJobQueue) -> None:
    async def main() -> None:
        before = set(threading.enumerate())
        stream = aq.events()
        await stream.__aenter__()
        following = [t for t in set(threading.enumerate()) - before if t.name == "jobqueue-events"]
        assert len(following) == 1
        await stream.aclose()
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        deadline = time.monotonic() + 5
        while following[0].is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not following[0].is_alive()

    run(main())


def test_a_dropped_stream_stops_its_thread(aq: AsyncJobQueue) -> None:
    """A `break` out of `async for event in aq.events()` closes nothing: the stream is
    dropped, and that is enough."""

    async def main() -> threading.Thread:
        before = set(threading.enumerate())
        await aq.enqueue("x")
        async for _ in aq.events(since=datetime(2000, 1, 1, tzinfo=UTC)):
            break
        [following] = [
            t for t in set(threading.enumerate()) - before if t.name == "jobqueue-events"
        ]
        deadline = time.monotonic() + 5
        while following.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return following

    assert not run(main()).is_alive()


def test_an_async_task(tmp_path: Path, clock: FakeClock) -> None:
    aq = AsyncJobQueue(tmp_path / "data", durable=False, clock=clock)

    @aq.task(priority=4)
    def square(params: dict[str, int], ctx: JobContext) -> int:
        return params["n"] ** 2

    assert isinstance(square, AsyncTask) and aq.queue.tasks.square is square.task

    async def main() -> None:
        job = await square.enqueue({"n": 9})
        assert job.metadata.priority == 4
        assert [j.metadata.priority for j in await square.enqueue_many([{}], priority=1)] == [1]
        await aq.run(HandlerWorker(aq.queue, clock=clock).run, burst=True)
        done = await aq.wait(job.metadata.id, timeout=10)
        assert isinstance(done, CompleteJob) and done.result == 81

    run(main())
    assert square({"n": 3}, None) == 9  # type: ignore[arg-type]


def test_wrapping_an_open_queue() -> None:
    queue = JobQueue("memory://")
    aq = AsyncJobQueue(queue)
    assert aq.queue is queue and aq.location == "memory://"
    with pytest.raises(InvalidJob, match="options"):
        AsyncJobQueue(queue, durable=False)

    async def main() -> None:
        async with aq:
            await aq.enqueue("x")

    run(main())
    assert queue.stats()["pending"] == 1
