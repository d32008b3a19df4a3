"""How an attempt ended, as a tagged union the worker records with one ``match``."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import timedelta

from ..job import ErrorInfo, JSONValue


@dataclass(frozen=True, slots=True)
class Succeeded:
    result: JSONValue


@dataclass(frozen=True, slots=True)
class Failed:
    error: ErrorInfo
    #: The exception, for ``on_job_retrying``; None when it cannot cross a process boundary.
    exception: BaseException | None = None
    #: PermanentError: fail now, whatever retries are left.
    permanent: bool = False
    #: A delay the handler asked for (RetryLater) instead of the retry policy's.
    delay: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Cancelled:
    reason: str | None


@dataclass(frozen=True, slots=True)
class Released:
    """Handed back to pending untouched (graceful shutdown): no attempt is counted."""

    why: str


Outcome = Succeeded | Failed | Cancelled | Released


def error_info(exc: BaseException) -> ErrorInfo:
    """What the job file records of an exception: its type, message and traceback."""
    tb = "".join(traceback.format_exception(exc)).rstrip()
    return ErrorInfo(type=type(exc).__name__, message=str(exc) or type(exc).__name__, traceback=tb)
