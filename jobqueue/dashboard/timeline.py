"""A job's history as a timeline, and its attempts as rows: read off its document.

The document already holds the history that matters (INTERFACE: ``attempts`` survive
retries, reaping and manual retry): when it was created and due, each attempt's start,
worker, end and error, the current run's progress, and how it ended. The event log
adds little to that for one job and has no per-job index: replaying it from a job's
creation reads every event since, more than a page may spend on a busy queue. So the
page starts from the document, and its live stream appends each new event as it
happens (see ``pages/job``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .formatting import between


@dataclass(frozen=True, slots=True)
class Step:
    """One moment of a job's life: ``at`` (ISO text), what happened, and details."""

    at: str
    label: str
    detail: str = ""
    #: ``ok``, ``error`` or ``info``: how the step is drawn.
    tone: str = "info"


def steps(doc: Mapping[str, Any]) -> list[Step]:
    """The job's timeline, oldest first."""
    meta = doc["metadata"]
    found = [Step(meta["created"], "created", f"type {meta['type']}, priority {meta['priority']}")]
    for n, attempt in enumerate(doc.get("attempts") or (), start=1):
        found += _attempt_steps(n, attempt)
    found += _current_steps(doc)
    return sorted(found, key=lambda s: s.at)  # document times sort as text (codec)


def _attempt_steps(n: int, attempt: Mapping[str, Any]) -> list[Step]:
    worker = _who(attempt.get("worker"))
    error = attempt.get("error")
    took = between(attempt["started_at"], attempt["ended_at"])
    if error:
        end = Step(
            attempt["ended_at"],
            f"attempt {n} failed",
            _error_line(error) + f" (after {took})",
            "error",
        )
    else:
        end = Step(attempt["ended_at"], f"attempt {n} succeeded", f"after {took}", "ok")
    return [Step(attempt["started_at"], f"attempt {n} started", worker), end]


def _current_steps(doc: Mapping[str, Any]) -> list[Step]:
    """What the attempts do not hold: the run in progress, a due retry, the end."""
    meta, status = doc["metadata"], doc["status"]
    if status == "pending" and (doc.get("attempts") or meta["run_at"] != meta["created"]):
        return [Step(meta["run_at"], "due", "waits for a worker from then on")]
    if status == "running":
        progress = doc.get("progress")
        found = [Step(doc["started_at"], f"attempt {len(doc.get('attempts') or ()) + 1} started",
                      _who(doc.get("worker")))]  # fmt: skip
        if progress:
            found.append(Step(doc["heartbeat_at"], "progress", _progress_line(progress)))
        return found
    if status == "cancelled":
        return [Step(doc["cancelled_at"], "cancelled", doc.get("reason") or "", "error")]
    if status == "failed" and not doc.get("attempts"):
        return [Step(doc["failed_at"], "failed", _error_line(doc["error"]), "error")]
    return []


def _who(worker: Mapping[str, Any] | None) -> str:
    if not worker:
        return ""
    return f"{worker['name']} on {worker['host']} (pid {worker['pid']})"


def _error_line(error: Mapping[str, Any]) -> str:
    return f"{error['type']}: {error['message']}"


def _progress_line(progress: Mapping[str, Any]) -> str:
    text = f"{progress['percentage']:.0f}%"
    if progress.get("stage"):
        text += f" {progress['stage']}"
    return text + (f": {progress['message']}" if progress.get("message") else "")


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One attempt as the attempts table shows it."""

    number: int
    attempt: Mapping[str, Any]
    duration: str
    #: The earlier attempt that failed with the same error type and message, if any.
    same_as: int | None


def attempt_rows(attempts: Sequence[Mapping[str, Any]]) -> list[AttemptRow]:
    """The attempts, numbered from 1, each with its duration and repeated-error link."""
    rows: list[AttemptRow] = []
    seen: dict[tuple[str, str], int] = {}
    for n, attempt in enumerate(attempts, start=1):
        error = attempt.get("error")
        key = (error["type"], error["message"]) if error else None
        rows.append(AttemptRow(n, attempt, between(attempt["started_at"], attempt["ended_at"]),
                               seen.get(key) if key else None))  # fmt: skip
        if key and key not in seen:
            seen[key] = n
    return rows
