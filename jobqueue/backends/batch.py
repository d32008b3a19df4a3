"""What every backend's ``add`` decides before it stores anything: which jobs of a batch
are new, and which hand back the holder of their unique key."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import InvalidJob
from ..job import Job, PendingJob


def dedupe(
    jobs: Sequence[PendingJob],
    holder_of: Callable[[str], Job | None],
    id_taken: Callable[[str], bool],
) -> tuple[list[Job], list[PendingJob]]:
    """(what ``add`` returns, the jobs to store). A job whose key is held, by a stored
    job (``holder_of``) or one earlier in the batch, gives its place to the holder; a
    taken id refuses the whole batch before anything is stored."""
    results: list[Job] = []
    fresh: list[PendingJob] = []
    held: dict[str, Job] = {}
    ids: set[str] = set()
    for job in jobs:
        key = job.metadata.unique_key
        holder = (held.get(key) or holder_of(key)) if key else None
        if holder is not None:
            results.append(holder)
            continue
        if job.metadata.id in ids or id_taken(job.metadata.id):
            raise InvalidJob(f"job id {job.metadata.id!r} is already taken")
        ids.add(job.metadata.id)
        if key:
            held[key] = job
        fresh.append(job)
        results.append(job)
    return results, fresh
