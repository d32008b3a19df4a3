"""Cron schedules: recurring jobs kept as files under ``<data-dir>/schedules/``.

* ``model``       the frozen Schedule (one file per schedule, the same keys)
* ``cron``        cron and timezone checks, the next tick (DST rules), CronPatterns
* ``definition``  checking what ``JobQueue.schedule`` is given
* ``rules``       pure transitions: a tick fires, is skipped or retires the schedule
* ``codec``       Schedule <-> JSON
* ``store``       the files, written atomically under a per-schedule lock
* ``book``        the operations, and the one place a tick becomes a job
* ``scheduler``   the loop (``jobqueue scheduler``, or a thread inside a worker)
"""

from .book import ScheduleBook
from .cron import CronPatterns
from .model import CatchUp, Schedule
from .scheduler import Scheduler

__all__ = ["CatchUp", "CronPatterns", "Schedule", "ScheduleBook", "Scheduler"]
