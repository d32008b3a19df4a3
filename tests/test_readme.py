"""The README's examples run as written: its Python blocks in order as one script, then
its `$ jobqueue ...` console lines, in a fresh directory."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.DOTALL)


def test_python_examples_run(tmp_path: Path) -> None:
    script = "\n\n".join(blocks("python"))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "complete {'width': 640}" in done.stdout
    assert "{'url': 'https://example.com/a.png', 'attempt': 1}" in done.stdout  # middleware
    assert "invalid params for thumbnail: url is required" in done.stdout
    assert (tmp_path / "data" / "jobs" / "complete").is_dir()


def test_console_examples_run(tmp_path: Path) -> None:
    commands = [
        line.removeprefix("$ ").split("#")[0]
        for block in blocks("console")
        for line in block.splitlines()
        if line.startswith("$ jobqueue ")
    ]
    assert commands, "the README shows no jobqueue commands"
    for command in commands:
        argv = [sys.executable, "-m", "jobqueue", *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"{command}: {done.stderr}"


def test_readme_job_file_matches_data_example() -> None:
    """The job file shown in the README is the one in data-example/, byte for byte in content."""
    import json

    shown = json.loads(blocks("json")[0])
    path = README.parent / "data-example" / "jobs" / "running" / f"{shown['metadata']['id']}.json"
    assert json.loads(path.read_text()) == shown
