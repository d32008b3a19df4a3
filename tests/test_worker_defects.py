"""Issue 13, part 1, defects 1, 2 and 5: a result that is not JSON fails the job without a
retry (under both isolations), the worker log says why an attempt failed, and workers
apply a default retention.

Every worker here runs on the FakeClock queue: a timeout is reached by advancing the
clock from inside the handler, and retention by advancing it between runs.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeClock
from worker_runs import FAST, burst, end_now, ending_worker, present

from jobqueue import (
    CompleteJob,
    FailedJob,
    HandlerWorker,
    InvalidJob,
    JobContext,
    JobQueue,
    JobWorker,
    PermanentError,
    RetryPolicy,
)
from jobqueue.codec import to_json_value
from jobqueue.durations import format_duration
from jobqueue.worker.upkeep import DEFAULT_RETENTION, KEEP_ALL

WORKER_LOG = "jobqueue.worker"
ISOLATIONS = ["thread", "process"]
STEADY = RetryPolicy(base=2.0, jitter=0.0)  # a retry is due exactly 2 s after a failure


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


# --- 1. a result that is not JSON never repeats side effects --------------------------------

cycle: list[Any] = []
cycle.append(cycle)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (Decimal("9.99"), "Decimal at result"),
        ({"total": Decimal("9.99")}, 'Decimal at result["total"]'),
        ({"ids": {1, 2}}, 'set at result["ids"]'),
        ([1, float("nan")], "float nan at result[1]"),
        ({"a": [{"b": math.inf}]}, 'float inf at result["a"][0]["b"]'),
        ((0, -math.inf), "float -inf at result[1]"),
        ({"x": {1: "one"}}, 'dict key 1 (int) at result["x"]'),
        ({"big": 2**70}, 'int beyond 64 bits at result["big"]'),
        ({'say "hi"': object()}, 'object at result["say \\"hi\\""]'),
        (cycle, "nested more than"),
    ],
)
def test_to_json_value_names_the_type_and_where_it_was_found(value: Any, problem: str) -> None:
    with pytest.raises(InvalidJob) as caught:
        to_json_value(value, "result")
    assert str(caught.value).startswith("result is not JSON: ")
    assert problem in str(caught.value)


def test_to_json_value_keeps_what_json_can_say() -> None:
    value = {"n": None, "t": (1, 2.5, "x"), "ok": True, "nested": [{"k": []}]}
    assert to_json_value(value, "result") == {
        "n": None,
        "t": [1, 2.5, "x"],
        "ok": True,
        "nested": [{"k": []}],
    }


def charging_worker(queue: JobQueue, ledger: Path, result: Any, isolation: str) -> HandlerWorker:
    """``charge`` appends a line to ``ledger`` (its side effect, seen across a fork) and
    returns ``result``."""
    worker = HandlerWorker(queue, isolation=isolation, **FAST)

    @worker.handler("charge")
    def charge(params: Any, ctx: JobContext) -> Any:
        with ledger.open("a") as f:
            f.write("charged\n")
        return result

    return worker


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"total": Decimal("9.99")}, 'result is not JSON: Decimal at result["total"]'),
        ({"tags": {"a"}}, 'result is not JSON: set at result["tags"]'),
        ({"ratio": float("nan")}, 'result is not JSON: float nan at result["ratio"]'),
        ([math.inf], "result is not JSON: float inf at result[0]"),
    ],
    ids=["decimal", "set", "nan", "inf"],
)
def test_a_result_that_is_not_json_fails_the_job_at_once(
    queue: JobQueue, clock: FakeClock, tmp_path: Path, isolation: str, result: Any, message: str
) -> None:
    ledger = tmp_path / "ledger.txt"
    job = queue.enqueue("charge", {}, max_retries=3)
    for _ in range(4):  # every retry there could be would be due by now
        burst(charging_worker(queue, ledger, result, isolation), timeout=15)
        clock.advance(3600)
    assert ledger.read_text() == "charged\n"  # charged once, never again
    failed = queue.get_job(job.metadata.id)
    assert isinstance(failed, FailedJob), failed
    assert failed.error.type == "InvalidJob"
    assert failed.error.message == message
    assert len(failed.attempts) == 1 and failed.metadata.retry_count == 0


def test_nan_is_never_stored_as_null(queue: JobQueue) -> None:
    worker = HandlerWorker(queue, **FAST)
    worker.register_handler("ratio", lambda params, ctx: {"ratio": float("nan"), "n": None})
    job = queue.enqueue("ratio")
    burst(worker)
    assert not isinstance(queue.get_job(job.metadata.id), CompleteJob)


def test_a_json_result_still_completes(queue: JobQueue) -> None:
    worker = HandlerWorker(queue, **FAST)
    worker.register_handler("sum", lambda params, ctx: {"total": 9.99, "items": (1, 2), "n": None})
    job = queue.enqueue("sum")
    burst(worker)
    done = queue.get_job(job.metadata.id)
    assert isinstance(done, CompleteJob)
    assert done.result == {"total": 9.99, "items": [1, 2], "n": None}


# --- 2. the worker log says why a job failed ------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (1.00213, "1.002s"),
        (0.012, "12ms"),
        (0.0123, "12ms"),
        (0.00202, "2.02ms"),
        (0.0004, "0.4ms"),
        (0.9999, "1s"),
        (5.0, "5s"),
        (2.5, "2.5s"),
        (59.9999, "1m00s"),
        (75.4, "1m15s"),
        (3725, "1h02m"),
        (7 * 86400, "7d"),
        (36 * 3600, "1d12h"),
    ],
)
def test_format_duration(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


def flaky_worker(queue: JobQueue, isolation: str = "thread") -> HandlerWorker:
    worker = HandlerWorker(queue, isolation=isolation, retry_policy=STEADY, **FAST)

    @worker.handler("flaky")
    def flaky(params: Any, ctx: JobContext) -> None:
        raise ValueError("boom")

    return worker


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_failed_attempt_logs_its_error_and_the_final_failure_its_traceback(
    queue: JobQueue, clock: FakeClock, caplog: pytest.LogCaptureFixture, isolation: str
) -> None:
    caplog.set_level(logging.INFO, logger=WORKER_LOG)
    job = queue.enqueue("flaky", max_retries=1)
    burst(flaky_worker(queue, isolation), timeout=15)
    (retrying,) = messages(caplog, logging.WARNING)
    pattern = (
        r"job job-000001 \(flaky\) attempt 1 failed after \S+, retrying in 2s: ValueError: boom"
    )
    assert re.fullmatch(pattern, retrying), retrying
    assert messages(caplog, logging.ERROR) == []

    clock.advance(2)
    burst(flaky_worker(queue, isolation), timeout=15)
    (final,) = messages(caplog, logging.ERROR)
    first, *traceback = final.splitlines()
    pattern = (
        r"job job-000001 \(flaky\) attempt 2 failed after \S+, no retry left: ValueError: boom"
    )
    assert re.fullmatch(pattern, first), first
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: boom"
    assert isinstance(queue.get_job(job.metadata.id), FailedJob)


def test_failures_show_at_warning_level(queue: JobQueue, caplog: pytest.LogCaptureFixture) -> None:
    """``--log-level warning`` must still show failures (it hid every one of them)."""
    caplog.set_level(logging.WARNING, logger=WORKER_LOG)
    queue.enqueue("flaky", max_retries=1)
    worker = flaky_worker(queue)

    @worker.handler("bad")
    def bad(params: Any, ctx: JobContext) -> None:
        raise PermanentError("no")

    queue.enqueue("bad", max_retries=3)
    burst(worker)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "(flaky) attempt 1 failed" in text and "ValueError: boom" in text
    assert "(bad) attempt 1 failed" in text and "permanent" in text
    assert "PermanentError: no" in text


def overrunning_worker(queue: JobQueue, clock: FakeClock, isolation: str) -> HandlerWorker:
    """``slow`` moves the clock past its 1 s timeout, then waits to be told to stop."""
    worker = HandlerWorker(queue, isolation=isolation, retry_policy=STEADY, **FAST)

    @worker.handler("slow")
    def slow(params: Any, ctx: JobContext) -> None:
        clock.advance(5)  # the parent's clock: a forked child's advance would not count
        ctx.wait(10)

    return worker


def test_a_timeout_under_thread_isolation_says_the_handler_is_still_running(
    queue: JobQueue, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=WORKER_LOG)
    queue.enqueue("slow", timeout=1, max_retries=1)
    burst(overrunning_worker(queue, clock, "thread"))
    noticed, ended = messages(caplog, logging.WARNING)
    assert noticed.startswith("job job-000001 (slow) timed out after 1s: ")
    assert "still running" in noticed and "cannot be killed" in noticed
    pattern = r"job job-000001 \(slow\) attempt 1 timed out after 1s \(ran \S+\), retrying in 2s"
    assert re.fullmatch(pattern, ended), ended


def test_a_timeout_under_process_isolation_says_its_process_is_stopped(
    queue: JobQueue, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=WORKER_LOG)
    job = queue.enqueue("slow", timeout=1, max_retries=0)
    worker = HandlerWorker(queue, isolation="process", **FAST)

    @worker.handler("slow")
    def slow(params: Any, ctx: JobContext) -> None:
        ctx.wait(10)

    worker.on_job_started = lambda job: clock.advance(5)  # type: ignore[method-assign]
    burst(worker, timeout=15)
    noticed = messages(caplog, logging.WARNING)[0]
    assert noticed.startswith("job job-000001 (slow) timed out after 1s: ")
    assert "stopping its process" in noticed and "still running" not in noticed
    (final,) = messages(caplog, logging.ERROR)
    assert re.fullmatch(
        r"job job-000001 \(slow\) attempt 1 timed out after 1s \(ran \S+\), no retry left", final
    ), final
    assert isinstance(queue.get_job(job.metadata.id), FailedJob)


# --- 5. default retention -------------------------------------------------------------------


DAY = timedelta(days=1).total_seconds()


def test_a_worker_with_default_settings_deletes_complete_jobs_after_7_days(
    queue: JobQueue, clock: FakeClock
) -> None:
    end_now(queue, "ok")
    old_bad = end_now(queue, "bad")
    clock.advance(2 * DAY)
    young_ok = end_now(queue, "ok")
    clock.advance(5 * DAY + 60)  # old_ok ended 7 days and a minute ago, young_ok 5 days
    burst(HandlerWorker(queue))  # default settings
    assert present(queue) == {old_bad, young_ok}  # failed jobs are kept 30 days
    clock.advance(25 * DAY)
    burst(HandlerWorker(queue))
    assert present(queue) == set()


@pytest.mark.parametrize(
    "keep",
    [KEEP_ALL, {"complete": None, "failed": None, "cancelled": None}],
    ids=["KEEP_ALL", "every-status-None"],
)
def test_keep_all_keeps_every_ended_job(queue: JobQueue, clock: FakeClock, keep: Any) -> None:
    kept = {end_now(queue, "ok"), end_now(queue, "bad")}
    clock.advance(365 * DAY)
    burst(ending_worker(queue, retention=keep))
    assert present(queue) == kept


def test_retention_defaults_are_documented_and_applied() -> None:
    assert dict(DEFAULT_RETENTION) == {
        "complete": timedelta(days=7),
        "failed": timedelta(days=30),
        "cancelled": timedelta(days=30),
    }
    doc = JobWorker.__doc__ or ""
    assert "7 days" in doc and "30 days" in doc and "KEEP_ALL" in doc


@pytest.mark.parametrize(
    ("retention", "expected"),
    [
        (None, DEFAULT_RETENTION),
        ({}, DEFAULT_RETENTION),
        ({"complete": "1d"}, {**DEFAULT_RETENTION, "complete": timedelta(days=1)}),
        ({"failed": None}, {**DEFAULT_RETENTION, "failed": None}),
        (KEEP_ALL, {"complete": None, "failed": None, "cancelled": None}),
    ],
    ids=["None", "empty", "partial", "one-kept", "KEEP_ALL"],
)
def test_a_retention_dict_overrides_only_the_statuses_it_names(
    queue: JobQueue, retention: Any, expected: Any
) -> None:
    assert ending_worker(queue, retention=retention).retention == expected


def test_setting_retention_on_a_built_worker_is_checked_and_merged(queue: JobQueue) -> None:
    """``jobqueue worker module:instance`` sets options as attributes of the instance."""
    worker = ending_worker(queue)
    worker.retention = KEEP_ALL
    assert worker.retention == {"complete": None, "failed": None, "cancelled": None}
    worker.retention = {"cancelled": "2d"}
    assert worker.retention == {**DEFAULT_RETENTION, "cancelled": timedelta(days=2)}
    with pytest.raises(InvalidJob, match="not 'pending'"):
        worker.retention = {"pending": "1d"}


def test_a_partial_retention_keeps_the_defaults_of_the_other_statuses(
    queue: JobQueue, clock: FakeClock
) -> None:
    end_now(queue, "ok"), end_now(queue, "bad")
    clock.advance(8 * DAY)
    burst(ending_worker(queue, retention={"failed": "1d"}))
    assert present(queue) == set()  # complete by its default (7 days), failed by the override
