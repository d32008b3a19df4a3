"""The queue in Prometheus's text format, for a scraper (``/metrics``, ``jobqueue metrics
--prometheus``). Needs ``prometheus-client`` (``pip install 'jobqueue[dashboard]'``).

``QueueCollector`` reads the queue at each scrape: ``stats()``, ``health()`` and
``metrics(window)``, nothing cached, so two scrapes never disagree with the store. It
is registered on a ``CollectorRegistry`` made per call (``exposition``): the client's
global registry, with its process and GC collectors, is never touched.

The families, all gauges (a window's count goes down as the window moves on, so none is
a counter; a scraper that wants rates over its own range takes them from these):

* ``jobqueue_jobs{status}``: jobs per status. ``pending`` counts every pending job,
  due or not, as ``stats()`` does, so the statuses add up to the total; the not yet due
  ones are ``jobqueue_jobs_delayed`` as well, and the due ones ``jobqueue_queue_depth``.
* ``jobqueue_quarantined_files``: unreadable job files set aside (not jobs: no status).
* ``jobqueue_oldest_due_wait_seconds``, ``jobqueue_workers{state="active"|"stale"}``.
* ``jobqueue_health{status}``: 1 for the queue's verdict (healthy, degraded,
  unhealthy), 0 for the others, the enum convention, so an alert reads
  ``jobqueue_health{status="healthy"} == 0``.
* ``jobqueue_store_up``: 0 when the store cannot be read; then nothing else is exposed,
  as a scrape of a down target shows nothing but ``up``.
* ``jobqueue_metrics_window_seconds``: the window the ``jobqueue_window_*`` families
  cover (``queue.metrics(window)``): finished, succeeded, failed, retried, throughput,
  error ratio, average and p95 duration. ``jobqueue_type_*`` are the same per job type
  (label ``type``). Overall and per type are separate families because a ratio or a
  percentile cannot be summed over types; an average or p95 is absent while nothing
  finished (absent, not 0: no job took 0 seconds).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from .durations import to_timedelta
from .errors import StoreError
from .job import STATUSES

if TYPE_CHECKING:
    from .queue import JobQueue

#: The content type of ``exposition``'s bytes: the classic text format, which every
#: Prometheus version (and every other scraper) reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
#: The metrics window when none is given: ``queue.metrics()``'s own default, so the
#: exposition, ``jobqueue metrics`` and the API agree unless told otherwise.
DEFAULT_WINDOW = timedelta(hours=1)
HEALTH_STATES = ("healthy", "degraded", "unhealthy")
_PREFIX = "jobqueue"


@dataclass(frozen=True, slots=True)
class _Windowed:
    """One key of ``queue.metrics()``: its family's name, help and unit conversion."""

    key: str
    name: str
    help: str
    scale: float = 1.0


_WINDOWED = (
    _Windowed("finished", "finished_jobs", "Jobs that completed or failed for good"),
    _Windowed("succeeded", "succeeded_jobs", "Jobs that completed"),
    _Windowed("failed", "failed_jobs", "Jobs that failed for good (retries used up)"),
    _Windowed("retried", "retried_attempts", "Failed attempts that went back to pending"),
    _Windowed(
        "throughput_per_minute", "throughput_jobs_per_second", "Finished jobs per second", 1 / 60
    ),
    _Windowed("error_rate", "error_ratio", "Share of finished jobs that failed (0 to 1)"),
    _Windowed(
        "avg_duration_s", "average_duration_seconds", "Average duration of the finishing attempt"
    ),
    _Windowed(
        "p95_duration_s",
        "p95_duration_seconds",
        "95th percentile (nearest rank) of the finishing attempt's duration",
    ),
)


class QueueCollector:
    """A prometheus-client collector over one queue: reads it at every ``collect``."""

    def __init__(self, queue: JobQueue, *, window: float | timedelta = DEFAULT_WINDOW) -> None:
        """``window``: what the ``jobqueue_window_*`` families cover (seconds or a
        timedelta)."""
        self.queue = queue
        self.window = to_timedelta(window, "window")

    def collect(self) -> Iterator[Metric]:
        """Every family (see the module docstring); only ``jobqueue_store_up`` 0 when
        the store cannot be read."""
        try:
            counts = self.queue.stats()
            health = self.queue.health()
            metrics = self.queue.metrics(self.window)
        except StoreError:
            yield _gauge("store_up", "1 when the store could be read, else 0", 0)
            return
        yield _gauge("store_up", "1 when the store could be read, else 0", 1)
        yield from _count_families(counts)
        yield from _health_families(health)
        yield from _window_families(metrics, self.window)


def _gauge(name: str, help: str, value: float | None, unit: str = "") -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{_PREFIX}_{name}", help, unit=unit)
    if value is not None:
        family.add_metric([], value)
    return family


def _labelled(
    name: str, help: str, label: str, values: Mapping[str, float | None]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{_PREFIX}_{name}", help, labels=[label])
    for key, value in values.items():
        if value is not None:
            family.add_metric([key], value)
    return family


def _count_families(counts: Mapping[str, int]) -> Iterator[Metric]:
    yield _labelled("jobs", "Jobs per status (pending includes the delayed ones)", "status",
                    {status: counts.get(status, 0) for status in STATUSES})  # fmt: skip
    yield _gauge("jobs_delayed", "Pending jobs not due yet", counts.get("delayed", 0))
    yield _gauge("quarantined_files", "Unreadable job files set aside",
                 counts.get("quarantined", 0))  # fmt: skip


def _health_families(health: Mapping[str, Any]) -> Iterator[Metric]:
    yield _gauge("queue_depth", "Pending jobs that are due", health["queue_depth"])
    yield _gauge("oldest_due_wait_seconds", "How long the oldest due job has waited",
                 health["oldest_due_wait_s"])  # fmt: skip
    workers = {"active": health["active_workers"], "stale": health["stale_workers"]}
    yield _labelled("workers", "Registered workers, live (active) or killed/silent (stale)",
                    "state", workers)  # fmt: skip
    verdict = {state: float(health["status"] == state) for state in HEALTH_STATES}
    yield _labelled("health", "1 for the queue's health verdict, 0 for the others",
                    "status", verdict)  # fmt: skip


def _window_families(metrics: Mapping[str, Any], window: timedelta) -> Iterator[Metric]:
    seconds = window.total_seconds()
    yield _gauge("metrics_window_seconds", "The window the jobqueue_window_* and "
                 "jobqueue_type_* families cover", seconds)  # fmt: skip
    by_type: Mapping[str, Mapping[str, Any]] = metrics["by_type"]
    for spec in _WINDOWED:
        help = f"{spec.help}, in the last {seconds:g} seconds"
        yield _gauge(f"window_{spec.name}", help, _scaled(metrics[spec.key], spec.scale))
        per_type = {t: _scaled(m[spec.key], spec.scale) for t, m in by_type.items()}
        yield _labelled(f"type_{spec.name}", f"{help}, per job type", "type", per_type)


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale


def exposition(queue: JobQueue, *, window: float | timedelta = DEFAULT_WINDOW) -> bytes:
    """The queue in Prometheus's text format (``CONTENT_TYPE``), read now: what a
    ``/metrics`` route returns. A fresh registry per call, so nothing is shared between
    queues or calls."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(queue, window=window))
    return generate_latest(registry)
