"""The ``backend`` fixture: every Backend runs the same contract suite (``test_contract_*``).

Each kind of backend is one ``Kind``: how to open handles on a fresh store, and (where
the store has a medium that can fail) how to break it. ``open_handle`` opens one more
handle on the same store, as another process would; the file-backend tests beside the
contract (``test_claims``, ``test_file_store``, ...) use ``FileStore`` directly.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobqueue.backend import Backend, JobStore, open_backend
from jobqueue.backends.file import FileBackend
from jobqueue.backends.memory import MemoryBackend

#: Opens one more handle on the store of one test.
Opener = Callable[[], Backend]


@dataclass(frozen=True)
class Kind:
    """One kind of backend, as the contract suite needs it."""

    #: Given the test's tmp_path, returns the opener of handles on one fresh store.
    store: Callable[[Path], Opener]
    #: Makes the store under tmp_path fail as its medium can, and returns the type of
    #: error that failure raises underneath; None when nothing can fail on demand.
    breaker: Callable[[Path], type[BaseException]] | None = None


def _file_store(tmp_path: Path) -> Opener:
    root = tmp_path / "data"
    return lambda: FileBackend(root, durable=False)


def _break_file_store(tmp_path: Path) -> type[BaseException]:
    """A directory the store needs becomes a regular file (chmod would not stop root)."""
    for name in ("jobs", "schedules"):
        directory = tmp_path / "data" / name
        shutil.rmtree(directory)
        directory.write_bytes(b"")
    return OSError


def _memory_store(tmp_path: Path) -> Opener:
    store = MemoryBackend()
    return store.reopen  # process-local: every handle is the store itself


# --- the slot the PostgreSQL backend fills (issue 10: "a slot the PostgreSQL backend fills") ---


def _postgres_store(tmp_path: Path) -> Opener:
    """A schema of its own per test, on the session's server (tests/postgres_cluster.py:
    ``JOBQUEUE_TEST_POSTGRES``, else a throwaway cluster; dropped at the next test)."""
    import postgres_cluster

    server = postgres_cluster.server()
    url = server.url(server.store_for(tmp_path))
    return lambda: open_backend(url)


def _break_postgres_store(tmp_path: Path) -> type[BaseException]:
    """The store's schema is dropped under its open handles: every statement fails."""
    import postgres_cluster
    import psycopg

    server = postgres_cluster.server()
    server.drop(server.store_for(tmp_path))
    return psycopg.Error


KINDS: dict[str, Kind] = {
    "file": Kind(_file_store, _break_file_store),
    "memory": Kind(_memory_store),
    "postgres": Kind(_postgres_store, _break_postgres_store),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "backend_bug(kind, reason): a known bug of that backend; the test is a strict xfail "
        "there (it fails loudly once the bug is fixed: remove the mark then)",
    )


@pytest.fixture(params=list(KINDS))
def kind(request: pytest.FixtureRequest) -> Kind:
    name: str = request.param
    for mark in request.node.iter_markers("backend_bug"):
        if mark.args[0] == name:
            request.applymarker(pytest.mark.xfail(reason=mark.args[1], strict=True))
    return KINDS[name]


@pytest.fixture
def open_handle(kind: Kind, tmp_path: Path) -> Iterator[Opener]:
    """Opens a new handle on the test's store; every handle is closed at the end."""
    opened: list[Backend] = []
    open_one = kind.store(tmp_path)

    def open_tracked() -> Backend:
        handle = open_one()
        opened.append(handle)
        return handle

    yield open_tracked
    for handle in opened:
        handle.close()


@pytest.fixture
def backend(open_handle: Opener) -> Backend:
    return open_handle()


@pytest.fixture
def jobs(backend: Backend) -> JobStore:
    return backend.jobs


@pytest.fixture
def break_store(kind: Kind, tmp_path: Path) -> Callable[[], type[BaseException]]:
    """Breaks the test's store; returns the type of the error underneath each failure."""
    breaker = kind.breaker
    if breaker is None:
        pytest.skip("this backend has no medium that can fail on demand")
    return lambda: breaker(tmp_path)


@pytest.fixture(scope="module")
def dead_token() -> str:
    """The owner token (``<pid>-<start ticks>``, see jobqueue.process) of a process that
    has exited: what temp, staged and claimed names carry once their owner is gone."""
    code = "from jobqueue.process import owner_token; print(owner_token())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()
