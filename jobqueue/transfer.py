"""Copy a whole queue from one store to another (``jobqueue transfer``): the way from
one machine's files to a PostgreSQL server shared by many, or back.

Backend-neutral: it sees both stores only through the protocol. Jobs are read from the
source by id (one ``scan``, consumed a page at a time, so memory holds one page) and
stored in the target with ``import_jobs``, which keeps each job exactly (id, status,
attempts, document) and skips an id the target already has. That is what makes a
transfer safe to run again after an interruption: what was copied is skipped, the rest
is copied. Schedules go the same way, by name, each under its lock in both stores.

``move`` deletes from the source every job and schedule the target now holds (copied
now, or by an earlier run that was interrupted before it could delete), each by
compare-and-set: a job that changed in the source meanwhile stays there, and is counted.

Running jobs are not transferred: their workers belong to the source. So a transfer
refuses to start while any job runs there (stop the workers first); one that starts
meanwhile is left in the source (it is not in the statuses read).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from .backend import Backend
from .errors import InvalidJob, JobQueueError, StaleJob
from .job import Job, Status
from .schedules.model import Schedule

#: Jobs read, imported and (with ``move``) deleted at a time.
PAGE = 500
#: Every status but running (see the module docstring).
COPIED: tuple[Status, ...] = ("pending", "complete", "failed", "cancelled")


class JobsRunning(JobQueueError):
    """The source has running jobs: their workers must stop before a transfer."""

    def __init__(self, job_id: str, location: str) -> None:
        super().__init__(
            f"job {job_id} is running in {location}: stop its workers before a transfer"
        )
        self.job_id = job_id
        self.location = location

    def __reduce__(self) -> tuple[type[JobsRunning], tuple[str, str]]:
        return (type(self), (self.job_id, self.location))


@dataclass(slots=True)
class Transferred:
    """What a transfer did (or, dry, would do)."""

    #: Jobs stored in the target (dry: that it does not have yet).
    copied: int = 0
    #: Jobs whose id the target already had.
    skipped: int = 0
    #: ``move``: jobs deleted from the source.
    deleted: int = 0
    #: ``move``: jobs left in the source because they changed during the transfer.
    changed: int = 0
    schedules: int = 0
    schedules_skipped: int = 0
    schedules_deleted: int = 0


def transfer(
    source: Backend,
    target: Backend,
    *,
    move: bool = False,
    dry_run: bool = False,
    page: int = PAGE,
) -> Transferred:
    """Copy every job but running ones, and every schedule, from ``source`` to
    ``target`` (see the module docstring). JobsRunning, with nothing done, if a job is
    running in the source; InvalidJob if both are the same store (a move would delete
    every job it skipped). ``page``: jobs read and written at a time."""
    if source is target or (not source.process_local and source.location == target.location):
        raise InvalidJob(f"{source.location} is the store being transferred from")
    running = next(iter(source.jobs.scan(["running"])), None)
    if running is not None:
        raise JobsRunning(running.metadata.id, source.location)
    done = Transferred()
    for jobs in _pages(source.jobs.scan(COPIED), page):
        if dry_run:
            _count_page(target, jobs, done)
        else:
            _copy_page(source, target, jobs, done, move=move)
    for schedule in source.schedules.all():
        _transfer_schedule(source, target, schedule, done, move=move, dry_run=dry_run)
    return done


def _pages(jobs: Iterator[Job], size: int) -> Iterator[list[Job]]:
    while page := list(islice(jobs, size)):
        yield page


def _count_page(target: Backend, page: Sequence[Job], done: Transferred) -> None:
    for job in page:
        if target.jobs.get(job.metadata.id) is None:
            done.copied += 1
        else:
            done.skipped += 1


def _copy_page(
    source: Backend, target: Backend, page: Sequence[Job], done: Transferred, *, move: bool
) -> None:
    stored = target.jobs.import_jobs(page)
    copied = sum(stored)
    done.copied += copied
    done.skipped += len(page) - copied
    if not move:
        return
    for job in page:  # copied now, or skipped: the target holds the id either way
        try:
            source.jobs.delete(job)
            done.deleted += 1
        except StaleJob:
            done.changed += 1


def _transfer_schedule(
    source: Backend,
    target: Backend,
    schedule: Schedule,
    done: Transferred,
    *,
    move: bool,
    dry_run: bool,
) -> None:
    with target.schedules.lock(schedule.name):
        there = target.schedules.get(schedule.name) is not None
        if not there and not dry_run:
            target.schedules.put(schedule)
    if there:
        done.schedules_skipped += 1
    else:
        done.schedules += 1
    if move and not dry_run:
        with source.schedules.lock(schedule.name):
            if source.schedules.get(schedule.name) == schedule:
                source.schedules.delete(schedule.name)
                done.schedules_deleted += 1
