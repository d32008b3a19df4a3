"""Several "hosts" on one machine: network namespaces with hostnames of their own, each
joined by a veth link to a bridge in the root namespace, where a throwaway PostgreSQL
server listens; and the ``jobqueue worker`` processes that run on them.

Used by the drill (tests/cluster_drill.py), hence by tests/test_cluster_netns.py and
scripts/cluster_demo.py. Needs root, ``ip`` and ``ss`` (iproute2), ``unshare``
(util-linux) and the PostgreSQL binaries.

The network: the bridge holds the server's address (``10.77.X.1`` on a /24 not in use
here); host ``i`` is the namespace ``jqc-<pid>-<token>-h<i>`` at ``10.77.X.1<i>``. Its
processes run under ``unshare --uts`` with the hostname ``host<i>``, so the store sees
distinct hosts (and the reaper's same-host shortcut, which checks pids, never applies
across them). Cutting a host is ``ip link set <its bridge end> down``: its packets go
nowhere and nothing is reset, as when a cable is pulled.

The server: tests/postgres_cluster.py's throwaway cluster, listening on the bridge's
address too and trusting the /24. Names carry the creating process's pid: what a killed
run left (namespaces, their processes, bridges) is removed by the next one
(``remove_orphans``), as postgres_cluster stops the clusters of dead sessions.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import postgres_cluster

from jobqueue.process import pid_exists

TESTS = Path(__file__).resolve().parent
HOSTS = 3
CONCURRENCY = 2
COMMAND_TIMEOUT = 30
_PREFIX = "jqc"
_NAMESPACE = re.compile(rf"{_PREFIX}-(\d+)-([0-9a-f]{{6}})-h\d+")
#: The workers are given their store by --store, never by our environment.
_STORE_VARIABLES = ("JOBQUEUE_STORE", "JOBQUEUE_DATA_DIR")


def missing() -> str | None:
    """What this machine lacks for the hosts (None: nothing), in one line."""
    if os.geteuid() != 0:
        return "the multi-host drill needs root (network namespaces)"
    lacking = [tool for tool in ("ip", "ss", "unshare") if shutil.which(tool) is None]
    if lacking:
        return f"the multi-host drill needs {' and '.join(lacking)} (iproute2, util-linux)"
    return None


def sh(*argv: str, check: bool = True) -> str:
    """Run a command of the plumbing; its output (RuntimeError naming it on failure)."""
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


def ip(command: str, *, check: bool = True) -> str:
    """``ip`` with ``command`` split on spaces (no argument here has one)."""
    return sh("ip", *command.split(), check=check)


# --- the network -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Host:
    """One "host": a network namespace, its address, and its link's end on the bridge."""

    name: str
    netns: str
    address: str
    link: str

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host, under its own hostname (every step execs, so
        the process started is ``argv``'s own)."""
        script = 'hostname "$1" && shift && exec "$@"'
        enter = f"ip netns exec {self.netns} unshare --uts sh -c".split()
        return [*enter, script, "sh", self.name, *argv]

    def unacknowledged(self, port: int) -> int | None:
        """Bytes the host sent from ``port`` that the peer has not acknowledged yet
        (None: no such connection)."""
        found = ip(f"netns exec {self.netns} ss -Htn state established sport = :{port}")
        return int(found.split()[1]) if found.strip() else None

    def cut(self) -> None:
        """Unplug the host: nothing it sends arrives, nothing is sent to it, no reset."""
        ip(f"link set {self.link} down")

    def mend(self) -> None:
        ip(f"link set {self.link} up")


class Network:
    """A bridge with the server's address and ``count`` hosts on it (context manager:
    everything is deleted on exit, whatever happened)."""

    def __init__(self, count: int = HOSTS) -> None:
        remove_orphans()
        self.token = secrets.token_hex(3)
        self.bridge = f"{_PREFIX}{self.token}b"
        prefix = _free_prefix()
        self.subnet = f"{prefix}.0/24"
        self.server_address = f"{prefix}.1"
        self.hosts = [self._host(i, prefix) for i in range(1, count + 1)]
        self._made: list[Host] = []

    def _host(self, i: int, prefix: str) -> Host:
        netns = f"{_PREFIX}-{os.getpid()}-{self.token}-h{i}"
        return Host(f"host{i}", netns, f"{prefix}.{10 + i}", f"{_PREFIX}{self.token}r{i}")

    def __enter__(self) -> Network:
        try:
            ip(f"link add {self.bridge} type bridge")
            ip(f"addr add {self.server_address}/24 dev {self.bridge}")
            ip(f"link set {self.bridge} up")
            for i, host in enumerate(self.hosts, start=1):
                self._add(host, f"{_PREFIX}{self.token}n{i}")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add(self, host: Host, inside: str) -> None:
        ip(f"netns add {host.netns}")
        self._made.append(host)
        ip(f"link add {host.link} type veth peer name {inside} netns {host.netns}")
        ip(f"link set {host.link} master {self.bridge} up")
        ip(f"-n {host.netns} addr add {host.address}/24 dev {inside}")
        ip(f"-n {host.netns} link set {inside} up")
        ip(f"-n {host.netns} link set lo up")

    def close(self) -> None:
        """Deleting a namespace deletes its veth pair; then the bridge goes."""
        for host in self._made:
            _remove_namespace(host.netns)
        self._made = []
        ip(f"link del {self.bridge}", check=False)


def remove_orphans() -> None:
    """Remove the namespaces, their processes and the bridges of runs that are gone."""
    for name in ip("netns list", check=False).split():
        found = _NAMESPACE.fullmatch(name)
        if found and not pid_exists(int(found.group(1))):
            _remove_namespace(name)
            ip(f"link del {_PREFIX}{found.group(2)}b", check=False)


def _remove_namespace(name: str) -> None:
    """A namespace outlives its name while a process is in it: kill those first."""
    for pid in ip(f"netns pids {name}", check=False).split():
        os.kill(int(pid), signal.SIGKILL)
    ip(f"netns del {name}", check=False)


def _free_prefix() -> str:
    """``10.77.X`` with no address of this machine in it."""
    used = ip("-o -4 addr show")
    free = [x for x in range(256) if f" 10.77.{x}." not in used]
    if not free:
        raise RuntimeError("no free 10.77.X.0/24 for the hosts")
    return f"10.77.{random.choice(free)}"


# --- the server and the workers --------------------------------------------------------------


def start_server(network: Network) -> postgres_cluster.Server:
    """A throwaway cluster that the hosts reach over their links (we use its socket)."""
    bin_dir = postgres_cluster.find_binaries()
    if bin_dir is None:
        raise RuntimeError(postgres_cluster.SKIP)
    hba = [f"host all all {network.subnet} trust"]
    return postgres_cluster.start_cluster(bin_dir, listen=network.server_address, hba=hba)


def store_url(network: Network, schema: str) -> str:
    """The store as the hosts reach it: over TCP, at the bridge's address."""
    return f"postgresql://postgres@{network.server_address}:5432/postgres?schema={schema}"


@dataclass
class Worker:
    """One ``jobqueue worker`` process on a host, its output in ``log``."""

    host: Host
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        """The worker's own pid (see ``Host.command``)."""
        return self.proc.pid

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signum)


class Fleet:
    """The workers started so far (context manager: none is left running on exit)."""

    def __init__(self, url: str, log_dir: Path) -> None:
        self.url = url
        self.log_dir = log_dir
        self.workers: list[Worker] = []
        #: The workers SIGKILLed on purpose.
        self.killed: set[int] = set()

    def start(self, host: Host) -> Worker:
        """``jobqueue worker cluster_worker:ClusterWorker`` on ``host``."""
        options = f"--concurrency {CONCURRENCY} --poll-interval 0.5 --log-level info"
        argv = [sys.executable, "-m", "jobqueue", "--store", self.url, "worker",
                "cluster_worker:ClusterWorker", *options.split()]  # fmt: skip
        log = self.log_dir / f"{host.name}-{len(self.workers)}.log"
        env = {k: v for k, v in os.environ.items() if k not in _STORE_VARIABLES}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                host.command(argv), cwd=TESTS, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        worker = Worker(host, proc, log)
        self.workers.append(worker)
        return worker

    def kill(self, worker: Worker) -> None:
        self.killed.add(worker.pid)
        worker.signal(signal.SIGKILL)
        worker.proc.wait(10)

    def check_alive(self) -> None:
        """RuntimeError with its last lines if a worker died that nobody killed."""
        for worker in self.workers:
            if worker.proc.poll() is not None and worker.pid not in self.killed:
                tail = " | ".join(worker.log.read_text(errors="replace").splitlines()[-5:])
                code = worker.proc.returncode
                raise RuntimeError(f"the worker on {worker.host.name} exited with {code}: {tail}")

    def stop(self, timeout: float = 15.0) -> dict[int, int | None]:
        """SIGTERM to every live worker; each one's exit code (None: it did not exit)."""
        for worker in self.workers:
            worker.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: dict[int, int | None] = {}
        for worker in self.workers:
            try:
                codes[worker.pid] = worker.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                codes[worker.pid] = None
        return codes

    def logs(self) -> dict[int, str]:
        """Each worker's output, by pid."""
        return {w.pid: w.log.read_text(errors="replace") for w in self.workers}

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.signal(signal.SIGKILL)
                worker.signal(signal.SIGCONT)
                worker.proc.wait(10)
