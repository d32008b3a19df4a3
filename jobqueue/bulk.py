"""Changing many jobs at once: retry, cancel or delete the jobs given by id, or every job
a filter matches, with a dry run first and a report of what happened to each job.

Used by ``jobqueue retry|cancel ... --status`` and by the dashboard's bulk dialog, so a
filter selects, a dry run counts and a run reports the same way in both.

* A ``Selection`` is ids, or a filter: statuses, a job type, and search terms that each
  job's document must match (``jobqueue.search``, read through a caller's ``view``, such
  as the dashboard's redaction, so a hidden field cannot be probed by a bulk action).
* ``preview`` changes nothing: how many jobs the change would apply to, the first few
  of them (those a run takes first), the ids given it would refuse, and, walking newest
  first, the newest job counted: a run's ``until``, so that it never acts on a job
  created after the dry run its user confirmed.
* ``apply_all`` walks the selection page by page by id (keyset), oldest first (the
  commands) or newest first (the dashboard), so a change made to one page never hides
  a job of the next, and applies the change to each job. Every change is
  compare-and-set (``JobQueue.retry``, ``cancel``, ``delete``): a job that another
  process changed since it was read is **skipped**, with the reason, never
  overwritten. ``limit`` caps a run; the report says when it stopped there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from . import search
from .codec import to_document
from .errors import InvalidJob, JobNotFound, JobQueueError, StaleJob
from .job import STATUSES, CancelledJob, Job, Status
from .search import Count, Limits, Search, View

if TYPE_CHECKING:
    from .queue import JobQueue

#: What one job's change came to: done; skipped (it was not, or no longer, in a state
#: the change applies to: another process changed it, or an id named such a job); or an
#: error (no job with an id given, an unreadable file, a store failure).
Outcome = Literal["done", "skipped", "error"]
#: Changes one job by id; returns what happened as a report's format (``"retried {}"``)
#: or raises (see ``apply_all``).
Change = Callable[[str], str]

RETRYABLE: tuple[Status, ...] = ("failed", "cancelled")
CANCELLABLE: tuple[Status, ...] = ("pending", "running")
DELETABLE: tuple[Status, ...] = ("complete", "failed", "cancelled")

#: What ``cancel_job`` did: cancelled a pending job, or asked a running one's worker.
CANCELLED = "cancelled {}"
STOPPING = "asked the workers of {} to stop"

PAGE = 500  # jobs read per query while walking a filter
SAMPLES = 5  # ids a dry run shows


class Refused(JobQueueError):
    """A bulk change does not apply to this job in its present state (``"is pending"``)."""


@dataclass(frozen=True, slots=True)
class Selection:
    """The jobs a bulk change acts on: the ids given, or every job in ``statuses`` (of
    ``job_type``, matching ``search``) when the change runs. No statuses, no filter."""

    ids: tuple[str, ...] = ()
    statuses: tuple[Status, ...] = ()
    job_type: str | None = None
    #: Terms each job of the filter must also match; its own statuses and type give way
    #: to the two fields above (``search.parse`` of the dashboard's search box).
    search: Search = field(default_factory=Search)
    #: The filter takes no job created after this id (the newest a dry run counted).
    until: str | None = None
    #: Walk the filter newest first (the dashboard: its dry run then reads one end of
    #: the store only) rather than oldest first (the commands).
    newest_first: bool = False

    @property
    def filter(self) -> Search:
        """The filter as one search (its statuses, type and terms)."""
        return replace(self.search, statuses=self.statuses, type=self.job_type)


def selected_ids(
    queue: JobQueue, selection: Selection, *, view: View = to_document
) -> Iterator[str]:
    """The ids to act on: as given, or the filter's matches page by page, none newer
    than ``until``."""
    yield from selection.ids
    if not selection.statuses:
        return
    for job_id in _walk(queue, selection, view):
        if selection.until is None or job_id <= selection.until:
            yield job_id
        elif not selection.newest_first:
            return  # oldest first: every id from here on is newer still


def _walk(queue: JobQueue, selection: Selection, view: View) -> Iterator[str]:
    wanted, after = selection.filter, None
    while True:
        found = search.find(queue, wanted, limit=PAGE, newest_first=selection.newest_first,
                            after=after, view=_reader(wanted, view))  # fmt: skip
        yield from (job.metadata.id for job in found.jobs)
        if found.capped and found.resume is not None:
            after = found.resume  # nothing matched in the scan's cap: scan on past it
        elif found.more and found.jobs:
            after = found.jobs[-1].metadata.id
        else:
            return


def _reader(wanted: Search, view: View) -> View:
    """``view``, unless the search tests nothing: a filter by status and type alone need
    not build each job's document."""
    return view if wanted.tests else _nothing


def _nothing(job: Job) -> Mapping[str, Any]:
    return {}


# --- the dry run ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preview:
    """What a bulk change would do; nothing changed."""

    #: Jobs it would change; at least that many when ``capped`` (the count stopped).
    count: int
    capped: bool
    #: The first few of them, oldest first.
    samples: tuple[str, ...]
    #: Ids given that it would refuse, each as ``"ID (why)"``.
    refused: tuple[str, ...] = ()
    #: The newest job counted (walking newest first): a run's ``Selection.until``.
    newest: str | None = None


def preview(
    queue: JobQueue,
    selection: Selection,
    allowed: Sequence[Status],
    *,
    view: View = to_document,
    limits: Limits | None = None,
    stats: Mapping[str, int] | None = None,
) -> Preview:
    """The dry run of a change that applies to jobs in ``allowed`` statuses. A filter is
    counted exactly, walking every match (the commands), or within ``limits`` (the
    count is then ``capped`` if it stopped), or from ``stats`` (a caller's recent
    counts) when it asks for statuses alone."""
    if selection.ids:
        return _preview_ids(queue, selection.ids, allowed)
    if not selection.statuses:
        return Preview(0, False, ())
    if limits is None:
        found = list(selected_ids(queue, selection, view=view))
        return _preview(selection, Count(len(found), False), found[:SAMPLES])
    wanted, reader = selection.filter, _reader(selection.filter, view)
    scan = not statuses_only(wanted)  # else counts tell how many match
    page = search.find(queue, wanted, limit=SAMPLES, newest_first=selection.newest_first,
                       limits=limits, view=reader, count_all=scan)  # fmt: skip
    total = page.count if scan else count(queue, wanted, stats=stats)
    return _preview(selection, total, [job.metadata.id for job in page.jobs])


def _preview(selection: Selection, total: Count, samples: list[str]) -> Preview:
    newest = samples[0] if selection.newest_first and samples else None
    return Preview(total.n, total.capped, tuple(samples), (), newest)


def statuses_only(wanted: Search) -> bool:
    """Whether a search asks for statuses alone: then counts tell how many match."""
    return not wanted.tests and wanted.type is None and wanted.id is None


def count(
    queue: JobQueue,
    wanted: Search,
    *,
    limits: Limits | None = None,
    view: View = to_document,
    stats: Mapping[str, int] | None = None,
) -> Count:
    """``search.count``, from ``stats`` (a caller's recent counts, cheaper than reading
    them again) when the search asks for statuses alone."""
    if stats is not None and statuses_only(wanted):
        return Count(sum(stats[s] for s in wanted.statuses or STATUSES), False)
    return search.count(queue, wanted, limits=limits or Limits(), view=_reader(wanted, view))


def _preview_ids(queue: JobQueue, ids: Sequence[str], allowed: Sequence[Status]) -> Preview:
    eligible: list[str] = []
    refused: list[str] = []
    for job_id in ids:
        why = _refusal(queue, job_id, allowed)
        if why is None:
            eligible.append(job_id)
        else:
            refused.append(f"{job_id} ({why})")
    return Preview(len(eligible), False, tuple(eligible[:SAMPLES]), tuple(refused))


def _refusal(queue: JobQueue, job_id: str, allowed: Sequence[Status]) -> str | None:
    """Why an id given would be refused: its status, or that it cannot be found or read."""
    try:
        job = queue.get_job(job_id)
    except JobQueueError:
        return "unreadable"
    if job is None:
        return "not found"
    return None if job.status in allowed else job.status


# --- the run --------------------------------------------------------------------------------


@dataclass
class BulkReport:
    """What a bulk change did. ``done`` counts jobs by what happened to them (a format
    with ``{}`` for the count: ``"retried {}"``) and ``done_ids`` names them; skipped and
    failed jobs keep a line each, ``"ID: why"``. ``stopped`` is True when the run
    stopped at its ``limit`` with jobs left."""

    done: dict[str, int] = field(default_factory=dict)
    done_ids: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stopped: bool = False

    def add(self, job_id: str, outcome: Outcome, note: str) -> None:
        """Record what happened to one job."""
        if outcome == "done":
            self.done[note] = self.done.get(note, 0) + 1
            self.done_ids.append(job_id)
        else:
            (self.skipped if outcome == "skipped" else self.errors).append(f"{job_id}: {note}")

    @property
    def all_done(self) -> bool:
        """Every selected job was changed (a command then exits 0)."""
        return not self.skipped and not self.errors

    @property
    def seen(self) -> int:
        """Jobs the run took a turn at: done, skipped or failed."""
        return len(self.done_ids) + len(self.skipped) + len(self.errors)


def apply_all(
    queue: JobQueue,
    selection: Selection,
    change: Change,
    *,
    view: View = to_document,
    limit: int | None = None,
) -> BulkReport:
    """Apply ``change`` to each selected job, at most ``limit`` of them. It returns what
    happened (``"retried {}"``) or raises: ``Refused`` or StaleJob, skipped; JobNotFound,
    an error for an id given but skipped for a filter's match (deleted meanwhile); any
    other JobQueueError (an unreadable file, a store failure), an error."""
    report = BulkReport()
    for job_id in selected_ids(queue, selection, view=view):
        if limit is not None and report.seen >= limit:
            report.stopped = True
            break
        try:
            report.add(job_id, "done", change(job_id))
        except JobNotFound:
            report.add(job_id, "error" if selection.ids else "skipped", "no such job")
        except (Refused, StaleJob) as e:
            report.add(job_id, "skipped", str(e))
        except JobQueueError as e:
            report.add(job_id, "error", str(e))
    return report


# --- the changes ----------------------------------------------------------------------------


def require(queue: JobQueue, job_id: str) -> Job:
    """The job, or JobNotFound."""
    job = queue.get_job(job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def retry_job(queue: JobQueue, job_id: str) -> str:
    """Retry one failed or cancelled job; Refused when it is in another state."""
    job = require(queue, job_id)  # an unreadable file is an error; a missing job, skipped
    if job.status not in RETRYABLE:
        raise Refused(f"is {job.status}")
    try:
        queue.retry(job_id)
    except InvalidJob as e:  # the id was fine, so this is the job's state refusing
        raise Refused(f"changed meanwhile: {e}") from None
    return "retried {}"


def cancel_job(queue: JobQueue, job_id: str, reason: str | None = None) -> str:
    """Cancel one pending job, or ask the worker of a running one to stop; Refused once
    it has ended."""
    if not queue.cancel(job_id, reason=reason):
        raise Refused(f"already ended ({require(queue, job_id).status})")
    if isinstance(queue.get_job(job_id), CancelledJob):
        return CANCELLED
    return STOPPING


def delete_job(queue: JobQueue, job_id: str) -> str:
    """Delete one ended job; Refused while it is pending or running."""
    job = require(queue, job_id)
    if job.status not in DELETABLE:
        raise Refused(f"is {job.status}")
    if not queue.delete(job_id):
        raise Refused("changed meanwhile: it is no longer ended")
    return "deleted {}"


@dataclass(frozen=True, slots=True)
class Action:
    """One bulk change, as the dashboard offers it: the statuses it applies to and the
    function that changes one job (given the queue, and a cancel's reason)."""

    name: str
    allowed: tuple[Status, ...]
    change: Callable[[JobQueue, str | None], Change]


#: The changes the dashboard's bulk dialog offers, by name.
ACTIONS: Mapping[str, Action] = MappingProxyType(
    {
        "retry": Action("retry", RETRYABLE, lambda queue, reason: partial(retry_job, queue)),
        "cancel": Action(
            "cancel", CANCELLABLE, lambda queue, reason: partial(cancel_job, queue, reason=reason)
        ),
        "delete": Action("delete", DELETABLE, lambda queue, reason: partial(delete_job, queue)),
    }
)
