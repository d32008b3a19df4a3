"""The drill: three workers on three hosts (tests/cluster_hosts.py) drain jobs while,
in turn, each kind of fault hits one of them. ``check`` (tests/cluster_checks.py) then
says whether every promise held; tests/test_cluster_netns.py and scripts/cluster_demo.py
run it.

The jobs are ``cluster`` jobs (tests/cluster_worker.py: each run recorded on the server's
clock), fed a few at a time so that the workers never run dry. The faults, each applied
while the victim is a moment into a run, and each lasting until what the victim held
was reaped and is running again on another host:

* kill: host1's worker gets SIGKILL; then a new worker starts on host1;
* stop: host2's worker gets SIGSTOP, past ``stale_after``; then SIGCONT;
* cut: host3's link goes down; then up;
* forget: host1's link goes down while a statement of its worker waits for its answer
  (for a row lock held here), and the server forgets the host meanwhile, as a restart or
  a failover does: its sessions end and their sockets go (``ss -K``), what it says about
  it lost in the cut. Only the worker's own TCP checks can tell it the answer will never
  come.

Then the feeding stops, the jobs drain and the workers get SIGTERM.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cluster_worker
import postgres_cluster
from cluster_hosts import Fleet, Network, Worker, sh, start_server, store_url

from jobqueue import JobQueue
from jobqueue.job import STATUSES, Job

#: How long a job works; long enough that a fault lands in the middle of a run.
JOB_SECONDS = 0.5
#: Pending jobs kept while the faults happen (the workers never run dry).
BACKLOG = 4
#: A job lost more often than its retries allow fails, as documented; a job a fault
#: freed is the oldest due, so the next victim often takes it: let it be lost four times.
MAX_RETRIES = 8
#: Bounds each wait of the drill (a wait that runs out is a failure, never a hang).
WAIT = 20.0
#: A fault is applied to a run at most this old, so that the run is still going.
FRESH_RUN = 0.15


# --- what the drill records ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """One row of ``cluster_runs``: a handler's run, on the server's clock."""

    id: int
    job_id: str
    attempt: int
    host: str
    pid: int
    started: datetime
    ended: datetime | None
    how: str | None


@dataclass
class Fault:
    """What was done to one worker, when (server clock), and the runs it caught."""

    kind: str  # kill, stop, cut or forget
    host: str
    pid: int
    at: datetime
    #: SIGCONT or link up (for a kill: the kill itself).
    back: datetime | None = None
    caught: list[Run] = field(default_factory=list)


@dataclass
class Record:
    """Everything the drill left, for ``check``."""

    jobs: list[Job]
    runs: list[Run]
    faults: list[Fault]
    enqueued: int
    exit_codes: dict[int, int | None]
    logs: dict[int, str]
    seconds: float


# --- the drill ------------------------------------------------------------------------------


class Drill:
    """Three hosts, one server, a store; ``run`` does the faults (module docstring)."""

    def __init__(
        self,
        network: Network,
        server: postgres_cluster.Server,
        log_dir: Path,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.network = network
        self.server = server
        self.schema = server.new_schema()
        self.url = store_url(network, self.schema)
        self.fleet = Fleet(self.url, log_dir)
        self.say = say
        self.queue = JobQueue(self.url)
        self.db = server.admin()
        self.db.execute(cluster_worker.RUNS_TABLE.format(schema=self.schema))
        self.enqueued = 0
        self.feeding = True
        self.began = self.now()

    def close(self) -> None:
        self.queue.close()
        self.db.close()

    def now(self) -> datetime:
        """The server's clock, which the runs are recorded with."""
        row = self.db.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        at: datetime = row[0]
        return at

    def tell(self, host: str, what: str) -> None:
        elapsed = (self.now() - self.began).total_seconds()
        self.say(f"{elapsed:6.2f}s  {host:<6} {what}")

    def run(self) -> Record:
        """Start the workers, apply the faults, drain, stop; what happened."""
        with self.fleet:
            first = [self.fleet.start(host) for host in self.network.hosts]
            for worker in first:
                self.tell(worker.host.name, f"worker {worker.pid} started ({worker.host.address})")
            self.wait("every host to finish a run", lambda: self._hosts_done() == len(first))
            faults = [self._kill(first[0]), self._stop(first[1]), self._cut(first[2])]
            faults.append(self._forget(self.fleet.workers[-1]))  # host1's new worker
            self.feeding = False
            self.tell("-", f"feeding stopped after {self.enqueued} jobs; draining")
            self.wait("every job to end", self._drained)
            codes = self.fleet.stop()
            self.tell("-", f"workers stopped, exit codes {list(codes.values())}")
        return Record(
            jobs=self.queue.query_jobs(list(STATUSES)),
            runs=self.runs(),
            faults=faults,
            enqueued=self.enqueued,
            exit_codes=codes,
            logs=self.fleet.logs(),
            seconds=(self.now() - self.began).total_seconds(),
        )

    # --- the faults -----------------------------------------------------------------------

    def _kill(self, worker: Worker) -> Fault:
        """SIGKILL mid-run; once another host re-ran what it held, a new worker there."""
        self._wait_fresh_run(worker)
        self.fleet.kill(worker)
        at = self.now()
        fault = Fault("kill", worker.host.name, worker.pid, at, at, self._open_runs(worker.pid))
        self.tell(worker.host.name, f"SIGKILL worker {worker.pid} {_runs(fault.caught)}")
        self._wait_taken_over(fault)
        again = self.fleet.start(worker.host)
        self.tell(worker.host.name, f"worker {again.pid} started in its place")
        return fault

    def _stop(self, worker: Worker) -> Fault:
        """SIGSTOP mid-run until the run was taken over, then SIGCONT."""
        self._wait_fresh_run(worker)
        worker.signal(signal.SIGSTOP)
        fault = Fault("stop", worker.host.name, worker.pid, self.now())
        fault.caught = self._open_runs(worker.pid)
        self.tell(worker.host.name, f"SIGSTOP worker {worker.pid} {_runs(fault.caught)}")
        self._wait_taken_over(fault)
        worker.signal(signal.SIGCONT)
        fault.back = self.now()
        self.tell(worker.host.name, f"SIGCONT worker {worker.pid}")
        return fault

    def _cut(self, worker: Worker) -> Fault:
        """The host's link down mid-run until the run was taken over, then up again."""
        self._wait_fresh_run(worker)
        worker.host.cut()
        fault = Fault("cut", worker.host.name, worker.pid, self.now())
        fault.caught = self._open_runs(worker.pid)
        self.tell(worker.host.name, f"link {worker.host.link} down {_runs(fault.caught)}")
        self._wait_taken_over(fault)
        worker.host.mend()
        fault.back = self.now()
        self.tell(worker.host.name, f"link {worker.host.link} up")
        return fault

    def _forget(self, worker: Worker) -> Fault:
        """The hard cut: a statement of the worker's has reached the server and waits for
        a row lock (held here) when the link goes down, and the server forgets the host
        meanwhile, as a restart or a failover does: its sessions end, their sockets go
        (``ss -K``), and what it says about it is lost in the cut. The statement's
        answer never comes: only the worker's own TCP checks can tell it so."""
        run = self._wait_fresh_run(worker)
        address = worker.host.address
        with self.server.admin() as locker, locker.transaction():
            locker.execute(
                f"SELECT 1 FROM {self.schema}.jq_jobs WHERE id = %s FOR UPDATE", (run.job_id,)
            )
            self._wait_for_lock(worker)
            worker.host.cut()
            self.db.execute(
                "WITH s AS MATERIALIZED (SELECT pid FROM pg_stat_activity "
                "WHERE client_addr = %s::inet) SELECT pg_terminate_backend(pid) FROM s",
                (address,),
            )
            self.wait(
                f"the server to end {worker.host.name}'s sessions",
                lambda: self._backends(address) == 0,
            )
            sh("ss", "-K", "dst", address)
        left = sh("ss", "-Htn", "state", "all", "exclude", "time-wait", "dst", address).strip()
        if left:
            raise RuntimeError(f"ss -K left connections to {address}: {left}")
        fault = Fault("forget", worker.host.name, worker.pid, self.now())
        fault.caught = [run, *(r for r in self._open_runs(worker.pid) if r.id != run.id)]
        self.tell(
            worker.host.name,
            f"link {worker.host.link} down, the server forgot it {_runs(fault.caught)}",
        )
        self._wait_taken_over(fault)
        worker.host.mend()
        fault.back = self.now()
        self.tell(worker.host.name, f"link {worker.host.link} up")
        return fault

    def _wait_for_lock(self, worker: Worker) -> None:
        """Until a statement of the worker's waits for the lock and the server has
        acknowledged all of it (else the worker would send it again after the cut, and
        learn at once that the connection is gone)."""
        query = (
            "SELECT client_port FROM pg_stat_activity "
            "WHERE client_addr = %s::inet AND wait_event_type = 'Lock'"
        )

        def waiting() -> bool:
            ports = [row[0] for row in self.db.execute(query, (worker.host.address,))]
            return any(worker.host.unacknowledged(port) == 0 for port in ports)

        self.wait(f"{worker.host.name}'s worker to wait for the lock", waiting)

    def _backends(self, address: str, where: str = "TRUE") -> int:
        """How many sessions of ``address`` the server has (that satisfy ``where``)."""
        query = f"SELECT count(*) FROM pg_stat_activity WHERE client_addr = %s::inet AND {where}"
        row = self.db.execute(query, (address,)).fetchone()
        return int(row[0]) if row else 0

    # --- waiting --------------------------------------------------------------------------

    def wait(self, what: str, done: Callable[[], bool], timeout: float = WAIT) -> None:
        """Poll ``done`` (feeding the queue meanwhile) until it holds; TimeoutError if not."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f}s for {what}")
            self.fleet.check_alive()
            self._feed()
            time.sleep(0.02)

    def _feed(self) -> None:
        if not self.feeding:
            return
        pending = self.queue.stats()["pending"]
        if pending < BACKLOG:
            more = BACKLOG - pending
            params = [{"seconds": JOB_SECONDS}] * more
            self.queue.enqueue_many(cluster_worker.JOB_TYPE, params, max_retries=MAX_RETRIES)
            self.enqueued += more

    def _wait_fresh_run(self, worker: Worker) -> Run:
        """A run the worker started a moment ago (so it is still going)."""
        where = (
            f"pid = %s AND ended IS NULL "
            f"AND started > clock_timestamp() - interval '{FRESH_RUN} seconds'"
        )
        fresh: list[Run] = []

        def started() -> bool:
            fresh[:] = self.runs(where, (worker.pid,))
            return bool(fresh)

        self.wait(f"{worker.host.name}'s worker to start a run", started)
        return fresh[0]

    def _wait_taken_over(self, fault: Fault) -> None:
        """Until each caught run's job has a later attempt's run on another worker."""
        query = (
            f"SELECT 1 FROM {self.schema}.cluster_runs "
            "WHERE job_id = %s AND attempt > %s AND pid <> %s"
        )

        def taken_over() -> bool:
            return all(
                self.db.execute(query, (run.job_id, run.attempt, fault.pid)).fetchone()
                for run in fault.caught
            )

        self.wait(f"the runs {fault.host}'s worker held to be run again elsewhere", taken_over)
        for run in fault.caught:
            self.tell(fault.host, f"job {run.job_id} attempt {run.attempt} now runs elsewhere")

    def _hosts_done(self) -> int:
        query = f"SELECT count(DISTINCT host) FROM {self.schema}.cluster_runs WHERE how = 'done'"
        row = self.db.execute(query).fetchone()
        return int(row[0]) if row else 0

    def _drained(self) -> bool:
        stats = self.queue.stats()
        return stats["pending"] == 0 and stats["running"] == 0

    # --- reading ----------------------------------------------------------------------------

    def runs(self, where: str = "TRUE", params: Sequence[Any] = ()) -> list[Run]:
        query = (
            "SELECT id, job_id, attempt, host, pid, started, ended, how "
            f"FROM {self.schema}.cluster_runs WHERE {where} ORDER BY id"
        )
        return [Run(*row) for row in self.db.execute(query, params).fetchall()]

    def _open_runs(self, pid: int) -> list[Run]:
        return self.runs("pid = %s AND ended IS NULL", (pid,))


def _runs(runs: list[Run]) -> str:
    held = ", ".join(f"{r.job_id} attempt {r.attempt}" for r in runs)
    return f"(running {held})" if held else "(running nothing)"


@contextmanager
def drill_parts(log_dir: Path, say: Callable[[str], None] = lambda line: None) -> Iterator[Drill]:
    """The network, the server and the store of one drill, all gone on exit."""
    with Network() as network:
        server = start_server(network)
        try:
            drill = Drill(network, server, log_dir, say)
            try:
                yield drill
            finally:
                drill.close()
        finally:
            server.stop()
