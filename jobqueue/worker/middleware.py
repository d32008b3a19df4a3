"""Worker middleware: callables ``fn(job, ctx, call_next)`` wrapped around execute_job.

The first in the list is the outermost; ``call_next()`` runs the rest of the chain and
returns the job's result (an ``async`` job has already been awaited by then), so a
middleware can time, log, validate, rate-limit or change the result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from ..errors import InvalidJob, PermanentError
from ..job import RunningJob
from .context import JobContext

log = logging.getLogger(__name__)

Middleware = Callable[[RunningJob, JobContext, Callable[[], Any]], Any]


def run_chain(
    chain: Sequence[Middleware], job: RunningJob, ctx: JobContext, final: Callable[[], Any]
) -> Any:
    """Run ``final`` inside every middleware of ``chain``, first one outermost."""

    def call(index: int) -> Any:
        if index == len(chain):
            return final()
        return chain[index](job, ctx, lambda: call(index + 1))

    return call(0)


def log_jobs(job: RunningJob, ctx: JobContext, call_next: Callable[[], Any]) -> Any:
    """Log each attempt's start, end and duration (and the error, if it raised)."""
    log.info("job %s (%s) attempt %d starting", job.metadata.id, job.metadata.type,
             len(job.attempts) + 1)  # fmt: skip
    began = time.monotonic()
    try:
        result = call_next()
    except BaseException as e:
        log.info("job %s raised %s after %.3fs", job.metadata.id, type(e).__name__,
                 time.monotonic() - began)  # fmt: skip
        raise
    log.info("job %s returned after %.3fs", job.metadata.id, time.monotonic() - began)
    return result


def validate_params(
    rule: Callable[[Any], object] | Mapping[str, Any],
    *,
    types: Collection[str] | str | None = None,
) -> Middleware:
    """Fail a job at once (PermanentError: bad params never get better on retry) when its
    params break ``rule``: a callable that raises or returns False, or a JSON Schema
    (needs the ``jsonschema`` package). ``types`` limits the check to those job types."""
    check = _schema_check(rule) if isinstance(rule, Mapping) else rule
    # A lone name is one type: `"size" in "resize"` is true, and must not match.
    only = None if types is None else frozenset([types] if isinstance(types, str) else types)

    def middleware(job: RunningJob, ctx: JobContext, call_next: Callable[[], Any]) -> Any:
        if only is None or job.metadata.type in only:
            _apply(check, job)
        return call_next()

    return middleware


def _apply(check: Callable[[Any], object], job: RunningJob) -> None:
    try:
        ok = check(job.params)
    except Exception as e:
        raise PermanentError(f"invalid params for {job.metadata.type}: {e}") from e
    if ok is False:
        raise PermanentError(f"invalid params for {job.metadata.type}")


def _schema_check(schema: Mapping[str, Any]) -> Callable[[Any], object]:
    try:
        import jsonschema
    except ImportError:
        raise InvalidJob("a JSON Schema params check needs: pip install jsonschema") from None
    try:
        jsonschema.Draft202012Validator.check_schema(dict(schema))
    except jsonschema.exceptions.SchemaError as e:
        raise InvalidJob(f"invalid JSON Schema for params: {e.message}") from None
    validator = jsonschema.Draft202012Validator(dict(schema))

    def check(params: Any) -> None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(params))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "params"
            raise ValueError(f"{where}: {error.message}")

    return check
