"""What a drill (tests/cluster_drill.py) must show, from the store's jobs, the runs its
workers recorded and their logs; ``check`` lists every broken promise.

"Back" is when a stalled or cut worker could talk to the server again (SIGCONT, link
up). Such a worker runs on, unaware, until its next heartbeat or write is refused:
that, and only that, may overlap a later attempt of the same job, and only for
``FENCE_GRACE`` seconds after it is back.
"""

from __future__ import annotations

import re
import signal
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from cluster_drill import Fault, Record, Run

from jobqueue import CompleteJob
from jobqueue.job import Job
from jobqueue.transitions import WORKER_LOST

#: How long after it is back a fenced worker may take to hear of it: a heartbeat
#: interval and a keeper tick (stop); plus the TCP retransmission of what it sent into
#: the cut (cut); plus the keepalive probe that finds its connection dead (forget).
FENCE_GRACE = {"stop": 2.0, "cut": 8.0, "forget": 8.0}


@dataclass
class Findings:
    """What ``check`` saw; ``problems`` empty when every promise held."""

    jobs: int = 0
    complete: int = 0
    runs: int = 0
    #: The hosts named by the jobs' attempts, with how many attempts each.
    attempt_hosts: dict[str, int] = field(default_factory=dict)
    lost_attempts: int = 0
    #: Per fault kind, the jobs whose attempt the victim lost and whose late write (a
    #: heartbeat, or the end of the attempt) the store refused, each with the seconds
    #: from the victim's return (SIGCONT, link up) to that refusal in its log.
    refused: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    #: Runs that overlapped a later attempt's run: (kind, job id, seconds the run's end
    #: was recorded after its worker was back).
    overlaps: list[tuple[str, str, float]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check(record: Record) -> Findings:
    """Every job complete, exactly once; every run one of its job's attempts; no two runs
    of a job at once, except a stalled or cut worker's, until it learnt of the fence (at
    its next heartbeat once back); every attempt lost only by a faulted worker, and a
    faulted worker's late writes refused (the lease-lost line in its log)."""
    found = Findings(jobs=len(record.jobs), runs=len(record.runs))
    faults = {fault.pid: fault for fault in record.faults}
    runs_of: dict[str, list[Run]] = {}
    for run in record.runs:
        runs_of.setdefault(run.job_id, []).append(run)
    hosts: Counter[str] = Counter()
    for job in record.jobs:
        hosts.update(attempt.worker.host for attempt in job.attempts)
        _check_job(job, runs_of.pop(job.metadata.id, []), faults, found)
    found.attempt_hosts = dict(sorted(hosts.items()))
    for job_id in runs_of:
        found.problems.append(f"runs of job {job_id}, which the store does not have")
    if record.enqueued != found.jobs:
        found.problems.append(f"{record.enqueued} jobs enqueued, {found.jobs} in the store")
    for fault in record.faults:
        _check_fault(fault, record, found)
    return found


def _check_job(job: Job, runs: list[Run], faults: dict[int, Fault], found: Findings) -> None:
    job_id, problems = job.metadata.id, found.problems
    if not isinstance(job, CompleteJob):
        problems.append(f"job {job_id} ended {job.status}, not complete")
        return
    found.complete += 1
    result = job.result if isinstance(job.result, dict) else {}
    final = [r for r in runs if r.id == result.get("run")]
    if not final or final[0].attempt != len(job.attempts) or final[0].how != "done":
        problems.append(f"job {job_id}: its result is not its last attempt's finished run")
    for number, attempt in enumerate(job.attempts[:-1], start=1):
        found.lost_attempts += 1
        owner = faults.get(attempt.worker.pid)
        if attempt.error is None or attempt.error.type != WORKER_LOST or owner is None:
            problems.append(
                f"job {job_id}: attempt {number} ended {attempt.error}, "
                f"by worker {attempt.worker.name}, which nothing happened to"
            )
    for run in runs:
        if not 1 <= run.attempt <= len(job.attempts):
            problems.append(f"job {job_id}: run {run.id} of attempt {run.attempt}, not recorded")
            continue
        worker = job.attempts[run.attempt - 1].worker
        if (worker.host, worker.pid) != (run.host, run.pid):
            problems.append(
                f"job {job_id}: attempt {run.attempt} is {worker.name}'s, "
                f"but {run.host}:{run.pid} ran it"
            )
    _check_overlaps(job_id, runs, faults, found)


def _check_overlaps(
    job_id: str, runs: list[Run], faults: dict[int, Fault], found: Findings
) -> None:
    ordered = sorted(runs, key=lambda r: (r.attempt, r.started))
    for i, early in enumerate(ordered):
        fault = faults.get(early.pid)
        end = early.ended
        if end is None:
            if fault is None or fault.kind != "kill":
                found.problems.append(f"job {job_id}: run {early.id} never ended")
                continue
            end = fault.at  # killed mid-run: its run ended with it
        for late in ordered[i + 1 :]:
            if late.attempt == early.attempt:
                found.problems.append(f"job {job_id}: attempt {late.attempt} ran twice")
            elif late.started < end:
                _allowed_overlap(job_id, early, end, fault, found)


def _allowed_overlap(
    job_id: str, early: Run, end: datetime, fault: Fault | None, found: Findings
) -> None:
    """A stalled or cut worker runs on until it hears of the fence; no one else may."""
    if fault is None or fault.back is None or fault.kind == "kill":
        found.problems.append(
            f"job {job_id}: attempt {early.attempt} on {early.host} ran alongside a later attempt"
        )
        return
    after = (end - fault.back).total_seconds()
    found.overlaps.append((fault.kind, job_id, after))
    if after > FENCE_GRACE[fault.kind]:
        found.problems.append(
            f"job {job_id}: the {fault.kind} worker ran attempt "
            f"{early.attempt} for {after:.1f}s after it was back"
        )


def _check_fault(fault: Fault, record: Record, found: Findings) -> None:
    """The fault caught a run, whose attempt was lost; a stalled or cut worker heard of
    it (a refused write) and exited cleanly at the end; the killed one died of it."""
    if not fault.caught:
        found.problems.append(f"the {fault.kind} of {fault.host}'s worker caught no run")
    code = record.exit_codes.get(fault.pid)
    if code != (-signal.SIGKILL if fault.kind == "kill" else 0):
        found.problems.append(f"{fault.host}'s {fault.kind} worker exited with {code}")
    by_id = {job.metadata.id: job for job in record.jobs}
    log = record.logs.get(fault.pid, "")
    for run in fault.caught:
        job = by_id.get(run.job_id)
        if job is None or len(job.attempts) <= run.attempt:
            found.problems.append(
                f"job {run.job_id}: attempt {run.attempt}, which the "
                f"{fault.kind} caught, was not taken over"
            )
            continue
        if fault.kind != "kill":
            _check_refused(fault, run.job_id, log, found)


def _check_refused(fault: Fault, job_id: str, log: str, found: Findings) -> None:
    """The victim's lease-lost line for the job, soon after it was back. Its time is the
    worker's clock, which here (one machine) is the server's."""
    line = re.search(rf"^(\S+ \S+) .*job {job_id} changed under its worker", log, re.M)
    if line is None or fault.back is None:
        found.problems.append(
            f"the {fault.kind} worker of {fault.host} never heard that "
            f"job {job_id} was taken from it"
        )
        return
    at = datetime.strptime(line.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone()
    after = (at - fault.back).total_seconds()
    found.refused.setdefault(fault.kind, []).append((job_id, after))
    if after > FENCE_GRACE[fault.kind]:
        found.problems.append(
            f"the {fault.kind} worker of {fault.host} heard that job {job_id} was taken "
            f"from it only {after:.1f}s after it was back"
        )
