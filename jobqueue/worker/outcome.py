"""How an attempt ended, as a tagged union the worker records with one ``match``."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import codec
from ..errors import (
    InvalidJob,
    JobCancelled,
    JobTimeout,
    PermanentError,
    RateLimited,
    RetryLater,
)
from ..job import ErrorInfo, JSONValue
from .context import JobContext


@dataclass(frozen=True, slots=True)
class Succeeded:
    """Returned normally; ``result`` is already round-tripped through JSON, as stored."""

    result: JSONValue


@dataclass(frozen=True, slots=True)
class Failed:
    """The attempt raised or timed out: retried, or failed for good (see ``end_state``)."""

    error: ErrorInfo
    #: The exception, for ``on_job_retrying``; None when it cannot cross a process boundary.
    exception: BaseException | None = None
    #: PermanentError: fail now, whatever retries are left.
    permanent: bool = False
    #: A delay the handler asked for (RetryLater) instead of the retry policy's.
    delay: timedelta | None = None
    #: The timeout (seconds) the attempt ran past, when that is how it failed.
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Stopped by a user's cancel (or JobCancelled): stored cancelled, never retried."""

    reason: str | None


@dataclass(frozen=True, slots=True)
class Released:
    """Handed back to pending untouched (graceful shutdown): no attempt is counted."""

    why: str


@dataclass(frozen=True, slots=True)
class Deferred:
    """Not started after all (a rate limit): back to pending at ``until``, no attempt."""

    until: datetime


Outcome = Succeeded | Failed | Cancelled | Released | Deferred


def error_info(exc: BaseException) -> ErrorInfo:
    """What the job file records of an exception: its type, message and traceback."""
    tb = "".join(traceback.format_exception(exc)).rstrip()
    return ErrorInfo(type=type(exc).__name__, message=str(exc) or type(exc).__name__, traceback=tb)


def outcome_of_result(result: Any, ctx: JobContext) -> Outcome:
    """A returned value: the result, unless the attempt overran its timeout or the result
    is not JSON. A handler that ignored a cancel request and returned anyway completed:
    its work is done, and throwing a real result away would lose information.

    A result that is not JSON fails the job for good: the handler's work (a card charged,
    an email sent) is done, and a retry would do it again only to fail the same way."""
    if ctx.cancel_kind == "timeout":
        return timed_out(ctx)
    try:
        normalized = codec.to_json_value(result, "result")
    except InvalidJob as e:  # its traceback would only show the codec: the message says it all
        return Failed(ErrorInfo(type="InvalidJob", message=str(e)), e, permanent=True)
    return Succeeded(normalized)


def outcome_of_error(exc: BaseException, ctx: JobContext) -> Outcome:
    """An exception: cancelled, timed out, handed back at shutdown, or a failed attempt."""
    kind = ctx.cancel_kind
    if kind == "timeout":
        return timed_out(ctx)
    if kind in ("shutdown", "lost"):
        return Released(kind)
    if kind == "user":
        return Cancelled(ctx.cancel_reason)
    if isinstance(exc, JobCancelled):
        return Cancelled(exc.reason)
    if isinstance(exc, RateLimited):
        return Deferred(datetime.fromtimestamp(exc.until, UTC))
    if isinstance(exc, PermanentError):
        return Failed(error_info(exc), exc, permanent=True)
    if isinstance(exc, RetryLater):
        return Failed(error_info(exc), exc, delay=timedelta(seconds=max(exc.delay, 0.0)))
    return Failed(error_info(exc), exc)


def timed_out(ctx: JobContext) -> Failed:
    """A failed attempt recorded as JobTimeout; hooks get a JobTimeout, not the exception
    the handler raised when it noticed the cancel."""
    limit = (ctx.deadline - ctx.job.started_at).total_seconds() if ctx.deadline else 0.0
    message = f"the attempt ran past its timeout of {limit:g}s"
    error = ErrorInfo(type="JobTimeout", message=message)
    return Failed(error, JobTimeout(message), timeout=limit)
