"""Worker middleware: ``fn(job, ctx, call_next)`` wrapped around execute_job, in order,
under thread and process isolation, and the built-ins ``log_jobs`` and ``validate_params``.

Workers run in burst mode on the FakeClock queue of conftest.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from worker_runs import FAST, burst

from jobqueue import (
    CompleteJob,
    FailedJob,
    HandlerWorker,
    InvalidJob,
    JobContext,
    JobQueue,
    JobWorker,
    PendingJob,
    RunningJob,
)
from jobqueue.worker.middleware import log_jobs, validate_params

Next = Callable[[], Any]


def served(queue: JobQueue, middleware: list[Any], **options: Any) -> HandlerWorker:
    """A HandlerWorker whose ``resize`` and ``report`` jobs return their params."""
    worker = HandlerWorker(queue, middleware=middleware, **{**FAST, **options})
    worker.register_handler("resize", lambda params, ctx: params)
    worker.register_handler("report", lambda params, ctx: params)
    return worker


def ended(queue: JobQueue, job_id: str) -> Any:
    job = queue.get_job(job_id)
    assert job is not None
    return job


def recorder(name: str, log: list[str]) -> Any:
    def middleware(job: RunningJob, ctx: JobContext, call_next: Next) -> Any:
        log.append(f"{name} enter")
        try:
            return call_next()
        finally:
            log.append(f"{name} exit")

    return middleware


# --- composition -------------------------------------------------------------------------


def test_the_first_middleware_is_the_outermost(queue: JobQueue) -> None:
    calls: list[str] = []
    worker = HandlerWorker(
        queue, middleware=[recorder("outer", calls), recorder("inner", calls)], **FAST
    )
    worker.register_handler("resize", lambda params, ctx: calls.append("handler"))
    queue.enqueue("resize", {})
    burst(worker)
    assert calls == ["outer enter", "inner enter", "handler", "inner exit", "outer exit"]


def test_call_next_returns_the_result_and_a_middleware_can_change_it(queue: JobQueue) -> None:
    seen: list[Any] = []

    def stamp(job: RunningJob, ctx: JobContext, call_next: Next) -> Any:
        result = call_next()
        seen.append(result)
        return {**result, "stamped": True}

    job = queue.enqueue("resize", {"width": 640})
    burst(served(queue, [stamp]))
    assert seen == [{"width": 640}]
    done = ended(queue, job.metadata.id)
    assert isinstance(done, CompleteJob)
    assert done.result == {"width": 640, "stamped": True}


def test_a_middleware_may_answer_without_calling_the_handler(queue: JobQueue) -> None:
    def cached(job: RunningJob, ctx: JobContext, call_next: Next) -> Any:
        return {"cached": True}

    worker = HandlerWorker(queue, middleware=[cached], **FAST)
    worker.register_handler("resize", lambda params, ctx: pytest.fail("the handler ran"))
    job = queue.enqueue("resize", {})
    burst(worker)
    assert ended(queue, job.metadata.id).result == {"cached": True}


def test_a_middleware_that_raises_fails_the_attempt_like_a_handler_error(queue: JobQueue) -> None:
    def broken(job: RunningJob, ctx: JobContext, call_next: Next) -> Any:
        raise RuntimeError("middleware broke")

    worker = HandlerWorker(queue, middleware=[broken], **FAST)
    worker.register_handler("resize", lambda params, ctx: pytest.fail("the handler ran"))
    retried = queue.enqueue("resize", {}, max_retries=1)
    failed = queue.enqueue("resize", {}, max_retries=0)
    burst(worker)
    again = ended(queue, retried.metadata.id)
    assert isinstance(again, PendingJob) and again.metadata.retry_count == 1
    assert again.attempts[-1].error is not None
    assert (again.attempts[-1].error.type, again.attempts[-1].error.message) == (
        "RuntimeError",
        "middleware broke",
    )
    gone = ended(queue, failed.metadata.id)
    assert isinstance(gone, FailedJob) and gone.error.message == "middleware broke"


def test_middleware_sees_the_awaited_result_of_an_async_job(queue: JobQueue) -> None:
    seen: list[Any] = []

    class Slow(JobWorker):
        async def execute_job(self, job: RunningJob, ctx: JobContext) -> Any:
            await asyncio.sleep(0.01)
            return {"awaited": True}

    def look(job: RunningJob, ctx: JobContext, call_next: Next) -> Any:
        seen.append(call_next())
        return seen[-1]

    job = queue.enqueue("resize", {})
    burst(Slow(queue, middleware=[look], **FAST))
    assert seen == [{"awaited": True}]
    assert ended(queue, job.metadata.id).result == {"awaited": True}


def test_middleware_runs_in_the_job_process_under_process_isolation(
    queue: JobQueue, tmp_path: Path
) -> None:
    trace = tmp_path / "trace.log"

    def note(job: RunningJob, ctx: JobContext, call_next: Next) -> Any:
        with trace.open("a") as out:
            out.write(f"{os.getpid()} enter\n")
        result = call_next()
        with trace.open("a") as out:
            out.write(f"{os.getpid()} exit\n")
        return {**result, "pid": os.getpid()}

    job = queue.enqueue("resize", {"width": 1})
    burst(served(queue, [note], isolation="process"))
    done = ended(queue, job.metadata.id)
    assert isinstance(done, CompleteJob)
    child = done.result["pid"]
    assert child != os.getpid()  # it ran in the killable child, not in the worker
    assert done.result == {"width": 1, "pid": child}
    assert trace.read_text().split("\n") == [f"{child} enter", f"{child} exit", ""]


# --- log_jobs ------------------------------------------------------------------------------


def test_log_jobs_logs_start_and_end_of_each_attempt(
    queue: JobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    worker = HandlerWorker(queue, middleware=[log_jobs], **FAST)
    worker.register_handler("resize", lambda params, ctx: None)
    worker.register_handler("boom", lambda params, ctx: 1 / 0)
    ok = queue.enqueue("resize", {})
    bad = queue.enqueue("boom", {}, max_retries=0)
    with caplog.at_level(logging.INFO, logger="jobqueue.worker.middleware"):
        burst(worker)
    lines = [r.getMessage() for r in caplog.records if r.name == "jobqueue.worker.middleware"]
    assert f"job {ok.metadata.id} (resize) attempt 1 starting" in lines
    assert any(line.startswith(f"job {ok.metadata.id} returned after ") for line in lines)
    assert f"job {bad.metadata.id} (boom) attempt 1 starting" in lines
    assert any(line.startswith(f"job {bad.metadata.id} raised ZeroDivisionError") for line in lines)


# --- validate_params -----------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["path"],
    "properties": {"path": {"type": "string"}, "width": {"type": "integer", "minimum": 1}},
}


def has_path(params: Any) -> bool:
    return isinstance(params, dict) and "path" in params


def must_have_width(params: Any) -> None:
    if "width" not in params:
        raise ValueError("width is required")


@pytest.mark.parametrize(
    ("rule", "params", "message"),
    [
        (has_path, {"width": 1}, "invalid params for resize"),
        (must_have_width, {"path": "a.png"}, "invalid params for resize: width is required"),
        (SCHEMA, {"width": 1}, "invalid params for resize: params: 'path' is a required property"),
        (
            SCHEMA,
            {"path": "a.png", "width": "wide"},
            "invalid params for resize: width: 'wide' is not of type 'integer'",
        ),
        (SCHEMA, {"path": "a.png", "width": 0}, "width: 0 is less than the minimum of 1"),
    ],
)
def test_invalid_params_fail_at_once_with_a_clear_message(
    queue: JobQueue, rule: Any, params: Any, message: str
) -> None:
    job = queue.enqueue("resize", params, max_retries=3)
    burst(served(queue, [validate_params(rule)]))
    failed = ended(queue, job.metadata.id)
    assert isinstance(failed, FailedJob), failed
    assert failed.metadata.retry_count == 0 and len(failed.attempts) == 1  # no retry
    assert failed.error.type == "PermanentError"
    assert message in failed.error.message


@pytest.mark.parametrize("rule", [has_path, SCHEMA])
def test_valid_params_pass(queue: JobQueue, rule: Any) -> None:
    job = queue.enqueue("resize", {"path": "a.png", "width": 640})
    burst(served(queue, [validate_params(rule)]))
    assert ended(queue, job.metadata.id).result == {"path": "a.png", "width": 640}


@pytest.mark.parametrize("types", [["resize"], ("resize",), {"resize"}, "resize"])
def test_validate_params_checks_only_the_given_types(queue: JobQueue, types: Any) -> None:
    checked = queue.enqueue("resize", {"width": 1})
    other = queue.enqueue("report", {"width": 1})
    burst(served(queue, [validate_params(SCHEMA, types=types)]))
    assert isinstance(ended(queue, checked.metadata.id), FailedJob)
    assert isinstance(ended(queue, other.metadata.id), CompleteJob)


def test_a_type_name_is_not_matched_as_a_substring(queue: JobQueue) -> None:
    worker = served(queue, [validate_params(SCHEMA, types="resize")])
    worker.register_handler("size", lambda params, ctx: params)
    job = queue.enqueue("size", {})
    burst(worker)
    assert isinstance(ended(queue, job.metadata.id), CompleteJob)


def test_a_broken_schema_is_refused_when_the_middleware_is_made() -> None:
    with pytest.raises(InvalidJob, match="invalid JSON Schema"):
        validate_params({"type": "no-such-type"})
