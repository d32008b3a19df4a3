"""A TCP proxy in front of a test server that can drop every connection on demand: how
a test makes a browser's event stream break and reconnect, as a flaky network or a
restarting proxy would, while the server itself keeps running.

``with Cutter(port) as cutter:`` listens on a free 127.0.0.1 port (``cutter.base``);
``cutter.cut()`` closes every open connection and holds new ones unanswered (they wait
in the listen queue) until ``cutter.mend()``.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

CHUNK = 65536
JOIN_TIMEOUT = 5.0


class Cutter:
    """The proxy described in the module docstring."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.up = threading.Event()
        self.up.set()
        self.closing = False
        self.threads = [threading.Thread(target=self._accept, daemon=True)]

    def __enter__(self) -> Cutter:
        self.threads[0].start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.closing = True
        self.up.set()
        self.listener.close()
        self.cut()
        for thread in list(self.threads):
            thread.join(JOIN_TIMEOUT)

    def cut(self) -> None:
        """Close every connection now; hold new ones until ``mend``."""
        if not self.closing:
            self.up.clear()
        with self.lock:
            for sock in self.open:
                _close(sock)
            self.open.clear()

    def mend(self) -> None:
        """Answer connections again (the held ones first)."""
        self.up.set()

    def _accept(self) -> None:
        while not self.closing:
            self.up.wait()
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.up.is_set():  # cut while accepting: drop it, the browser retries
                _close(client)
                continue
            server = socket.create_connection(self.target)
            with self.lock:
                self.open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                thread = threading.Thread(target=_pump, args=(source, sink), daemon=True)
                self.threads.append(thread)
                thread.start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until either side closes, then close both."""
    try:
        while data := source.recv(CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    _close(source)
    _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
