"""Evaluating a search over ``JobQueue.query_page`` keyset pages, within ``Limits``
(see ``jobqueue.search`` for why the limits, and how they are reported)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..codec import to_document
from ..job import STATUSES, Job
from .language import Search, View

if TYPE_CHECKING:
    from ..queue import JobQueue

#: Jobs read for one page or count before giving up (the answer then says so).
SCAN_CAP = 10_000
#: First batch a scan that tests documents reads; batches grow fourfold up to ``MAX_BATCH``, as
#: the time left allows; a batch smaller than ``MIN_BATCH`` is not worth its listing.
FIRST_BATCH = 300
MAX_BATCH = 5_000
MIN_BATCH = 50


# --- evaluation ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one search may read: at most ``jobs`` jobs, and at most ``seconds`` of
    scanning when given (timed by ``timer``, a monotonic clock tests can replace). The
    first batch (``FIRST_BATCH`` jobs) is always read whole: it is loaded already, and a
    search that looked at nothing would be useless."""

    jobs: int = SCAN_CAP
    seconds: float | None = None
    timer: Callable[[], float] = time.monotonic


@dataclass(frozen=True, slots=True)
class Count:
    """How many jobs match: exact, or at least ``n`` when the scan was ``capped``."""

    n: int
    capped: bool


@dataclass(frozen=True, slots=True)
class Found:
    """One page of matches, newest or oldest first as asked.

    ``more``: matches exist past the page's end (older when newest first). ``matched``:
    the matches the scan saw, the page's included (with ``count_all``, every match past
    the cursor unless ``capped``). ``capped``: the scan stopped at a limit before the
    store's end, so more may match; if the page is not full, ``resume`` is the last id
    scanned, where a "keep searching" link continues (``after``)."""

    jobs: list[Job]
    more: bool
    scanned: int
    matched: int
    capped: bool = False
    resume: str | None = None

    @property
    def count(self) -> Count:
        """``matched`` as a Count (at least that many when capped)."""
        return Count(self.matched, self.capped)


def find(
    queue: JobQueue,
    search: Search,
    *,
    limit: int,
    newest_first: bool = True,
    after: str | None = None,
    before: str | None = None,
    limits: Limits = Limits(),
    view: View = to_document,
    count_all: bool = False,
) -> Found:
    """A page of ``limit`` matches, keyset-paged like ``query_page`` (``after`` the last
    id of the previous page, or ``before`` the first id of the next). With
    ``count_all`` the scan goes on past a full page to count the matches (one pass
    serves both the page and its "N match" line)."""
    if search.id is not None:
        return _by_id(queue, search, view)
    budget = _Budget(limits)
    scan = _Scan(queue, search, newest_first, limit, budget)
    page: list[Job] = []
    scanned = matched = 0
    last, capped, now = None, False, queue.clock.now()
    for job in scan.jobs(after, before):
        if scanned >= limits.jobs or (scanned >= FIRST_BATCH and budget.late()):
            capped = True
            break
        scanned, last = scanned + 1, job.metadata.id
        if search.matches(view(job), now):
            matched += 1
            page += [job] if len(page) <= limit else []
            if len(page) > limit and not count_all:
                break
    capped = capped or scan.cut
    more, page = len(page) > limit, page[:limit]
    if before is not None:
        page.reverse()
    return Found(page, more, scanned, matched, capped, last if capped and not more else None)


def count(
    queue: JobQueue, search: Search, *, limits: Limits = Limits(), view: View = to_document
) -> Count:
    """How many jobs match (newest first, within ``limits``); exact and cheap when only
    statuses are asked (``stats``)."""
    if search.id is None and not search.tests and search.type is None:
        stats = queue.stats()
        return Count(sum(stats[s] for s in search.statuses or STATUSES), False)
    return find(queue, search, limit=0, limits=limits, view=view, count_all=True).count


def _by_id(queue: JobQueue, search: Search, view: View) -> Found:
    job = queue.get_job(search.id or "")
    keep = (
        job is not None
        and (not search.statuses or job.status in search.statuses)
        and search.type in (None, job.metadata.type)
        and search.matches(view(job), queue.clock.now())
    )
    found = [job] if keep and job is not None else []
    return Found(found, False, int(job is not None), len(found))


class _Budget:
    """The time left to a search (``Limits.seconds`` from its start)."""

    def __init__(self, limits: Limits) -> None:
        self.timer = limits.timer
        self.deadline = None if limits.seconds is None else limits.timer() + limits.seconds

    def left(self) -> float | None:
        """Seconds left; None without a time limit."""
        return None if self.deadline is None else self.deadline - self.timer()

    def late(self) -> bool:
        """Whether the time is up."""
        left = self.left()
        return left is not None and left <= 0


class _Scan:
    """Jobs in scan order (reversed for ``before``), in batches: each ``query_page``
    call lists the store once, so a page that tests no document costs one call of
    ``limit + 1``, and a scan that tests documents starts bigger. Later batches grow fourfold, but
    only as far as the time left allows at the pace the last batch went (a batch costs a
    whole listing, and cannot be cut short); when not even ``MIN_BATCH`` fits, the scan
    is ``cut``."""

    def __init__(
        self,
        queue: JobQueue,
        search: Search,
        newest_first: bool,
        limit: int,
        budget: _Budget,
    ) -> None:
        self.queue, self.search, self.newest_first = queue, search, newest_first
        self.budget = budget
        # Only document tests need a big first batch: what the store filters (status,
        # type) comes back matching, and a count then grows from the page as time allows.
        self.first = max(limit + 1, FIRST_BATCH) if search.tests else limit + 1
        self.cut = False

    def jobs(self, after: str | None, before: str | None) -> Iterator[Job]:
        """The jobs past the cursor, until the store's end or the time is up."""
        batch = self.first
        while True:
            began = self.budget.timer()
            page = self.queue.query_page(
                self.search.statuses or None, self.search.type, batch,
                newest_first=self.newest_first, after=after, before=before,
            )  # fmt: skip
            jobs = page.jobs[::-1] if before is not None else page.jobs
            yield from jobs
            if not page.more or not jobs:
                return
            batch = self._next_size(batch, len(jobs), self.budget.timer() - began)
            if batch < MIN_BATCH:
                self.cut = True
                return
            if before is not None:
                before = jobs[-1].metadata.id
            else:
                after = jobs[-1].metadata.id

    def _next_size(self, batch: int, read: int, took: float) -> int:
        """A small batch's pace is mostly the listing's fixed cost, so it says nothing of
        how many more fit: after one, the next is ``MIN_BATCH`` or more if time is left."""
        grown = min(max(batch * 4, MIN_BATCH), MAX_BATCH)
        left = self.budget.left()
        if left is None:
            return grown
        if read < MIN_BATCH:
            return grown if left > took else 0
        return min(grown, int(left * read / max(took, 1e-6)))
