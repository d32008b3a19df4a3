"""Several hosts for real: three workers, each in a network namespace with a hostname
of its own, drain jobs from a PostgreSQL server they reach over veth links, while one is
SIGKILLed, one is SIGSTOPped past ``stale_after``, one host's link is cut, and one host
is cut while its worker waits for an answer that the server, forgetting the host as a
restart or failover would, will never send.

    sudo .venv/bin/python scripts/cluster_demo.py            # about 25 seconds
    sudo .venv/bin/python scripts/cluster_demo.py --keep-logs logs/

Needs root, ``ip`` and ``ss`` (iproute2), ``unshare`` (util-linux) and the PostgreSQL
binaries (``initdb`` on PATH or Debian's ``postgresql`` package). Everything it makes
(the namespaces, the bridge, the throwaway cluster, the workers) is removed when it
ends, however it ends; what a killed run left is removed by the next one.

It prints what it does as it does it (seconds since the start, on the server's clock),
then what it found: every job complete exactly once, every run one of its job's
attempts (and which hosts ran them), the late writes the store refused and how soon
after its return each faulted worker heard of it, and the runs that overlapped a later
attempt (only a stalled or cut worker's, until it heard). Exit 1 when a promise did not
hold; tests/test_cluster_netns.py runs the same drill. The machinery:
tests/cluster_hosts.py (namespaces, server, workers), tests/cluster_drill.py (the
faults), tests/cluster_checks.py (the verdict), tests/cluster_worker.py (the worker).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import cluster_checks
import cluster_drill
import cluster_hosts

from jobqueue.job import Job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-logs", type=Path, help="keep the workers' logs in this directory")
    args = parser.parse_args(argv)
    lacking = cluster_hosts.missing()
    if lacking:
        print(f"{lacking}: sudo .venv/bin/python scripts/cluster_demo.py", file=sys.stderr)
        return 2
    if args.keep_logs:
        args.keep_logs.mkdir(parents=True, exist_ok=True)
        return _drill(args.keep_logs)
    with tempfile.TemporaryDirectory(prefix="jobqueue-cluster-") as logs:
        return _drill(Path(logs))


def _drill(logs: Path) -> int:
    with cluster_drill.drill_parts(logs, say=print) as drill:
        hosts = ", ".join(f"{h.name} {h.address}" for h in drill.network.hosts)
        print(f"server {drill.network.server_address}:5432, hosts {hosts}")
        record = drill.run()
    found = cluster_checks.check(record)
    _report(record, found)
    return 1 if found.problems else 0


def _report(record: cluster_drill.Record, found: cluster_checks.Findings) -> None:
    print()
    print(
        f"jobs: {found.jobs} enqueued and stored, {found.complete} complete, "
        f"{found.runs} runs, {found.lost_attempts} attempts lost to the faults"
    )
    print(f"attempts by host: {found.attempt_hosts}")
    for fault in record.faults:
        caught = ", ".join(f"{r.job_id} attempt {r.attempt}" for r in fault.caught)
        print(f"{fault.kind} of {fault.host}'s worker {fault.pid} caught {caught or 'nothing'}")
        for job_id, after in found.refused.get(fault.kind, []):
            print(f"  late write for {job_id} refused {max(after, 0):.2f}s after it was back")
    for kind, job_id, after in found.overlaps:
        print(
            f"overlap allowed: {job_id}, the {kind} worker's run ended {max(after, 0):.2f}s "
            "after it was back"
        )
    by_id = {job.metadata.id: job for job in record.jobs}
    print("the caught jobs' attempts:")
    for job_id in dict.fromkeys(r.job_id for f in record.faults for r in f.caught):
        print(f"  {job_id}: {_history(by_id.get(job_id))}")
    print(f"took {record.seconds:.1f}s")
    if found.problems:
        print("\nPROBLEMS:")
        for problem in found.problems:
            print(f"  {problem}")
    else:
        print("every promise held")


def _history(job: Job | None) -> str:
    """``1 host1 WorkerLost (no heartbeat ...); 2 host3 ok -> complete``."""
    if job is None:
        return "missing"
    attempts = [
        f"{n} {a.worker.host} "
        + ("ok" if a.error is None else f"{a.error.type} ({a.error.message})")
        for n, a in enumerate(job.attempts, start=1)
    ]
    return "; ".join(attempts) + f" -> {job.status}"


if __name__ == "__main__":
    sys.exit(main())
