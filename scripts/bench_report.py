"""Turn the benchmark's results into one table, the issue's targets and a machine line."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench_base import Kind, Peer
from bench_peers import DISTRIBUTIONS, PEERS
from bench_workloads import ClaimCost, ExactlyOnce, Latency, Rate

#: What each peer is compared with: jobqueue in the same part of the bench, durable
#: like it where there is a choice.
BASELINE: dict[tuple[Kind, bool], str] = {
    ("file", True): "jobqueue",
    ("file", False): "jobqueue-nosync",
    ("postgres", False): "jobqueue-pg",
}
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass
class Row:
    """Everything measured for one peer; lists hold one entry per repetition."""

    key: str
    note: str | None = None  # "not installed", ...
    enqueue: list[Rate] = field(default_factory=list)
    enqueue_many: list[Rate] = field(default_factory=list)
    drain: list[Rate] = field(default_factory=list)
    pc: list[ExactlyOnce] = field(default_factory=list)
    claims: dict[int, ClaimCost] = field(default_factory=dict)
    latency: dict[float, Latency] = field(default_factory=dict)  # by idle gap (s)
    rss_mb: float | None = None
    errors: dict[str, str] = field(default_factory=dict)


# --- numbers ------------------------------------------------------------------------------


def median_rate(rates: Iterable[Rate | ExactlyOnce]) -> tuple[float, bool] | None:
    values = list(rates)
    if not values:
        return None
    return statistics.median(r.per_second for r in values), any(r.partial for r in values)


def metric(row: Row, name: str) -> float | None:
    """One number per row for ratios and targets; higher is better for rates only."""
    top = max(row.claims) if row.claims else None
    getters: dict[str, Callable[[], float | None]] = {
        "enqueue": lambda: _value(median_rate(row.enqueue)),
        "enqueue_many": lambda: _value(median_rate(row.enqueue_many)),
        "drain": lambda: _value(median_rate(row.drain)),
        "pc": lambda: _value(median_rate(row.pc)),
        "fresh_top": lambda: row.claims[top].fresh_ms if top else None,
        "warm_top": lambda: row.claims[top].warm_ms if top else None,
        "warm_low": lambda: row.claims[min(row.claims)].warm_ms if top else None,
        "p50_short": lambda: _p50(row, min),
        "p50_long": lambda: _p50(row, max),
        "rss": lambda: row.rss_mb,
    }
    return getters[name]()


def _p50(row: Row, pick: Callable[[Iterable[float]], float]) -> float | None:
    """p50 latency after the shortest (min) or longest (max) idle gap measured."""
    if not row.latency:
        return None
    gap = pick(row.latency)
    return row.latency[gap].p50_ms if gap in row.latency else None


def _value(found: tuple[float, bool] | None) -> float | None:
    return None if found is None else found[0]


def advantage(jq: float | None, peer: float | None, higher_is_better: bool) -> float | None:
    """How many times better jobqueue is than the peer (> 1: jobqueue wins)."""
    if not jq or not peer:
        return None
    return jq / peer if higher_is_better else peer / jq


# --- cells --------------------------------------------------------------------------------


def _num(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def _ratio(r: float | None) -> str:
    if r is None:
        return ""
    return f" (jq {TIMES}{r:.2g})" if r < 10 else f" (jq {TIMES}{r:.0f})"


def _rate_cell(rates: list[Rate] | list[ExactlyOnce], ratio: float | None) -> str:
    found = median_rate(rates)
    if found is None:
        return "—"
    value, partial = found
    return f"{_num(value)}{'*' if partial else ''}{_ratio(ratio)}"


def _pc_cell(row: Row, ratio: float | None) -> str:
    if not row.pc:
        return "—"
    dup = max(r.duplicates for r in row.pc)
    lost = max(r.lost for r in row.pc)
    errors = max(r.errors for r in row.pc)
    extra = f", {errors} err" if errors else ""
    return f"{_rate_cell(row.pc, ratio)} · dup {dup} lost {lost}{extra}"


def _claims_cell(costs: dict[int, ClaimCost], fresh: bool) -> str:
    if not costs:
        return "—"
    values = [c.fresh_ms if fresh else c.warm_ms for _, c in sorted(costs.items())]
    growth = values[-1] / values[0] if values[0] else float("nan")
    return " → ".join(_num(v) for v in values) + f" ({TIMES}{growth:.2g})"


def _latency_cell(row: Row, ratio: float | None) -> str:
    parts = [f"{gap:g} s: {_latency(lat)}" for gap, lat in sorted(row.latency.items())]
    return " · ".join(parts) + _ratio(ratio) if parts else "—"


def latency_advantage(jq: Row, peer: Row) -> float | None:
    """jobqueue's p50 advantage at the longest idle gap both were measured at (None if
    either timed out there: a lower bound makes no ratio)."""
    gaps = set(jq.latency) & set(peer.latency)
    if not gaps:
        return None
    a, b = jq.latency[max(gaps)], peer.latency[max(gaps)]
    return None if a.timed_out or b.timed_out else advantage(a.p50_ms, b.p50_ms, False)


def _latency(lat: Latency) -> str:
    if lat.timed_out and lat.samples == 1:
        return f"> {_num(lat.p50_ms)} (timed out)"
    late = "+timeout" if lat.timed_out else ""
    return f"{_num(lat.p50_ms)} / {_num(lat.p99_ms)} (n={lat.samples}{late})"


HEADERS = (
    "queue",
    "fsync",
    "enqueue/s",
    "enqueue_many/s",
    "drain/s (1 consumer)",
    "producer + 2 consumers/s",
    "first claim ms, fresh process",
    "claim ms, warm store",
    "enqueue→start ms p50 / p99, after idle ≥ s",
    "worker peak RSS MB",
)


def baseline(cls: type[Peer], rows: dict[str, Row]) -> Row | None:
    """The jobqueue row ``cls`` is compared with, if it is in this run."""
    keys = (BASELINE.get((cls.kind, cls.durable)), BASELINE.get((cls.kind, not cls.durable)))
    return next((rows[k] for k in keys if k in rows), None)


def cells(row: Row, rows: dict[str, Row]) -> list[str]:
    cls = PEERS[row.key]
    head = [cls.label, "yes" if cls.durable else "no"]
    if row.note:
        return [*head, row.note, *[""] * (len(HEADERS) - 3)]
    base = baseline(cls, rows)
    is_jq = row.key in BASELINE.values() or base is None

    def ratio(name: str, higher: bool) -> float | None:
        return (
            None
            if is_jq or base is None
            else advantage(metric(base, name), metric(row, name), higher)
        )

    rss = "—" if row.rss_mb is None else f"{row.rss_mb:.0f}{_ratio(ratio('rss', False))}"
    return [
        *head,
        _rate_cell(row.enqueue, ratio("enqueue", True)),
        _rate_cell(row.enqueue_many, None),
        _rate_cell(row.drain, ratio("drain", True)),
        _pc_cell(row, ratio("pc", True)),
        _claims_cell(row.claims, fresh=True),
        _claims_cell(row.claims, fresh=False),
        _latency_cell(row, None if is_jq or base is None else latency_advantage(base, row)),
        rss,
    ]


def table(rows: dict[str, Row], headers: tuple[str, ...] = HEADERS) -> str:
    """A markdown table, one row per peer (``headers`` name the same columns)."""
    body = [list(headers), *(cells(row, rows) for row in rows.values())]
    widths = [max(len(line[i]) for line in body) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in body
    ]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def error_lines(rows: dict[str, Row]) -> list[str]:
    return [
        f"error: {key} {workload}: {msg}"
        for key, row in rows.items()
        for workload, msg in row.errors.items()
    ]


# --- targets ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    value: float | None
    limit: float
    at_most: bool  # the value must be <= limit (else >= limit)

    def line(self) -> str:
        if self.value is None:
            return f"  n/a   {self.text}: not measured in this run"
        ok = self.value <= self.limit if self.at_most else self.value >= self.limit
        bound = f"{'≤' if self.at_most else '≥'} {_num(self.limit)}"
        return f"  {'PASS' if ok else 'MISS'}  {self.text}: {_num(self.value)} ({bound})"


def _ratio_of(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def measured(rows: dict[str, Row], key: str, name: str) -> float | None:
    """``metric`` of the row ``key``, when that peer ran."""
    return metric(rows[key], name) if key in rows and not rows[key].note else None


def versus(
    rows: dict[str, Row], key: str, name: str, other: str, other_name: str | None = None
) -> float | None:
    """The ratio of one row's metric to another's (or to another metric of the same)."""
    return _ratio_of(measured(rows, key, name), measured(rows, other, other_name or name))


def top_level(rows: dict[str, Row], key: str) -> str:
    """The highest claim level ``key`` reached, for the targets' wording."""
    return f"{max(rows[key].claims):,}" if key in rows and rows[key].claims else "top level"


def targets(rows: dict[str, Row]) -> list[Target]:
    """The issue's targets, each a ratio or a bound measured in this one run."""

    def m(key: str, name: str) -> float | None:
        return measured(rows, key, name)

    def vs(key: str, name: str, other: str, other_name: str | None = None) -> float | None:
        return versus(rows, key, name, other, other_name)

    jq, fast, huey = "jobqueue", "jobqueue-nosync", "huey-sqlite"
    top = top_level(rows, jq)
    found = [
        Target(
            f"warm claim at {top} ÷ at the lowest level",
            vs(jq, "warm_top", jq, "warm_low"),
            1.5,
            True,
        ),
        Target(f"first claim of a fresh process at {top}, ms", m(jq, "fresh_top"), 100, True),
        Target("idle enqueue→start p50, real worker, longest idle, ms", m(jq, "p50_long"), 1, True),
        Target(
            "idle enqueue→start p50, real worker, shortest idle, ms", m(jq, "p50_short"), 1, True
        ),
        Target("durable enqueue ÷ fsync loop", vs(jq, "enqueue", "ref-fsync"), 0.9, False),
        Target(
            "enqueue_many ÷ huey sqlite enqueue", vs(jq, "enqueue_many", huey, "enqueue"), 2, False
        ),
        Target("durable drain ÷ huey sqlite", vs(jq, "drain", huey), 1.0, False),
        Target("durable producer+2 consumers ÷ huey sqlite", vs(jq, "pc", huey), 1.0, False),
        Target("durable producer+2 consumers: duplicates + lost", dup_lost(rows.get(jq)), 0, True),
    ]
    for name, label, higher in DIRQ_WORKLOADS:
        value = advantage(m(fast, name), m("dirq", name), higher)
        found.append(Target(f"durable=False vs python-dirq, {label} (jq {TIMES})", value, 1, False))
    both = all(k in rows and not rows[k].note for k in (fast, "dirq"))
    at_gap = latency_advantage(rows[fast], rows["dirq"]) if both else None
    found.append(Target(f"durable=False vs python-dirq, idle p50 (jq {TIMES})", at_gap, 1, False))
    found.append(Target(f"worker peak RSS with {top} pending, MB", m(jq, "rss"), 100, True))
    return found


DIRQ_WORKLOADS = (
    ("enqueue", "enqueue", True),
    ("drain", "drain", True),
    ("pc", "producer+2 consumers", True),
    ("warm_top", "warm claim", False),
    ("fresh_top", "fresh claim", False),
)


def dup_lost(row: Row | None) -> float | None:
    """Duplicates plus lost jobs over every producer run of ``row``."""
    if row is None or not row.pc:
        return None
    return float(sum(r.duplicates + r.lost for r in row.pc))


# --- the machine ----------------------------------------------------------------------------


def machine_line(path: Path, load_at_start: float) -> str:
    """CPU, cores, kernel, the filesystem under ``path``, Python, and the 1-minute load
    average at the start and the end (other work on a shared machine skews the numbers)."""
    return (
        f"machine: {_cpu()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"{_filesystem(path)} at {path}, Python {platform.python_version()}, "
        f"load average {load_at_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _filesystem(path: Path) -> str:
    """The type and mount options of the filesystem holding ``path``."""
    target = os.path.realpath(path)
    best = ("", "unknown filesystem", "")
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                _, mount, fstype, options, *_ = line.split()
                inside = target == mount or target.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best[0]):
                    best = (mount, fstype, options)
    except OSError:
        return best[1]
    return f"{best[1]} ({best[2]})"


def versions_line(keys: Iterable[str]) -> str:
    names = sorted({req for key in keys for req in PEERS[key].requires})
    found = []
    for name in names:
        try:
            found.append(f"{DISTRIBUTIONS[name]} {importlib.metadata.version(DISTRIBUTIONS[name])}")
        except importlib.metadata.PackageNotFoundError:
            continue
        if name == "jobqueue":
            found[-1] += f" ({_revision()})"
    return "versions: " + ", ".join(found)


def _revision() -> str:
    """The repository's commit (``-dirty`` with local changes), for the record."""
    repo = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "no git"
    return done.stdout.strip() or "no git"
