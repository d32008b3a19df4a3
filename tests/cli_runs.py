"""Running the ``jobqueue`` command in-process on a test's data directory: the ``cli``
fixture runs ``jobqueue --data-dir <data_dir> ARGS...``, ``api`` is the same directory
through the Python API. tests/conftest.py loads this module as a plugin, so every test
module has them (one that defines its own ``cli`` uses that one)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from jobqueue import JobQueue
from jobqueue.cli import app

Cli = Callable[..., Result]


@pytest.fixture
def api(data_dir: Path) -> JobQueue:
    """The CLI's data directory through the Python API, on the real clock like the CLI."""
    return JobQueue(data_dir, durable=False)


@pytest.fixture
def cli(data_dir: Path, api: JobQueue, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run `jobqueue --data-dir <data_dir> ARGS...` on an existing (``api``'s) queue,
    whatever the environment names; COLUMNS keeps tables on one line."""
    monkeypatch.delenv("JOBQUEUE_DATA_DIR", raising=False)
    monkeypatch.delenv("JOBQUEUE_STORE", raising=False)
    runner = CliRunner(env={"COLUMNS": "200"})

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, ["--data-dir", str(data_dir), *args], input=input)

    return invoke
