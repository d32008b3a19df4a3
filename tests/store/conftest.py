"""The ``store`` fixture: every JobStore implementation runs the same contract suite.

A factory opens one more handle on the same backend, as another process would; tests
that need two claimers (or a fresh view after a crash) ask for ``open_store``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from jobqueue.store import FileStore, JobStore

StoreFactory = Callable[[], JobStore]


def _file_store(tmp_path: Path) -> StoreFactory:
    root = tmp_path / "data"
    return lambda: FileStore(root, durable=False)


_FACTORIES: dict[str, Callable[[Path], StoreFactory]] = {
    "file": _file_store,
    # "postgres": add it here once it exists; the suite only uses the JobStore protocol.
}


@pytest.fixture(params=sorted(_FACTORIES))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Opens a new handle on one shared backend (per test)."""
    factory: StoreFactory = _FACTORIES[request.param](tmp_path)
    return factory


@pytest.fixture
def store(open_store: StoreFactory) -> JobStore:
    return open_store()


@pytest.fixture(scope="module")
def dead_token() -> str:
    """The owner token (``<pid>-<start ticks>``, see jobqueue.process) of a process that
    has exited: what temp, staged and claimed names carry once their owner is gone."""
    code = "from jobqueue.process import owner_token; print(owner_token())"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout.strip()
