"""The worker scripts/chaos.py starts, killed at random:

    cd scripts && jobqueue --data-dir DATA worker chaos_worker:ChaosWorker

Each attempt of a ``chaos`` job appends ``<job id> <pid>`` to the file named by
``$JOBQUEUE_CHAOS_LOG`` (O_APPEND: lines of concurrent processes never interleave),
then sleeps ``params["sleep"]`` seconds, so that a kill often lands mid-run.
"""

from __future__ import annotations

import os
import time
from typing import Any

from jobqueue import JobContext, JobWorker, RunningJob

LOG_ENV = "JOBQUEUE_CHAOS_LOG"


class ChaosWorker(JobWorker):
    job_types = frozenset({"chaos"})

    def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
        line = f"{job.metadata.id} {os.getpid()}\n".encode()
        fd = os.open(os.environ[LOG_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        params = job.params if isinstance(job.params, dict) else {}
        time.sleep(float(params.get("sleep", 0.005)))
        return None
