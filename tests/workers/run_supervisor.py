"""A supervisor process for tests/test_processes.py:
``python run_supervisor.py DATA_DIR PROCESSES [run_worker.py options]``.

Runs PROCESSES copies of run_worker.py under ``Supervisor``, reaping at once when one
dies, and exits with the supervisor's exit code.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from jobqueue import JobQueue
from jobqueue.worker.supervisor import Supervisor

WORKER = Path(__file__).with_name("run_worker.py")


def main() -> None:
    data_dir, processes, *worker_args = sys.argv[1:]
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s [{os.getpid()}] %(levelname)s %(message)s"
    )
    queue = JobQueue(data_dir, durable=False)
    command = [sys.executable, str(WORKER), data_dir, *worker_args]
    sys.exit(Supervisor(command, int(processes), on_child_died=queue.reap).run())


if __name__ == "__main__":
    main()
