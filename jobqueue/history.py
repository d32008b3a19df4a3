"""History: what the queue did over a window, cut into buckets, for the overview's charts.

``History(queue).series("24h")`` returns one ``Bucket`` per slice of the window with the
finished, failed and retried counts, throughput, error rate and p95 duration of the jobs
that finished in it (``jobqueue.metrics.summarize`` over the slice, so a bucket's numbers
mean what ``queue.metrics()``'s do). ``latency("24h")`` returns the **queue latency** of
the attempts that started in each slice and finished the job: p50 and p95 of the wait
from a job's ``run_at`` (when it became due) to its ``started_at``.

Where the numbers come from, and what that costs:

* Counts and durations: the event log's metric samples (``events.samples``), which are
  read without decoding job documents: 100,000 finished jobs in 0.6 s on the file store.
* Latency: the same samples, which carry the finishing attempt's wait (``wait_s``); its
  start is ``at - duration_s``. Replaying the ``started`` events instead decoded every
  job document: 12 s for a cold 24 h chart of 100,000 jobs on the file store. What that
  leaves out: attempts still running, and attempts that ended in a retry (a retrying
  job's document holds its next due time, not the one the attempt waited from).
* **Closed buckets are cached** in the History object, keyed by width and start: a
  bucket that ended more than ``settle`` ago never changes (an event is written a moment
  after its ``at``; ``settle`` lets late writers land first). So a dashboard that keeps
  one History reads only the newest buckets at each refresh. The cache holds the buckets
  of the windows asked for, never more than the longest of them.
* The event log keeps 48 hours (``queue.metrics``); the file log drops an hour file as
  soon as its hour is that old, so only the last ``EVENT_LOG_KEEPS`` are surely there.
  A bucket that starts before that is ``covered=False`` with every number None (no data
  is not zero), unless it was cached while it was covered: a History that runs for a
  week fills the whole 7-day chart.

Buckets are aligned to multiples of their width since the Unix epoch (so a bucket has
the same start in every call, which is what makes the cache work); the last one holds
``now`` and is open: its throughput is over the part that has elapsed.

``failure_groups(queue, window)`` groups the failed jobs of the window by job type, error
type and **normalised** message: the parts that differ between two failures of one cause
(numbers, job ids, UUIDs, hex addresses and digests, timestamps) become placeholders, so
``no row 42`` and ``no row 97`` are one group, ``no row <n>``. The job type is part of the
key: one message in two job types is usually two bugs, and a retry by filter
(``jobqueue retry --status failed --type T``) can then be narrowed to the group's type.
Failed jobs are read from the store newest first (by id, that is by creation), at most
``limit`` of them: a store can hold far more than a page can read, and the report says
when it stopped short (``capped``), so its counts read "at least".
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Generic, TypeVar

from .durations import to_timedelta
from .errors import InvalidJob
from .job import FailedJob
from .metrics import Sample, percentile, summarize

if TYPE_CHECKING:
    from .queue import JobQueue

#: The span of the event log every backend surely still holds (it keeps 48 hours; the
#: file log drops a whole hour file at once, so up to an hour less).
EVENT_LOG_KEEPS = timedelta(hours=47)
#: How long after a bucket ends it is taken as final and cached: events are written a
#: moment after the time they carry, by any process.
SETTLE = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Span:
    """A chart window: ``buckets`` slices of ``width`` each, the last one holding now."""

    name: str
    width: timedelta
    buckets: int

    def __post_init__(self) -> None:
        if self.width <= timedelta(0) or self.buckets < 1:
            raise InvalidJob(f"a history span needs a positive width and buckets: {self!r}")

    @property
    def length(self) -> timedelta:
        """How far back the first bucket starts (at most; the last bucket is open)."""
        return self.width * self.buckets


#: The overview's windows: 30 to 60 buckets each, a width a person reads at a glance.
SPANS: Mapping[str, Span] = MappingProxyType(
    {
        "15m": Span("15m", timedelta(seconds=30), 30),
        "1h": Span("1h", timedelta(minutes=1), 60),
        "24h": Span("24h", timedelta(minutes=30), 48),
        "7d": Span("7d", timedelta(hours=3), 56),
    }
)


def span_of(span: str | Span) -> Span:
    """A Span, or the one of ``SPANS`` with this name (InvalidJob for another name)."""
    if isinstance(span, Span):
        return span
    if span not in SPANS:
        raise InvalidJob(f"unknown history window {span!r}: use one of {', '.join(SPANS)}")
    return SPANS[span]


@dataclass(frozen=True, slots=True, kw_only=True)
class Slice:
    """One bucket ``[start, end)`` of a series. ``covered`` False: the event log no
    longer holds it, and every number of the bucket is None (no data is not zero)."""

    start: datetime
    end: datetime
    covered: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket(Slice):
    """What finished in the slice, as ``queue.metrics()`` counts it: exact counts; the
    p95 duration is None when nothing finished."""

    finished: int | None = None
    failed: int | None = None
    retried: int | None = None
    throughput_per_minute: float | None = None
    error_rate: float | None = None
    p95_duration_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LatencyBucket(Slice):
    """The queue latency of the attempts that started in the slice: seconds from due
    (``run_at``) to ``started_at``, p50 and p95 (nearest rank), None when none started."""

    #: How many attempts started: the percentiles' sample size.
    started: int | None = None
    p50_s: float | None = None
    p95_s: float | None = None


B = TypeVar("B", bound=Slice)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Series(Generic[B]):
    """The buckets of one span, oldest first, as read at ``now``."""

    span: Span
    now: datetime
    buckets: tuple[B, ...]

    @property
    def covered_from(self) -> datetime | None:
        """Where the data starts (the first covered bucket), for "no data before" notes."""
        return next((b.start for b in self.buckets if b.covered), None)


def floor_time(at: datetime, width: timedelta) -> datetime:
    """The start of the ``width`` bucket holding ``at`` (aligned to the epoch)."""
    return _EPOCH + ((at - _EPOCH) // width) * width


def bucket_starts(span: Span, now: datetime) -> list[datetime]:
    """The starts of the span's buckets, oldest first; the last one holds ``now``."""
    last = floor_time(now, span.width)
    return [last - span.width * n for n in range(span.buckets - 1, -1, -1)]


#: Reads the buckets at the given starts (oldest first, all of one width) as of now.
Reader = Callable[[list[datetime], timedelta, datetime], dict[datetime, B]]


class _Cache(Generic[B]):
    """Settled buckets of one kind by (width, start), and how to fill in the rest."""

    def __init__(self, blank: Callable[[datetime, datetime], B]) -> None:
        self._blank = blank
        self._buckets: dict[tuple[timedelta, datetime], B] = {}
        self._longest = timedelta(0)
        self._lock = threading.Lock()

    def series(self, span: Span, now: datetime, read: Reader[B], history: History) -> Series[B]:
        starts = bucket_starts(span, now)
        with self._lock:
            cached = {s: self._buckets.get((span.width, s)) for s in starts}
        horizon = now - history.keeps
        missing = [s for s in starts if cached[s] is None and s >= horizon]
        fresh = read(missing, span.width, now) if missing else {}
        self._remember(span, fresh, now - history.settle, now)
        buckets = [cached[s] or fresh.get(s) or self._blank(s, s + span.width) for s in starts]
        return Series(span, now, tuple(buckets))

    def _remember(self, span: Span, fresh: Mapping[datetime, B], settled: datetime,
                  now: datetime) -> None:  # fmt: skip
        """Keep the settled buckets; forget those older than any window shows."""
        with self._lock:
            for start, bucket in fresh.items():
                if bucket.end <= settled:
                    self._buckets[(span.width, start)] = bucket
            self._longest = max(self._longest, span.length + span.width)
            oldest = now - self._longest
            for key in [k for k in self._buckets if k[1] < oldest]:
                del self._buckets[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._buckets)


class History:
    """The series of one queue, with settled buckets cached (see the module docstring).
    Keep one per queue for as long as the dashboard runs; it is safe across threads."""

    def __init__(
        self, queue: JobQueue, *, keeps: timedelta = EVENT_LOG_KEEPS, settle: timedelta = SETTLE
    ) -> None:
        """``keeps``: how far back the event log is trusted to be complete; ``settle``:
        how long after its end a bucket is final."""
        self.queue = queue
        self.keeps = keeps
        self.settle = settle
        self._counts = _Cache(lambda start, end: Bucket(start=start, end=end, covered=False))
        self._latency = _Cache(
            lambda start, end: LatencyBucket(start=start, end=end, covered=False)
        )

    def series(self, span: str | Span) -> Series[Bucket]:
        """Finished, failed, retried, throughput, error rate and p95 duration per bucket
        of ``span`` (a ``SPANS`` name or a Span), as of the queue's clock."""
        return self._counts.series(span_of(span), self.queue.clock.now(), self._read_counts, self)

    def latency(self, span: str | Span) -> Series[LatencyBucket]:
        """Queue latency (due to started) per bucket of ``span``, of the attempts that
        finished a job (see the module docstring)."""
        return self._latency.series(span_of(span), self.queue.clock.now(), self._read_waits, self)

    def cached(self) -> int:
        """How many buckets the caches hold (for tests and a debug view)."""
        return len(self._counts) + len(self._latency)

    def _read_counts(self, starts: list[datetime], width: timedelta, now: datetime
                     ) -> dict[datetime, Bucket]:  # fmt: skip
        samples = self.queue.backend.events.samples(starts[0])
        found = _by_bucket(((s.at, s) for s in samples), width, starts)
        return {s: _counts(s, width, now, found.get(s, [])) for s in starts}

    def _read_waits(self, starts: list[datetime], width: timedelta, now: datetime
                    ) -> dict[datetime, LatencyBucket]:  # fmt: skip
        samples = self.queue.backend.events.samples(starts[0])
        found = _by_bucket(finished_waits(samples), width, starts)
        return {s: _latency(s, width, found.get(s, [])) for s in starts}


def _by_bucket(
    items: Iterable[tuple[datetime, T]], width: timedelta, starts: list[datetime]
) -> dict[datetime, list[T]]:
    """The items in each of the buckets at ``starts``; others are dropped. By timestamp
    arithmetic: ``floor_time`` per item took a third of a cold read of 100,000 jobs."""
    first, step = starts[0].timestamp(), width.total_seconds()
    wanted = set(starts)
    found: defaultdict[datetime, list[T]] = defaultdict(list)
    for at, item in items:
        start = starts[0] + width * int((at.timestamp() - first) // step)
        if start in wanted:
            found[start].append(item)
    return found


def _counts(start: datetime, width: timedelta, now: datetime, samples: list[Sample]) -> Bucket:
    """``summarize`` over the bucket; an open bucket over the part that has elapsed."""
    end = start + width
    until = min(end, now)
    m = summarize(samples, until, until - start)
    return Bucket(
        start=start, end=end, finished=m["finished"], failed=m["failed"], retried=m["retried"],
        throughput_per_minute=m["throughput_per_minute"], error_rate=m["error_rate"],
        p95_duration_s=m["p95_duration_s"],
    )  # fmt: skip


def _latency(start: datetime, width: timedelta, waits: list[float]) -> LatencyBucket:
    return LatencyBucket(start=start, end=start + width, started=len(waits),
                         p50_s=percentile(waits, 50), p95_s=percentile(waits, 95))  # fmt: skip


def finished_waits(samples: Iterable[Sample]) -> Iterator[tuple[datetime, float]]:
    """``(started_at, seconds waited since due)`` of each attempt that finished a job."""
    for sample in samples:
        if sample.wait_s is not None:
            began = sample.at - timedelta(seconds=sample.duration_s or 0.0)
            yield began, sample.wait_s


# --- failures grouped by error -------------------------------------------------------------

#: Failed jobs ``failure_groups`` reads per call: about 0.1 s on the file store.
FAILURES_LIMIT = 1000
#: A normalised message is cut here: it is a key, and the sample keeps the full text.
MAX_PATTERN = 200

_UUID = r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"
_TIME = r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"
#: Most specific first: a job id holds digits that the number rule would take apart.
_RULES = (
    (re.compile(r"\b\d{8}T\d{6,12}Z-[0-9a-f]{8}\b"), "<id>"),
    (re.compile(_UUID, re.IGNORECASE), "<uuid>"),
    (re.compile(_TIME), "<time>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.IGNORECASE), "<hex>"),
    (re.compile(r"\b\d+(\.\d+)?"), "<n>"),  # "30.5s" too: no \b after the number
)


def normalise(message: str) -> str:
    """The message's first line with its varying parts replaced (see the module
    docstring), spaces collapsed, cut at ``MAX_PATTERN`` characters."""
    lines = message.strip().splitlines()
    text = lines[0] if lines else ""
    for pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    return " ".join(text.split())[:MAX_PATTERN]


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureGroup:
    """Failed jobs of one type with one error type and normalised message."""

    job_type: str
    error_type: str
    #: The normalised message: the group's key with the two above.
    pattern: str
    count: int
    first_seen: datetime
    last_seen: datetime
    #: The newest failure's job id and its message as it was written.
    sample_id: str
    sample_message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureReport:
    """The groups, most frequent first (then the most recent); ``scanned`` failed jobs
    were read, and ``capped`` says more exist that were not (counts are then minimums)."""

    groups: tuple[FailureGroup, ...]
    since: datetime
    scanned: int
    capped: bool


def failure_groups(
    queue: JobQueue, window: float | timedelta = timedelta(hours=24), *, limit: int = FAILURES_LIMIT
) -> FailureReport:
    """Group the failed jobs whose ``failed_at`` is in the last ``window``, reading at
    most ``limit`` failed jobs, newest first."""
    since = queue.clock.now() - to_timedelta(window, "window")
    page = queue.query_page("failed", limit=limit, newest_first=True)
    found: dict[tuple[str, str, str], list[FailedJob]] = {}
    for job in page.jobs:
        if isinstance(job, FailedJob) and job.failed_at >= since:
            key = (job.metadata.type, job.error.type, normalise(job.error.message))
            found.setdefault(key, []).append(job)
    groups = [_group(key, jobs) for key, jobs in found.items()]
    groups.sort(key=lambda g: (-g.count, -g.last_seen.timestamp(), g.job_type, g.pattern))
    return FailureReport(groups=tuple(groups), since=since, scanned=len(page.jobs),
                         capped=page.more)  # fmt: skip


def _group(key: tuple[str, str, str], jobs: list[FailedJob]) -> FailureGroup:
    newest = max(jobs, key=lambda j: (j.failed_at, j.metadata.id))
    return FailureGroup(
        job_type=key[0], error_type=key[1], pattern=key[2], count=len(jobs),
        first_seen=min(j.failed_at for j in jobs), last_seen=newest.failed_at,
        sample_id=newest.metadata.id, sample_message=newest.error.message,
    )  # fmt: skip
