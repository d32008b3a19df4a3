"""The ``store`` fixture: every JobStore implementation runs the same contract suite.

A factory opens one more handle on the same backend, as another process would; tests
that need two claimers (or a fresh view after a crash) ask for ``open_store``.
"""

from __future__ import annotations

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
