"""A one-shot command loads only what it uses (issue 13: ``jobqueue enqueue`` took 0.4 s,
mostly imports). Structural checks, never timed: which modules a fresh process has
imported. The time itself is measured by ``make bench`` (scripts/bench_startup.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main
import typer.models

import jobqueue
from jobqueue.cli import HOMES, MODULES, app, module_commands

#: What no one-shot command of jobqueue's own needs: the worker, the scheduler's
#: dependencies' peers, the command modules of other commands, typer's pydantic path.
HEAVY_FOR_ENQUEUE = (
    "asyncio",
    "jobqueue.worker",
    "jobqueue.worker.base",
    "jobqueue.cli.doctor",
    "jobqueue.cli.monitor",
    "jobqueue.cli.schedules",
    "jobqueue.cli.workers",
    "rich",
    "pydantic",
)
#: ... and what merely importing the CLI must not load either.
HEAVY_FOR_IMPORT = (*HEAVY_FOR_ENQUEUE, "jobqueue.queue", "croniter", "watchdog")
#: What the one-shot commands (``enqueue``, ``stats``) used to load and no longer do,
#: each ~1-5 ms of their start-up (issue 13): the reaper, ends and retry policies; a
#: file store's quarantine and schedule codec; rich's live display; and the stdlib
#: modules those pulled in: socket, secrets (hmac, hashlib and OpenSSL), ctypes.util
#: (which runs ``ldconfig``), mmap, queue.
CUT_FROM_ONE_SHOT = (
    "jobqueue.reaper",
    "jobqueue.waiting",
    "jobqueue.retry",
    "jobqueue.backends.file.quarantine",
    "jobqueue.schedules.codec",
    "rich.progress",
    "secrets",
    "hashlib",
    "ctypes.util",
    "queue",
)
#: ... and what only ``stats`` may load of those: it judges workers (hostname) and reads
#: the metrics (mmap).
CUT_FROM_ENQUEUE = (*CUT_FROM_ONE_SHOT, "socket", "mmap")

AUDIT = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["jobqueue", *sys.argv[1:]]
from jobqueue.cli import main
main()
"""


def modules_after(code: str, *args: str, cwd: Path) -> set[str]:
    """The modules a fresh Python has imported once ``code`` ran (its stderr's last line)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQUEUE_")}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "[]"
    assert last.startswith("["), done.stderr
    found: set[str] = set(json.loads(last))
    return found


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if n in modules)


def test_importing_the_cli_loads_no_command_and_no_store(tmp_path: Path) -> None:
    code = "import json, sys, jobqueue.cli; print(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    modules = modules_after(code, cwd=tmp_path)
    assert loaded(modules, HEAVY_FOR_IMPORT) == []
    assert "jobqueue.cli.jobs" not in modules


def test_importing_jobqueue_loads_only_its_errors(tmp_path: Path) -> None:
    code = "import json, sys, jobqueue; print(json.dumps(sorted(sys.modules)), file=sys.stderr)"
    modules = modules_after(code, cwd=tmp_path)
    assert sorted(m for m in modules if m.startswith("jobqueue")) == ["jobqueue", "jobqueue.errors"]


@pytest.mark.parametrize(
    "args",
    [
        ("enqueue", "resize", '{"path": "a.png"}'),
        ("cancel", "--status", "pending", "--dry-run"),
    ],
)
def test_a_one_shot_command_loads_only_what_it_uses(tmp_path: Path, args: tuple[str, ...]) -> None:
    modules = modules_after(AUDIT, "--data-dir", "data", *args, cwd=tmp_path)
    assert "jobqueue.cli.jobs" in modules  # it did run
    assert loaded(modules, HEAVY_FOR_ENQUEUE) == []
    assert loaded(modules, CUT_FROM_ENQUEUE) == []


def test_stats_loads_neither_rich_nor_anything_of_the_worker(tmp_path: Path) -> None:
    """Its two-column tables are plain text: rich was ~30 ms of its start-up."""
    modules_after(AUDIT, "--data-dir", "data", "enqueue", "t", cwd=tmp_path)
    modules = modules_after(AUDIT, "--data-dir", "data", "stats", cwd=tmp_path)
    assert "jobqueue.cli._render_stats" in modules  # it did print its tables
    assert loaded(modules, (*HEAVY_FOR_ENQUEUE, "watchdog", *CUT_FROM_ONE_SHOT)) == []


def test_option_values_are_converted_without_pydantic(tmp_path: Path) -> None:
    """Typer 0.29 converts every option value through pydantic, ~100 ms of a one-shot
    command: pyproject.toml pins typer below it."""
    modules = modules_after(AUDIT, "--data-dir", "data", "enqueue", "t", "--priority", "2",
                            cwd=tmp_path)  # fmt: skip
    assert "pydantic" not in modules, f"typer {typer.__version__} imports pydantic"


def test_every_command_is_found_in_the_module_the_table_names() -> None:
    found = {name: module for module in MODULES for name in module_commands(module)}
    assert found == HOMES


@pytest.mark.parametrize("first", [None, "stats", "workers", "schedule"])
def test_the_root_group_lists_every_command_in_module_order(first: str | None) -> None:
    """Also after one command was looked up (and so built alone, or its module loaded)."""
    group = typer.main.get_command(app)
    if first is not None:
        assert group.commands[first].name == first  # type: ignore[attr-defined]
    listed = list(group.commands)  # type: ignore[attr-defined]
    assert sorted(listed) == sorted(HOMES)
    order = [MODULES.index(HOMES[name]) for name in listed]
    assert order == sorted(order) and listed[0] == "enqueue"
    assert listed == [name for module in MODULES for name in module_commands(module)]


def test_running_a_command_builds_that_command_only(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    build = typer.main.get_command_from_info

    def spy(command_info: typer.models.CommandInfo, **kwargs: Any) -> Any:
        command = build(command_info, **kwargs)
        built.append(command.name or "")
        return command

    monkeypatch.setattr(typer.main, "get_command_from_info", spy)
    group = typer.main.get_command(app)
    stats = group.commands["stats"]  # type: ignore[attr-defined]
    assert built == ["stats"]  # not the seven other commands of its module
    assert stats.help == module_commands("jobs")["stats"].help
    assert [p.name for p in stats.params] == ["json_output"]


def test_public_names_load_on_first_use() -> None:
    from jobqueue import HandlerWorker, JobQueue

    assert JobQueue.__name__ == "JobQueue" and HandlerWorker.__name__ == "HandlerWorker"
    assert set(jobqueue.__all__) <= set(dir(jobqueue))
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = jobqueue.no_such_name  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("flags", "mode"),
    [((), "(bytecode cached;"), (("--no-bytecode-cache",), "(no bytecode cache:")],
)
def test_the_bench_prints_the_start_up_targets(
    tmp_path: Path, flags: tuple[str, ...], mode: str
) -> None:
    """Cached bytecode (in the bench's own directory) is what an installed copy runs
    with; the bench says which it measured."""
    script = Path(__file__).resolve().parent.parent / "scripts" / "bench_startup.py"
    done = subprocess.run(
        [sys.executable, str(script), "--runs", "1", "--dir", str(tmp_path), *flags],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert mode in out[0]
    assert out[1].startswith("  jobqueue enqueue: median ") and out[1].endswith("(n=1)")
    assert out[-2].endswith("(≤ 150)") and out[-2].split()[0] in ("PASS", "MISS")
    assert "one-shot `jobqueue stats`" in out[-1]
    assert list(tmp_path.iterdir()) == []  # its data directories are gone
