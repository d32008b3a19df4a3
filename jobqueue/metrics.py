"""Metrics: what the queue did in a time window, aggregated from job events.

Pure: ``summarize`` takes events and the window; it reads no files and no clock. The
queue feeds it the store's ``metric_samples``: the event log's lines reduced to a
``Sample`` without decoding each job document, which keeps a window of 100,000 finished
jobs well under a second (decoding every job took seconds). Reading events rather than
job files also makes it independent of how many finished jobs pile up in ``complete/``.

What is counted, for events with ``now - window <= at <= now`` (both edges included):

* ``succeeded``: ``completed`` events; ``failed``: ``failed`` events (a job that ran out
  of retries or failed permanently); ``finished`` is their sum. Cancelled jobs are
  neither: a cancel is a person's decision, not the job's outcome.
* ``retried``: failed attempts that went back to pending (``retrying`` events of a job
  whose ``retry_count`` is above 0, which includes attempts lost with a dead worker).
  A manual ``retry`` of a failed job resets ``retry_count`` and is not counted.
* ``throughput_per_minute``: ``finished`` divided by the window's length in minutes.
* ``avg_duration_s``, ``p95_duration_s``: the last attempt of each finished job (from its
  start to its end), None when nothing finished. The p95 is the nearest-rank percentile:
  the smallest duration that at least 95 % of the durations do not exceed (with 20
  durations, the 19th smallest; with fewer than 20, the largest).
* ``error_rate``: ``failed / finished`` (0.0 when nothing finished).
* ``by_type``: the same keys per job type, for every type with an event in the window
  (so a type whose jobs start but never finish shows up with zeros).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .events import EventName, JobEvent
from .job import CompleteJob, FailedJob, Job

#: The percentile reported as ``p95_duration_s``.
PERCENTILE = 95


@dataclass(frozen=True, slots=True)
class Sample:
    """What metrics need from one event: the event log stores these fields beside each
    event's job document, so they are read without decoding the job (see
    ``EventLog.read_samples``)."""

    event: EventName
    job_type: str
    at: datetime
    retry_count: int
    #: The finishing attempt's duration (completed and failed events), else None.
    duration_s: float | None
    #: How long the finishing attempt waited from due (``run_at``) to its start (completed
    #: and failed events), else None: queue latency without decoding job documents.
    wait_s: float | None = None


def sample_of(event: JobEvent) -> Sample:
    """The sample a backend without stored samples derives from a decoded event."""
    job = event.job
    return Sample(event.event, event.job_type, event.at, job.metadata.retry_count,
                  last_attempt_seconds(job), last_attempt_wait(job))  # fmt: skip


@dataclass
class _Tally:
    """Running totals for one job type (or all of them)."""

    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    durations: list[float] = field(default_factory=list)

    def add(self, sample: Sample) -> None:
        match sample.event:
            case "completed":
                self.succeeded += 1
            case "failed":
                self.failed += 1
            case "retrying" if sample.retry_count > 0:
                self.retried += 1
                return
            case _:
                return
        if sample.duration_s is not None:
            self.durations.append(sample.duration_s)

    def result(self, minutes: float) -> dict[str, Any]:
        finished = self.succeeded + self.failed
        return {
            "finished": finished,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "retried": self.retried,
            "throughput_per_minute": finished / minutes if minutes > 0 else 0.0,
            "avg_duration_s": sum(self.durations) / len(self.durations) if self.durations else None,
            "p95_duration_s": percentile(self.durations, PERCENTILE),
            "error_rate": self.failed / finished if finished else 0.0,
        }


def last_attempt_seconds(job: Job) -> float | None:
    """How long the attempt that finished the job ran (None if it has no attempt)."""
    if not isinstance(job, CompleteJob | FailedJob) or not job.attempts:
        return None
    last = job.attempts[-1]
    return max(0.0, (last.ended_at - last.started_at).total_seconds())


def last_attempt_wait(job: Job) -> float | None:
    """How long the attempt that finished the job waited from due to start (None if it
    has no attempt). ``run_at`` is that attempt's due time: a retry moves it."""
    if not isinstance(job, CompleteJob | FailedJob) or not job.attempts:
        return None
    return max(0.0, (job.attempts[-1].started_at - job.metadata.run_at).total_seconds())


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``p`` % of values <= it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(
    events: Iterable[Sample | JobEvent], now: datetime, window: timedelta
) -> dict[str, Any]:
    """Aggregate the events of ``[now - window, now]`` (see the module docstring)."""
    since = now - window
    total = _Tally()
    by_type: dict[str, _Tally] = {}
    for event in events:
        if not since <= event.at <= now:
            continue
        sample = event if isinstance(event, Sample) else sample_of(event)
        total.add(sample)
        by_type.setdefault(sample.job_type, _Tally()).add(sample)
    minutes = window.total_seconds() / 60
    types = sorted(by_type)
    return {
        **total.result(minutes),
        "by_type": {name: by_type[name].result(minutes) for name in types},
    }
