"""The wakeups part's contract: a subscriber hears of new claimable jobs and of cancel
requests, from any handle, until it unsubscribes. Every backend here has real wake-ups
(file: inotify; memory: the writer calls back); one that only polls (``NoWakeups``)
would have to skip this file."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from conftest import FakeClock

from jobqueue import transitions
from jobqueue.backend import Backend

from .conftest import Opener
from .helpers import BOOM, WAIT, MakeJob, claim

Subscription = tuple[threading.Event, Callable[[], None]]
Subscribe = Callable[[Backend], Subscription]
Handles = tuple[Backend, Backend]


@pytest.fixture
def subscribe() -> Iterator[Subscribe]:
    """subscribe(backend) -> (an event set at each wake-up, unsubscribe); every
    subscription still open at the end is closed."""
    opened: list[Callable[[], None]] = []

    def open_one(backend: Backend) -> Subscription:
        woken = threading.Event()
        opened.append(backend.wakeups.subscribe(woken.set))
        return woken, opened[-1]

    yield open_one
    for unsubscribe in opened:
        unsubscribe()


@pytest.fixture
def handles(open_handle: Opener) -> Handles:
    """A worker's handle and another process's."""
    return open_handle(), open_handle()


def test_a_job_added_through_another_handle_wakes_a_subscriber(
    handles: Handles, subscribe: Subscribe, make_job: MakeJob
) -> None:
    worker, other = handles
    woken, _ = subscribe(worker)

    other.jobs.add([make_job()])

    assert woken.wait(WAIT)


def test_a_job_back_in_pending_wakes_a_subscriber(
    handles: Handles,
    subscribe: Subscribe,
    make_job: MakeJob,
    clock: FakeClock,
) -> None:
    worker, other = handles
    worker.jobs.add([make_job()])
    running = claim(worker.jobs, clock)
    woken, _ = subscribe(worker)

    other.jobs.move(running, transitions.fail(running, BOOM, clock.now(), timedelta(0)))

    assert woken.wait(WAIT)


def test_a_cancel_request_wakes_a_subscriber(
    handles: Handles,
    subscribe: Subscribe,
    make_job: MakeJob,
    clock: FakeClock,
) -> None:
    worker, other = handles
    worker.jobs.add([make_job()])
    running = claim(worker.jobs, clock)
    woken, _ = subscribe(worker)

    assert other.cancels.request(running, "stop", clock.now())

    assert woken.wait(WAIT)


def test_an_unsubscribed_callback_is_not_called(
    handles: Handles, subscribe: Subscribe, make_job: MakeJob
) -> None:
    worker, other = handles
    gone, unsubscribe = subscribe(worker)
    staying, _ = subscribe(worker)
    unsubscribe()

    other.jobs.add([make_job()])

    assert staying.wait(WAIT)  # the job was announced...
    assert not gone.is_set()  # ...but not to the callback that left
