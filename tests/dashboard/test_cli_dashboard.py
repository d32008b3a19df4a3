"""``jobqueue dashboard``: safe defaults, and a real server process that stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cli_runs import Cli

from jobqueue import JobQueue
from jobqueue.cli.dashboard import is_loopback

START_TIMEOUT = 30.0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_a_reachable_address_needs_auth(cli: Cli, host: str) -> None:
    result = cli("dashboard", "--host", host)
    assert result.exit_code == 2
    assert result.output == (
        f"error: --host {host} is reachable from other machines: "
        "give --token T or --basic USER:PASS\n"
    )


def test_bad_basic_credentials_are_bad_input(cli: Cli) -> None:
    result = cli("dashboard", "--basic", "nopassword")
    assert (result.exit_code, result.output) == (
        2,
        "error: --basic must be USER:PASS, both non-empty\n",
    )
    both = cli("dashboard", "--token", "t", "--basic", "a:b")
    assert both.exit_code == 2 and both.output.count("\n") == 1


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("127.8.0.1", True),
     ("0.0.0.0", False), ("10.0.0.1", False), ("myhost", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_it_serves_until_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    job = JobQueue(data, durable=False).enqueue("resize", {})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQUEUE_")}
    command = [sys.executable, "-m", "jobqueue", "--data-dir", str(data), "dashboard",
               "--port", str(port), "--token", "t0k", "--root-path", "/q/"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"jobqueue dashboard: http://localhost:{port}/q/")  # the first page
        assert line.endswith("?token=t0k\n")
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                page = httpx.get(
                    f"{base}/jobs/{job.metadata.id}", headers={"authorization": "Bearer t0k"}
                )
                break
            except httpx.ConnectError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the dashboard did not start")
                time.sleep(0.05)
        assert page.status_code == 200 and 'href="/q/jobs?' in page.text
        assert httpx.get(f"{base}/jobs").status_code == 401
        auth = {"authorization": "Bearer t0k"}
        with httpx.stream("GET", f"{base}/stream?view=jobs", headers=auth, timeout=15) as stream:
            assert stream.status_code == 200  # an open page must not hold the stop
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
