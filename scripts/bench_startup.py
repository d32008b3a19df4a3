"""What a one-shot command costs: the wall time of ``jobqueue enqueue`` and ``jobqueue stats``
in a fresh process, most of it imports (issue 13: at most 150 ms).

    scripts/bench_startup.py [--runs 15] [--dir PATH] [--no-bytecode-cache]
    scripts/bench.py                  # prints the same lines, with the other targets

Each command runs once to warm the bytecode caches and the page cache, then ``--runs``
times; the median is reported (the minimum too: on a busy machine it is the better
guess at what an idle one would show). The bytecode goes to a cache of the bench's own
(``PYTHONPYCACHEPREFIX``), also where ``PYTHONDONTWRITEBYTECODE`` is set, as it is in
some containers: otherwise every run compiles jobqueue's modules again, ~45 ms that no
installed copy pays after its first run. ``--no-bytecode-cache`` measures that case.
The console script is used where it is installed (what users type), else
``python -m jobqueue``. To see where the time goes:
``python -X importtime -m jobqueue enqueue t 2> imports.txt``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_report import Target

TARGET_MS = 150.0
#: The commands timed: what an operator or a shell script runs most.
COMMANDS: dict[str, tuple[str, ...]] = {
    "enqueue": ("enqueue", "resize", '{"path": "a.png"}'),
    "stats": ("stats",),
}


@dataclass(frozen=True, slots=True)
class StartUp:
    """The wall times (ms) of one command's runs."""

    name: str
    times_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def min_ms(self) -> float:
        return min(self.times_ms)

    def line(self) -> str:
        return (
            f"  jobqueue {self.name}: median {self.median_ms:.0f} ms, "
            f"min {self.min_ms:.0f} ms (n={len(self.times_ms)})"
        )


def jobqueue_command() -> list[str]:
    """The console script beside this Python when installed, else ``python -m jobqueue``."""
    script = Path(sys.executable).with_name("jobqueue")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "jobqueue"]


def time_command(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, ...]:
    """Run ``argv`` once untimed, then ``runs`` times; each must succeed."""
    times = []
    for i in range(runs + 1):
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        elapsed = (time.perf_counter() - began) * 1000
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-300:]}")
        if i:
            times.append(elapsed)
    return tuple(times)


def command_env(root: Path, *, bytecode_cache: bool) -> dict[str, str]:
    """This process's environment, with the store under ``root`` and, unless told
    otherwise, the bytecode cached under ``root`` (nothing is written beside the code)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQUEUE_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["JOBQUEUE_DATA_DIR"] = str(root / "data")
    if bytecode_cache:
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def measure(base: Path, runs: int, *, bytecode_cache: bool = True) -> list[StartUp]:
    """Time each of COMMANDS on a data directory of its own under ``base``."""
    root = Path(tempfile.mkdtemp(prefix="startup-", dir=base))
    env = command_env(root, bytecode_cache=bytecode_cache)
    try:
        return [
            StartUp(name, time_command([*jobqueue_command(), *args], runs, env))
            for name, args in COMMANDS.items()
        ]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def targets(results: list[StartUp]) -> list[Target]:
    by_name = {r.name: r for r in results}
    return [
        Target(
            f"one-shot `jobqueue {name}`, median wall ms",
            by_name[name].median_ms if name in by_name else None,
            TARGET_MS,
            True,
        )
        for name in COMMANDS
    ]


def report_lines(results: list[StartUp], *, bytecode_cache: bool = True) -> list[str]:
    load = os.getloadavg()[0]
    cache = "bytecode cached" if bytecode_cache else "no bytecode cache: every module compiled"
    return [
        f"start-up of one-shot commands, each a fresh process ({cache}; load average {load:.1f}):",
        *(r.line() for r in results),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument(
        "--no-bytecode-cache",
        dest="bytecode_cache",
        action="store_false",
        help="compile every module on every run (as under PYTHONDONTWRITEBYTECODE)",
    )
    args = parser.parse_args(argv)
    results = measure(args.dir, args.runs, bytecode_cache=args.bytecode_cache)
    lines = report_lines(results, bytecode_cache=args.bytecode_cache)
    print("\n".join([*lines, "targets (issue 13):"]))
    print("\n".join(t.line() for t in targets(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
