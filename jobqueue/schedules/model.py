"""The Schedule record: what a schedule file holds, as a frozen value.

The first thirteen fields are the ones INTERFACE.md promises; the rest are what the
scheduler needs to keep between ticks (how to catch up, the job options, the last job).
Change a schedule with ``dataclasses.replace``; ``rules`` holds every such change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..job import Params

CatchUp = Literal["once", "skip"]
CATCH_UP: tuple[CatchUp, ...] = ("once", "skip")


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """A recurring job: ``cron`` in ``timezone`` enqueues a ``type`` job with ``params``."""

    name: str
    cron: str
    type: str
    params: Params
    #: An IANA name (``Europe/Paris``); the cron fields are wall-clock times there.
    timezone: str = "UTC"
    paused: bool = False
    #: Ended by ``max_runs`` or ``end_date``; the file stays on disk.
    retired: bool = False
    #: Jobs enqueued so far (a skipped tick does not count).
    run_count: int = 0
    #: When the last job was due: its tick, or the time a late tick was caught up.
    last_run_at: datetime | None = None
    #: The next tick (UTC); None while paused or once retired.
    next_run_at: datetime | None = None
    max_runs: int | None = None
    #: No tick after this instant fires.
    end_date: datetime | None = None
    #: False: a tick is skipped while the previous job is still pending or running.
    allow_concurrent: bool = True
    #: After downtime: "once" fires one job for all missed ticks, "skip" fires none.
    catch_up: CatchUp = "once"
    #: Asked for a job at creation (it fired then; kept to show what was asked).
    run_on_start: bool = False
    # Options of every job the schedule enqueues (as in ``JobQueue.enqueue``).
    priority: int = 0
    max_retries: int = 3
    timeout: float | None = None
    user_id: str | None = None
    #: The id of the last job enqueued, for ``allow_concurrent=False``.
    last_job_id: str | None = None

    @property
    def active(self) -> bool:
        """Neither paused nor retired: the scheduler looks at it."""
        return not self.paused and not self.retired


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleSpec:
    """What a caller asks for (``JobQueue.schedule``, ``jobqueue schedule add``), not yet
    checked: ``definition.define`` turns it into a Schedule or raises InvalidJob."""

    name: str
    cron: str
    type: str
    params: Any = None
    timezone: str = "UTC"
    run_on_start: bool = False
    allow_concurrent: bool = True
    max_runs: int | None = None
    end_date: datetime | None = None
    catch_up: CatchUp = "once"
    #: priority, max_retries, timeout, user_id (as in ``JobQueue.enqueue``).
    enqueue_options: dict[str, Any] = field(default_factory=dict)
