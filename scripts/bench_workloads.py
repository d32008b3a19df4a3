"""The workloads, written once against ``bench_base.Peer``.

In-process: enqueue, enqueue_many, drain. In child processes (multiprocessing, spawn):
the drain by the peer's real worker (``drain_served``), one producer + consumers (claim
loops, or the peer's real workers), the claim sweep (fresh process, then warm), idle
latency against the peer's real worker, and the worker's RSS. Every wait has a deadline:
a slow or stuck peer yields a partial or missing number, never a hung run.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import queue
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

from bench_base import Peer, Unsupported, payload
from bench_peers import PEERS, preload

MP = multiprocessing.get_context("spawn")
IDLE_EXIT = 1.0  # a consumer stops once the producer is done and it found nothing this long
CHILD_START_TIMEOUT = 60.0
BATCH = 100  # jobs per enqueue_many call
WORKER_SETTLE = 0.5  # seconds a real worker gets to reach its idle wait before jobs come


@dataclass(frozen=True, slots=True)
class Rate:
    """Jobs per second; ``partial`` when the deadline stopped the run early."""

    per_second: float
    partial: bool = False


@dataclass(frozen=True, slots=True)
class ExactlyOnce:
    per_second: float
    duplicates: int
    lost: int
    errors: int
    partial: bool


@dataclass(frozen=True, slots=True)
class ClaimCost:
    fresh_ms: float  # open the store in a new process and claim one job
    warm_ms: float  # median claim in that same, now warm, store


@dataclass(frozen=True, slots=True)
class Latency:
    p50_ms: float
    p99_ms: float
    samples: int
    timed_out: bool


class ChildFailed(Exception):
    """A child process reported an exception, died, or did not answer in time."""


# --- in-process workloads -----------------------------------------------------------------


def enqueue(peer: Peer, n: int, deadline: float) -> Rate:
    began = time.perf_counter()
    done = 0
    for seq in range(n):
        peer.enqueue(payload(seq))
        done += 1
        if time.perf_counter() - began > deadline:
            break
    peer.flush()
    return Rate(done / (time.perf_counter() - began), partial=done < n)


def enqueue_many(peer: Peer, n: int, deadline: float) -> Rate | None:
    """None when the peer has no batch enqueue."""
    began = time.perf_counter()
    done = 0
    try:
        while done < n and time.perf_counter() - began <= deadline:
            size = min(BATCH, n - done)
            peer.enqueue_many([payload(seq) for seq in range(done, done + size)])
            done += size
    except Unsupported:
        return None
    return Rate(done / (time.perf_counter() - began), partial=done < n)


def drain(peer: Peer, n: int, deadline: float) -> Rate:
    """Claim -> no-op -> complete until the queue is empty (filled beforehand, untimed)."""
    peer.fill(0, n)
    began = time.perf_counter()
    done = 0
    while time.perf_counter() - began <= deadline:
        claimed = peer.claim()
        if claimed is None:
            break
        peer.complete(claimed)
        done += 1
    return Rate(done / (time.perf_counter() - began), partial=done < n)


# --- child processes: plumbing --------------------------------------------------------------


def _open(key: str, root: str) -> Peer:
    cls = PEERS[key]
    preload(cls)
    return cls(Path(root))


def _child(body: Callable[..., None], out: Any, *args: Any) -> None:
    """Run ``body`` in a child; any exception goes back to the parent as a message."""
    try:
        body(out, *args)
    except BaseException as e:
        out.put(("error", f"{type(e).__name__}: {e}"))
        raise


def _start(body: Callable[..., None], out: Any, *args: Any) -> Any:
    proc = MP.Process(target=_child, args=(body, out, *args), daemon=True)
    proc.start()
    return proc


def _expect(out: Any, kind: str, timeout: float, *procs: Any) -> tuple[Any, ...]:
    """The next message of ``kind`` (others are dropped); ChildFailed on an error message,
    a child of ``procs`` that died, or the timeout."""
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        try:
            message: tuple[Any, ...] = out.get(timeout=min(left, 0.5))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise ChildFailed(f"a child process exited with code {dead[0]}") from None
            continue
        if message[0] == "error":
            raise ChildFailed(message[1])
        if message[0] == kind:
            return message[1:]
    raise ChildFailed(f"no {kind!r} from the child within {timeout:.0f}s")


def _finish(*procs: Any) -> None:
    for proc in procs:
        proc.join(3)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- one producer + consumers -------------------------------------------------------------


def _produce(out: Any, key: str, root: str, n: int, go: Any, produced: Any) -> None:
    peer = _open(key, root)
    out.put(("ready",))
    go.wait()
    began = time.monotonic()
    for seq in range(n):
        peer.enqueue(payload(seq))
    peer.flush()
    produced.set()
    out.put(("produced", began))


def _consume(out: Any, key: str, root: str, go: Any, produced: Any, stop: Any) -> None:
    peer = _open(key, root)
    out.put(("ready",))
    go.wait()
    seqs: list[int] = []
    last = 0.0
    errors = 0
    idle_since: float | None = None
    while not stop.is_set():
        try:
            claimed = peer.claim()
            if claimed is not None:
                peer.complete(claimed)
        except Exception:  # e.g. a peer that read a half-written file
            errors += 1
            continue
        if claimed is not None:
            seqs.append(claimed.seq)
            last = time.monotonic()
            idle_since = None
        elif produced.is_set() and time.monotonic() - (idle_since or time.monotonic()) > IDLE_EXIT:
            break
        else:
            idle_since = idle_since or time.monotonic()
            time.sleep(0.001)
    out.put(("consumed", seqs, last, errors))


class _Starts:
    """What a real worker started, in order, and when it last started one (it calls
    ``__call__`` from its own threads)."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.first = self.last = 0.0
        self.reached = threading.Event()
        self.goal = 0

    def __call__(self, seq: int) -> None:
        now = time.monotonic()
        self.first = self.first or now
        self.last = now
        self.seqs.append(seq)
        if len(self.seqs) == self.goal:
            self.reached.set()


def _serving(key: str, root: str, starts: _Starts) -> tuple[threading.Event, threading.Thread]:
    """The peer's real worker, started in a thread of this child: stop it with the event."""
    peer = _open(key, root)
    done = threading.Event()
    thread = threading.Thread(target=peer.serve, args=(starts, done), daemon=True)
    thread.start()
    time.sleep(WORKER_SETTLE)
    return done, thread


def _serve_consume(out: Any, key: str, root: str, go: Any, produced: Any, stop: Any) -> None:
    """A consumer that is the peer's real worker: it reports the jobs it started once
    the producer is done and it started none for ``IDLE_EXIT``."""
    starts = _Starts()
    done, thread = _serving(key, root, starts)
    out.put(("ready",))
    go.wait()
    began = time.monotonic()
    while not stop.is_set():
        if produced.is_set() and time.monotonic() - max(starts.last, began) > IDLE_EXIT:
            break
        stop.wait(0.05)
    done.set()
    thread.join(15)
    out.put(("consumed", list(starts.seqs), starts.last, 0))


def producer_consumers(
    key: str, root: Path, n: int, deadline: float, *, consumers: int = 2, served: bool = False
) -> ExactlyOnce:
    """One producer enqueues ``n`` jobs one by one while ``consumers`` processes take
    them: claim loops, or (``served``) the peer's real workers."""
    out = MP.Queue()
    go, produced, stop = MP.Event(), MP.Event(), MP.Event()
    _open(key, str(root)).close()  # create the store before the processes race to
    body = _serve_consume if served else _consume
    procs = [_start(body, out, key, str(root), go, produced, stop) for _ in range(consumers)]
    procs.append(_start(_produce, out, key, str(root), n, go, produced))
    try:
        for _ in procs:
            _expect(out, "ready", CHILD_START_TIMEOUT, *procs)
        go.set()
        return _collect(out, n, deadline, stop, procs, consumers)
    finally:
        stop.set()
        _finish(*procs)


def _collect(
    out: Any, n: int, deadline: float, stop: Any, procs: list[Any], consumers: int
) -> ExactlyOnce:
    end = time.monotonic() + deadline
    (began,) = _expect(out, "produced", deadline, *procs)
    results = []
    for _ in range(consumers):
        left = end - time.monotonic()
        if left <= 0:
            stop.set()
        results.append(_expect(out, "consumed", max(left, 0) + 20, *procs))
    seqs = [seq for r in results for seq in r[0]]
    last = max(r[1] for r in results)
    unique = set(seqs)
    return ExactlyOnce(
        per_second=len(unique) / max(last - began, 1e-9),
        duplicates=len(seqs) - len(unique),
        lost=len(set(range(n)) - unique),
        errors=sum(r[2] for r in results),
        partial=time.monotonic() > end,
    )


# --- drain by the real worker ----------------------------------------------------------------


def _serve_count(out: Any, key: str, root: str, n: int, deadline: float) -> None:
    starts = _Starts()
    starts.goal = n
    done, thread = _serving(key, root, starts)
    out.put(("ready",))
    starts.reached.wait(deadline)
    out.put(("drained", starts.first, starts.last, len(starts.seqs)))
    done.set()
    thread.join(15)


def drain_served(key: str, root: Path, n: int, deadline: float) -> Rate:
    """The peer's real worker, alone in a process, drains ``n`` jobs filled beforehand
    (untimed): the rate from the first job's start to the last one's, so the worker's
    start-up is left out."""
    peer = PEERS[key](root)
    peer.fill(0, n)
    peer.close()
    out = MP.Queue()
    proc = _start(_serve_count, out, key, str(root), n, deadline)
    try:
        _expect(out, "ready", CHILD_START_TIMEOUT, proc)
        first, last, count = _expect(out, "drained", deadline + CHILD_START_TIMEOUT, proc)
    finally:
        _finish(proc)
    if count < 2:
        raise ChildFailed(f"the worker started {count} of {n} jobs")
    return Rate((count - 1) / max(last - first, 1e-9), partial=count < n)


# --- claim cost, RSS ----------------------------------------------------------------------


def _fresh_claim(out: Any, key: str, root: str, warm: int) -> None:
    cls = PEERS[key]
    preload(cls)
    began = time.perf_counter()
    peer = cls(Path(root))
    first = peer.claim()
    fresh_ms = (time.perf_counter() - began) * 1000
    if first is None:
        raise RuntimeError("the first claim found no job")
    times = []
    for _ in range(warm):
        began = time.perf_counter()
        claimed = peer.claim()
        times.append((time.perf_counter() - began) * 1000)
        if claimed is None:
            break
    out.put(("claimed", fresh_ms, times))


def claim_sweep(
    key: str, root: Path, levels: list[int], reps: int, warm: int, until: float
) -> dict[int, ClaimCost]:
    """Fill to each level in turn (untimed) and time claims there. A level whose filling
    would run past ``until`` (time.monotonic) at the rate seen so far is left out."""
    peer = PEERS[key](root)
    filled = 0
    rate = float("inf")  # jobs per second filled, once known
    costs = {}
    for level in levels:
        if time.monotonic() + (level - filled) / rate > until:
            break
        began = time.monotonic()
        peer.fill(filled, level - filled)
        rate = (level - filled) / max(time.monotonic() - began, 1e-6)
        filled = level
        costs[level] = _claim_cost(key, root, reps, warm)
    peer.close()
    return costs


def _claim_cost(key: str, root: Path, reps: int, warm: int) -> ClaimCost:
    fresh, warm_times = [], []
    for _ in range(reps):
        fresh_ms, times = _in_child(_fresh_claim, 120.0, "claimed", key, str(root), warm)
        fresh.append(fresh_ms)
        warm_times.extend(times)
    return ClaimCost(statistics.median(fresh), statistics.median(warm_times))


def _in_child(body: Callable[..., None], timeout: float, kind: str, *args: Any) -> Any:
    out = MP.Queue()
    proc = _start(body, out, *args)
    try:
        reply = _expect(out, kind, timeout, proc)
    finally:
        _finish(proc)
    return reply if len(reply) > 1 else reply[0]


def _serve_rss(out: Any, key: str, root: str, jobs: int) -> None:
    peer = _open(key, root)
    stop = threading.Event()
    started = 0

    def on_start(seq: int) -> None:
        nonlocal started
        started += 1
        if started == jobs:
            out.put(("rss", _peak_rss_mb()))
            stop.set()

    peer.serve(on_start, stop)


def worker_rss(key: str, root: Path, jobs: int = 50) -> float:
    """Peak RSS (MB) of the peer's worker after it ran ``jobs`` jobs off the backlog."""
    return float(_in_child(_serve_rss, 120.0, "rss", key, str(root), jobs))


# --- idle latency -----------------------------------------------------------------------------


def _serve_starts(out: Any, key: str, root: str, stop: Any) -> None:
    peer = _open(key, root)
    out.put(("ready",))
    peer.serve(lambda seq: out.put(("start", seq, time.monotonic())), stop)


def latency(
    key: str, root: Path, samples: int, budget: float, gaps: tuple[float, ...], timeout: float
) -> dict[float, Latency]:
    """Enqueue one job at a time into an idle worker, after each idle ``gap`` (seconds);
    time from the enqueue() call to the job's start in the worker process. Each gap gets
    ``budget`` seconds to start new samples; one sample waits at most ``timeout``."""
    peer = PEERS[key](root)
    out, stop = MP.Queue(), MP.Event()
    proc = _start(_serve_starts, out, key, str(root), stop)
    found: dict[float, Latency] = {}
    try:
        _expect(out, "ready", CHILD_START_TIMEOUT, proc)
        time.sleep(0.5)  # let the worker reach its idle wait
        for i, gap in enumerate(gaps):
            seqs = range(i * samples, (i + 1) * samples)
            found[gap] = _sample_latency(peer, out, seqs, time.monotonic() + budget, gap, timeout)
            if found[gap].timed_out or found[gap].p50_ms > budget * 1000:
                break  # a job still waits, or the worker polls slower than any gap we try
        return found
    finally:
        stop.set()
        _finish(proc)
        peer.close()


def _sample_latency(
    peer: Peer, out: Any, seqs: range, end: float, gap: float, timeout: float
) -> Latency:
    rng = Random(5)
    taken: list[float] = []
    timed_out = False
    for seq in seqs:
        time.sleep(rng.uniform(gap, gap * 1.5))
        began = time.monotonic()
        peer.enqueue(payload(seq))
        peer.flush()
        started = _wait_start(out, seq, began + timeout)
        if started is None:
            timed_out = True
            taken.append(time.monotonic() - began)  # a lower bound
            break
        taken.append(started - began)
        if time.monotonic() > end:
            break
    ms = sorted(t * 1000 for t in taken)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return Latency(statistics.median(ms), p99, len(ms), timed_out)


def _wait_start(out: Any, seq: int, until: float) -> float | None:
    while (left := until - time.monotonic()) > 0:
        try:
            message = out.get(timeout=left)
        except queue.Empty:
            return None
        if message[0] == "error":
            raise ChildFailed(message[1])
        if message[0] == "start" and message[1] == seq:
            return float(message[2])
    return None
