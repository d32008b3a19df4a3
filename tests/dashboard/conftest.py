"""Dashboard fixtures: a queue on each backend, and the dashboard served for real.

``dashboard(**options)`` serves ``create_app(queue, **options)`` with uvicorn on a free
loopback port for the rest of the test and returns an httpx client on it (redirects not
followed, so a 303 can be checked).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobqueue import JobQueue
from jobqueue.dashboard import create_app

from .live_server import Client, serve

BACKENDS = ("file", "memory", "postgres")


def open_queue(kind: str, tmp_path: Path) -> Iterator[JobQueue]:
    """A fresh queue of that backend kind, closed afterwards."""
    if kind == "postgres":
        import postgres_cluster

        for url in postgres_cluster.fresh_url():
            queue = JobQueue(url)
            yield queue
            queue.close()
        return
    queue = JobQueue(tmp_path / "data", durable=False) if kind == "file" else JobQueue("memory://")
    yield queue
    queue.close()


@pytest.fixture(params=BACKENDS)
def any_queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobQueue]:
    """A queue on each backend in turn."""
    yield from open_queue(request.param, tmp_path)


@pytest.fixture
def queue() -> Iterator[JobQueue]:
    """A memory queue: for the tests that are about the dashboard, not a backend."""
    queue = JobQueue("memory://")
    yield queue
    queue.close()


@pytest.fixture
def served() -> Iterator[Callable[[Any], str]]:
    """``served(app)``: serve any ASGI app for the rest of the test; its base URL."""
    with ExitStack() as stack:
        yield lambda app: stack.enter_context(serve(app))


@pytest.fixture
def dashboard(queue: JobQueue, served: Callable[[Any], str]) -> Iterator[Client]:
    """``dashboard(**create_app options)`` -> an httpx client on the served dashboard."""
    with ExitStack() as stack:

        def make(on: JobQueue | None = None, **options: Any) -> httpx.Client:
            base = served(create_app(on or queue, **options))
            return stack.enter_context(httpx.Client(base_url=base, timeout=10))

        yield make
