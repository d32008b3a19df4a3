"""Cron schedules: recurring jobs kept by the backend's schedules part.

* ``model``       the frozen Schedule (and ScheduleSpec, what a caller defines)
* ``cron``        cron and timezone checks, the next tick (DST rules), CronPatterns
* ``definition``  checking a ScheduleSpec
* ``rules``       pure transitions: a tick fires, is skipped or retires the schedule
* ``codec``       Schedule <-> JSON
* ``book``        the operations, and the one place a tick becomes a job
* ``scheduler``   the loop (``jobqueue scheduler``, or a thread inside a worker)

The package itself imports nothing, so the backends can use ``model`` and ``codec``
without loading the operations built on them.
"""
