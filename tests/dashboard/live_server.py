"""A real uvicorn server in a thread, on a free 127.0.0.1 port, for dashboard tests
(the browser tests use it too): ``with serve(app) as base_url: ...``.

Started and waited for with a deadline. Stopped gracefully (``should_exit``), so the
app's lifespan ends and a dashboard stops its follower thread; uvicorn cancels streams
still open after ``timeout_graceful_shutdown`` (1 s), and ``force_exit`` is the last
resort if the server is still up after ``STOP_TIMEOUT``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from starlette.types import ASGIApp

#: What the ``dashboard`` fixture gives: ``dashboard(**create_app options)`` -> a client.
Client = Callable[..., httpx.Client]

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


@contextmanager
def serve(app: ASGIApp, *, root_path: str = "") -> Iterator[str]:
    """Serve ``app`` for the block; yields its base URL (``http://127.0.0.1:PORT``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", root_path=root_path, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(STOP_TIMEOUT)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("the test server did not stop")
