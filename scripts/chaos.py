"""Chaos: P worker processes drain M jobs while a random worker is SIGKILLed every few
hundred milliseconds and replaced at once. Nothing may be lost or run twice for nothing.

    python scripts/chaos.py --workers 8 --jobs 20000 --duration 300     # minutes, 1000s of kills
    python scripts/chaos.py --workers 4 --jobs 400 --duration 20 --json # what the test runs

Workers are real ``jobqueue worker chaos_worker:ChaosWorker`` processes (durable store,
default heartbeat and stale_after: a killed worker's jobs come back because its pid is
dead, through the reap every worker does on start and periodically). Each attempt
appends ``<id> <pid>`` to a log with O_APPEND. Before each kill the victim is frozen
(SIGSTOP) and the running/ files it owns are recorded: those are the jobs it was killed
in the middle of.

At the end (after SIGTERM, which every worker must obey with exit 0, and one recovery,
as the next start of any process would do) the script checks, and exits 1 otherwise:

* every job is in complete/ exactly once; pending/, running/, failed/, cancelled/,
  .quarantine/, .tmp/, .staging/ and .batches/ are empty (``lost`` = jobs not complete),
  and ``jobqueue doctor`` finds nothing (no leftover, every file 0600, every dir 0700);
* every id is in the log; each line but the successful attempt's comes from a worker
  killed while that job was in its running/ file, and so does every earlier attempt
  in the job's history (a ``WorkerLost`` error);
* the successful attempt is the last one in the history, by the pid that logged it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobqueue import CompleteJob, InvalidJob, JobQueue, codec
from jobqueue.backends.file import FileStore, doctor
from jobqueue.job import STATUSES, RunningJob

SCRIPTS = Path(__file__).resolve().parent
LOG_ENV = "JOBQUEUE_CHAOS_LOG"


@dataclass
class Figures:
    workers: int
    jobs: int
    kills: int = 0
    kills_mid_run: int = 0  # kills that caught at least one job in the victim's running/
    restarts: int = 0
    complete: int = 0
    lost: int = 0
    duplicated_ids: int = 0  # ids logged more than once (each time after a kill mid-run)
    extra_runs: int = 0  # log lines beyond one per job
    worker_lost_attempts: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


class Fleet:
    """The worker processes, and what each killed one was running when it died."""

    def __init__(self, data_dir: Path, log: Path, size: int, out: Path) -> None:
        self.data_dir, self.log, self.out = data_dir, log, out
        self.procs: list[subprocess.Popen[bytes]] = [self._spawn() for _ in range(size)]
        #: (job id, pid) for every job in a killed worker's running/ files at its death.
        self.killed_running: set[tuple[str, int]] = set()
        self.kills = self.kills_mid_run = self.restarts = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "jobqueue", "--data-dir", str(self.data_dir), "worker",
            "chaos_worker:ChaosWorker", "--poll-interval", "0.1", "--log-level", "warning",
        ]  # fmt: skip
        env = {**os.environ, LOG_ENV: str(self.log)}
        with self.out.open("ab") as out:
            return subprocess.Popen(command, cwd=SCRIPTS, env=env, stdout=out, stderr=out)

    def kill_one(self, rng: random.Random) -> None:
        """Freeze a random worker, note its running jobs, SIGKILL it, start another."""
        i = rng.randrange(len(self.procs))
        victim = self.procs[i]
        if victim.poll() is None:
            os.kill(victim.pid, signal.SIGSTOP)
            _wait_stopped(victim.pid)
            running = running_ids(self.data_dir, victim.pid)
            victim.kill()
            self.killed_running.update((job_id, victim.pid) for job_id in running)
            self.kills += 1
            self.kills_mid_run += bool(running)
        victim.wait()
        self.procs[i] = self._spawn()
        self.restarts += 1

    def stop(self, timeout: float = 60.0) -> list[int]:
        """SIGTERM every worker; their exit codes (0 is a clean stop). A worker still
        importing has no handler yet and would die of the signal: wait for its handler."""
        for proc in self.procs:
            _wait_handles_sigterm(proc.pid)
            proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes


def _wait_stopped(pid: int, timeout: float = 2.0) -> None:
    """SIGSTOP is asynchronous: wait until /proc says the process is stopped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            return
        if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] in (b"T", b"t"):
            return
        time.sleep(0.001)


def _wait_handles_sigterm(pid: int, timeout: float = 30.0) -> None:
    """Until the SIGTERM bit shows in /proc/<pid>/status's SigCgt (the worker's handler)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.01)


def running_ids(data_dir: Path, pid: int) -> list[str]:
    """Ids in running/ owned by ``pid`` (files that vanish meanwhile are skipped)."""
    found = []
    for path in (data_dir / "jobs" / "running").glob("*.json"):
        try:
            job = codec.decode(path.read_bytes(), expect="running")
        except (OSError, InvalidJob):
            continue
        if isinstance(job, RunningJob) and job.worker.pid == pid:
            found.append(job.metadata.id)
    return found


def enqueue(queue: JobQueue, jobs: int, sleep: float) -> list[str]:
    ids: list[str] = []
    for start in range(0, jobs, 1000):
        params = [{"sleep": sleep} for _ in range(min(1000, jobs - start))]
        added = queue.enqueue_many("chaos", params, max_retries=1_000_000)
        ids.extend(job.metadata.id for job in added)
    return ids


def complete_count(data_dir: Path) -> int:
    with os.scandir(data_dir / "jobs" / "complete") as it:
        return sum(1 for _ in it)


def run(args: argparse.Namespace, data_dir: Path) -> Figures:
    figures = Figures(workers=args.workers, jobs=args.jobs)
    log, rng = data_dir.parent / "chaos.log", random.Random(args.seed)
    queue = JobQueue(data_dir)
    ids = enqueue(queue, args.jobs, args.sleep)
    began = time.monotonic()
    fleet = Fleet(data_dir, log, args.workers, data_dir.parent / "workers.out")
    try:
        chaos_until = began + args.duration
        while time.monotonic() < chaos_until and complete_count(data_dir) < args.jobs:
            time.sleep(rng.uniform(args.kill_min, args.kill_max))
            fleet.kill_one(rng)
        drain_until = time.monotonic() + args.drain_timeout
        while complete_count(data_dir) < args.jobs and time.monotonic() < drain_until:
            time.sleep(0.1)
    finally:
        codes = fleet.stop()
    figures.seconds = round(time.monotonic() - began, 1)
    figures.kills, figures.kills_mid_run = fleet.kills, fleet.kills_mid_run
    figures.restarts = fleet.restarts
    if any(codes):
        figures.problems.append(f"workers exited {codes} on SIGTERM (expected 0)")
    verify(data_dir, log, ids, fleet.killed_running, figures)
    return figures


def verify(
    data_dir: Path, log: Path, ids: list[str], killed: set[tuple[str, int]], figures: Figures
) -> None:
    store = FileStore(data_dir, durable=False)
    store.recover()  # what the next start of any process does
    _check_tree(store, ids, figures)
    report = doctor.check(store, datetime.now(UTC), timedelta(seconds=30))
    figures.problems.extend(f"doctor: {f.kind}: {f.message}" for f in report.findings)
    lines = _log_lines(log)
    figures.extra_runs = sum(len(pids) for pids in lines.values()) - len(lines)
    figures.duplicated_ids = sum(len(pids) > 1 for pids in lines.values())
    for job in store.scan(["complete"]):
        if isinstance(job, CompleteJob):
            _check_history(job, lines.get(job.metadata.id, []), killed, figures)


def _check_tree(store: FileStore, ids: list[str], figures: Figures) -> None:
    jobs = store.paths.jobs
    on_disk = {s: {p.stem for p in (jobs / s).iterdir()} for s in STATUSES}
    figures.complete = len(on_disk["complete"])
    figures.lost = len(set(ids) - on_disk["complete"])
    if on_disk["complete"] != set(ids):
        figures.problems.append(f"complete/ holds {figures.complete} of {len(ids)} jobs")
    for status in ("pending", "running", "failed", "cancelled"):
        if on_disk[status]:
            figures.problems.append(f"{status}/ holds {sorted(on_disk[status])[:5]}")
    for hidden in (".quarantine", ".tmp", ".staging", ".batches"):
        left = sorted(p.name for p in (jobs / hidden).iterdir())
        if left:
            figures.problems.append(f"{hidden}/ holds {left[:5]}")


def _log_lines(log: Path) -> dict[str, list[int]]:
    lines: dict[str, list[int]] = defaultdict(list)
    for line in log.read_text().splitlines() if log.exists() else []:
        job_id, pid = line.split()
        lines[job_id].append(int(pid))
    return lines


def _check_history(
    job: CompleteJob, pids: list[int], killed: set[tuple[str, int]], figures: Figures
) -> None:
    """Every run but the last was cut short by a kill of its worker while it ran."""
    job_id, *earlier, last = job.metadata.id, *job.attempts
    figures.worker_lost_attempts += len(earlier)
    runs = Counter(pids)
    if last.error is not None or runs[last.worker.pid] < 1:
        figures.problems.append(f"{job_id}: the successful run is not in the log: {pids}")
        return
    runs[last.worker.pid] -= 1
    for pid in (p for p, n in runs.items() for _ in range(n)):
        if (job_id, pid) not in killed:
            figures.problems.append(f"{job_id} ran again after pid {pid}, killed elsewhere")
    for attempt in earlier:
        if attempt.error is None or attempt.error.type != "WorkerLost":
            figures.problems.append(f"{job_id}: an earlier attempt ended {attempt.error}")
        elif (job_id, attempt.worker.pid) not in killed:
            figures.problems.append(f"{job_id}: lost by pid {attempt.worker.pid}, never killed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=8, help="worker processes (P)")
    parser.add_argument("--jobs", type=int, default=5000, help="jobs to drain (M)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of killing")
    parser.add_argument("--kill-min", type=float, default=0.1, help="shortest pause (s)")
    parser.add_argument("--kill-max", type=float, default=0.4, help="longest pause (s)")
    parser.add_argument("--sleep", type=float, default=0.005, help="each job's run time (s)")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="after the chaos")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, help="default: a new temp directory")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    base = args.data_dir or Path(tempfile.mkdtemp(prefix="jobqueue-chaos-"))
    figures = run(args, base / "data")
    if args.json:
        print(json.dumps(asdict(figures)))
    else:
        for key, value in asdict(figures).items():
            if key != "problems":
                print(f"{key:>22}: {value}")
        for problem in figures.problems[:20]:
            print(f"PROBLEM: {problem}")
        print(f"{'data':>22}: {base}")
    return 1 if figures.problems else 0


if __name__ == "__main__":
    sys.exit(main())
