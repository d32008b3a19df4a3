"""``isolation="process"``: each attempt runs in a forked child that can be killed.

Threads cannot be killed, so under thread isolation a handler stuck in a C call holds
its slot until it returns. Here the parent keeps the lease and relays progress and
cancellation over a pipe; when the context is cancelled (a cancel request, the job's
timeout, shutdown) the child is asked to stop and, ``KILL_GRACE`` seconds later,
killed with SIGKILL. The outcome is then what the cancel meant: cancelled, a failed
attempt with JobTimeout, or handed back to pending.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from ..errors import JobCancelled
from ..job import ErrorInfo, RunningJob
from ..queue import JobQueue
from .context import JobContext
from .outcome import Failed, Outcome, outcome_of_error, outcome_of_result
from .runner import AsyncRunner

#: ``JobWorker.call``: execute_job inside the middleware chain.
Call = Callable[[RunningJob, JobContext, AsyncRunner], Any]

log = logging.getLogger(__name__)

KILL_GRACE = 2.0
_POLL = 0.05


def run_in_child(call: Call, queue: JobQueue, job: RunningJob, ctx: JobContext) -> Outcome:
    """Run one attempt in a child process; never raises."""
    mp = multiprocessing.get_context("fork")
    parent, child = mp.Pipe(duplex=True)
    args = (call, queue, job, ctx.deadline, ctx.clock, child)
    process = mp.Process(target=_child_main, args=args, daemon=True)
    process.start()
    child.close()
    try:
        outcome = _supervise(process, parent, ctx)
    finally:
        parent.close()
        process.join(timeout=5)
    return outcome if outcome is not None else _died(process.exitcode, ctx)


def _supervise(process: Any, conn: Connection, ctx: JobContext) -> Outcome | None:
    kill_at: float | None = None
    while True:
        if conn.poll(_POLL):
            try:
                message = conn.recv()
            except EOFError:
                return None
            if message[0] == "done":
                result: Outcome = message[1]
                return result
            ctx.put_progress(message[1])
        elif not process.is_alive():
            return None
        if ctx.cancelled and kill_at is None:
            conn.send(("cancel", ctx.cancel_reason, ctx.cancel_kind))
            kill_at = time.monotonic() + KILL_GRACE
        if kill_at is not None and time.monotonic() >= kill_at:
            log.warning("job %s did not stop: killing its process", ctx.job_id)
            process.kill()
            return None


def _died(exitcode: int | None, ctx: JobContext) -> Outcome:
    """The child ended without an outcome: killed after a cancel, or crashed."""
    if ctx.cancelled:
        return outcome_of_error(JobCancelled(ctx.cancel_reason), ctx)
    message = f"the job's process died (exit code {exitcode})"
    return Failed(ErrorInfo(type="JobProcessDied", message=message))


def _child_main(
    call: Call,
    parent_queue: JobQueue,
    job: RunningJob,
    deadline: datetime | None,
    clock: Any,
    conn: Connection,
) -> None:
    """The child opens its own handle on the backend: nothing the parent opened (a
    database connection, spare files, locks, appenders) is used on this side of the fork."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides about shutdown
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        queue = parent_queue.reopened()
    except BaseException as exc:
        _send_outcome(conn, outcome_of_error(exc, JobContext(job, deadline=deadline)))
        os._exit(0)
    ctx = JobContext(job, deadline=deadline, queue=queue, clock=clock)
    lock = threading.Lock()
    threading.Thread(target=_listen, args=(conn, ctx), daemon=True).start()
    threading.Thread(target=_relay_progress, args=(conn, ctx, lock), daemon=True).start()
    try:
        result = call(job, ctx, AsyncRunner())
        outcome = outcome_of_result(result, ctx)
    except BaseException as exc:
        outcome = outcome_of_error(exc, ctx)
    with lock:
        _send_progress(conn, ctx)
        _send_outcome(conn, outcome)
    os._exit(0)  # skip the parent's atexit handlers and inherited threads


def _listen(conn: Connection, ctx: JobContext) -> None:
    try:
        _, reason, kind = conn.recv()
    except (EOFError, OSError):
        return
    ctx.cancel(reason, kind)


def _relay_progress(conn: Connection, ctx: JobContext, lock: threading.Lock) -> None:
    while True:
        time.sleep(0.2)
        with lock:
            _send_progress(conn, ctx)


def _send_progress(conn: Connection, ctx: JobContext) -> None:
    progress = ctx.take_progress()
    if progress is not None:
        conn.send(("progress", progress))


def _send_outcome(conn: Connection, outcome: Outcome) -> None:
    try:
        conn.send(("done", outcome))
    except Exception:  # an exception that does not pickle: keep its recorded text
        if isinstance(outcome, Failed):
            conn.send(("done", replace(outcome, exception=None)))
