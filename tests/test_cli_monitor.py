"""`jobqueue events`, `jobqueue workers` and the health part of `jobqueue stats`, on the
real clock like the CLI (the jobs are arranged through a JobQueue on the same data dir)."""

from __future__ import annotations

import os
import queue as queues
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from monitoring import dead_pid, wait_for
from typer.testing import CliRunner, Result

from jobqueue import JobQueue, WorkerInfo, transitions
from jobqueue.backend import WorkerRecord
from jobqueue.process import hostname, start_ticks

Cli = Callable[..., Result]


@pytest.fixture
def cli(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    from jobqueue.cli import app

    monkeypatch.delenv("JOBQUEUE_DATA_DIR", raising=False)
    runner = CliRunner(env={"COLUMNS": "200"})
    return lambda *args: runner.invoke(app, ["--data-dir", str(data_dir), *args])


@pytest.fixture
def api(data_dir: Path) -> JobQueue:
    return JobQueue(data_dir, durable=False)


# --- events ------------------------------------------------------------------------------


def test_events_json_replays_since_and_filters(cli: Cli, api: JobQueue) -> None:
    wanted = api.enqueue("resize", {"path": "a.png"}).metadata.id
    api.enqueue("report")
    running = api.backend.jobs.claim(WorkerInfo(name="w", host="h", pid=1), api.clock.now())
    assert running is not None and running.metadata.id == wanted  # a "started" event too
    result = cli("events", "--json", "--since", "1m", "--type", "resize", "--event", "created",
                 "--idle-timeout", "0.2")  # fmt: skip
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    doc = orjson.loads(line)
    assert set(doc) == {"event", "job_id", "job_type", "at", "job"}
    assert (doc["event"], doc["job_id"], doc["job_type"]) == ("created", wanted, "resize")
    assert doc["job"]["status"] == "pending" and doc["job"]["params"] == {"path": "a.png"}
    assert doc["at"].endswith("Z")


def test_events_without_since_replays_nothing(cli: Cli, api: JobQueue) -> None:
    api.enqueue("resize")
    result = cli("events", "--idle-timeout", "0.2")
    assert (result.exit_code, result.stdout) == (0, "")


@pytest.mark.parametrize("args", [("--event", "finished"), ("--type", "../x"), ("--since", "soon")])
def test_events_bad_input_exits_2(cli: Cli, args: tuple[str, ...]) -> None:
    result = cli("events", *args, "--idle-timeout", "0.1")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1


def test_events_tails_other_processes_until_sigterm(data_dir: Path, api: JobQueue) -> None:
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(data_dir), "events"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queues.Queue[str] = queues.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    try:
        # The tail starts once the command has started: enqueue until it shows a job.
        job_ids: list[str] = []

        def shown() -> str | None:
            job_ids.append(api.enqueue("resize").metadata.id)
            try:
                return lines.get(timeout=0.2)
            except queues.Empty:
                return None

        line = wait_for(shown, timeout=20, what="the first event line")
        fields = line.split()
        assert fields[2:5] == ["created", fields[3], "resize"] and fields[3] in job_ids
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None and proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


# --- workers ------------------------------------------------------------------------------


def record(name: str, **changes: Any) -> WorkerRecord:
    now = datetime.now(UTC)
    live = WorkerRecord(name=name, host=hostname(), pid=os.getpid(),
                        pid_started=start_ticks(os.getpid()), started_at=now, heartbeat_at=now,
                        concurrency=4, running=("job-1", "job-2"), stale_after=60.0)  # fmt: skip
    return replace(live, **changes)


def test_workers_lists_live_workers_and_their_jobs(cli: Cli, api: JobQueue) -> None:
    assert cli("workers").stdout == "no live workers\n"
    api.backend.workers.put(record("alive@here"))
    api.backend.workers.put(record("killed@here", pid=dead_pid(), running=("job-3",)))
    result = cli("workers")
    assert result.exit_code == 0, result.output
    (row,) = [line.split() for line in result.stdout.splitlines() if "@here" in line]
    assert row[0] == "alive@here" and row[-3:] == ["2/4", "job-1", "job-2"]
    (doc,) = orjson.loads(cli("workers", "--json").stdout)
    assert set(doc) == {"name", "host", "pid", "started_at", "heartbeat_at", "concurrency",
                        "running"}  # fmt: skip
    assert doc["name"] == "alive@here"
    assert doc["heartbeat_at"].endswith("Z") and doc["running"] == ["job-1", "job-2"]
    everyone = cli("workers", "--all").stdout
    assert "killed@here" in everyone and everyone.count("stale") == 1
    listed = orjson.loads(cli("workers", "--json", "--all").stdout)
    flagged = {d["name"]: d["stale"] for d in listed}
    assert flagged == {"alive@here": False, "killed@here": True}


# --- stats --------------------------------------------------------------------------------


def test_stats_shows_health_and_last_hour_metrics(cli: Cli, api: JobQueue) -> None:
    api.enqueue("resize")
    api.enqueue("resize")
    running = api.backend.jobs.claim(WorkerInfo(name="w", host="h", pid=1), api.clock.now())
    assert running is not None
    api.backend.jobs.move(running, transitions.complete(running, None, api.clock.now()))
    result = cli("stats")
    assert result.exit_code == 0, result.output
    rows = {" ".join(line.split()[:3]): line.split()[3:] for line in result.stdout.splitlines()}
    assert rows["HEALTH unhealthy"] == []
    assert rows["queue depth (due)"] == ["1"]
    assert rows["live workers 0"] == ["active,", "0", "stale"]
    assert rows["finished in 1h"] == ["1", "ok,", "0", "failed"]
    assert "why (1) due" in rows
    counts = orjson.loads(cli("stats", "--json").stdout)
    assert counts == api.stats()  # still the flat object of counts
