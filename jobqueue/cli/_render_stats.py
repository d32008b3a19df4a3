"""``jobqueue stats`` as plain text: the counts, then health and the last hour's metrics.

Not drawn with rich, as the other tables are: importing rich cost ``stats`` ~30 ms of
its ~180 ms (scripts/bench_startup.py), and two columns of short text need no more than
padding. Everything here is our own wording and numbers, or job types (which
``check_type`` limits to safe names), so no markup or control character can reach it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from ..durations import format_duration

Row = tuple[str, str]


def plural(count: int, noun: str) -> str:
    """``1 attempt``, ``2 attempts``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def seconds(value: float | None) -> str:
    """A duration as the CLI writes it, ``-`` for none."""
    return "-" if value is None else format_duration(value)


def stats_text(counts: Mapping[str, int]) -> str:
    """``delayed`` is a part of ``pending`` (pending jobs not yet due), so it is indented
    under it and a line below says so: adding up the column must not count it twice."""
    rows = [(f"  {name}" if name == "delayed" else name, str(n)) for name, n in counts.items()]
    names = list(counts)
    split = names.index("quarantined") + 1 if "quarantined" in names else len(rows)
    text = table(("STATUS", "JOBS"), [rows[:split], rows[split:]], right=True)
    if counts.get("delayed"):
        pending = counts.get("pending", 0)
        text += f"\npending {pending} ({counts['delayed']} delayed, not yet due)\n"
    return text


def health_text(health: Mapping[str, Any], metrics: Mapping[str, Any], window: str) -> str:
    """Labels of two words or more, so a row never reads like a ``STATUS JOBS`` row."""
    workers = f"{health['active_workers']} active, {health['stale_workers']} stale"
    rows = [
        ("queue depth (due)", str(health["queue_depth"])),
        ("oldest due wait", seconds(health["oldest_due_wait_s"])),
        ("live workers", workers),
        *((f"why ({n})", reason) for n, reason in enumerate(health["reasons"], 1)),
        (f"finished in {window}", f"{metrics['succeeded']} ok, {metrics['failed']} failed"),
        (f"retried in {window}", plural(metrics["retried"], "attempt")),
        ("throughput per minute", f"{metrics['throughput_per_minute']:.2f}"),
        ("duration avg / p95", f"{seconds(metrics['avg_duration_s'])} / "
                               f"{seconds(metrics['p95_duration_s'])}"),
        ("error rate", f"{metrics['error_rate']:.0%}"),
    ]  # fmt: skip
    return table(("HEALTH", health["status"]), [rows])


def table(header: Row, sections: Sequence[Sequence[Row]], *, right: bool = False) -> str:
    """Two columns under a header and a rule, sections apart by a blank line; the second
    column right-aligned when ``right``."""
    rows = [header, *(row for section in sections for row in section)]
    first = max(_width(label) for label, _ in rows)
    second = max(_width(value) for _, value in rows)
    lines = [_line(header, first, second, right), "─" * (first + 2 + second)]
    for n, section in enumerate(s for s in sections if s):
        if n:
            lines.append("")
        lines.extend(_line(row, first, second, right) for row in section)
    return "\n".join(lines) + "\n"


def _line(row: Row, first: int, second: int, right: bool) -> str:
    label, value = row
    gap = " " * (first - _width(label) + 2)
    pad = " " * (second - _width(value))
    return (f"{label}{gap}{pad}{value}" if right else f"{label}{gap}{value}").rstrip()


def _width(text: str) -> int:
    """Terminal columns: wide (East Asian) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
