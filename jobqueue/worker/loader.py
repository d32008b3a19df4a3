"""Find the worker a ``jobqueue worker MODULE:ATTR`` command names.

Importing MODULE runs the user's code: whatever it raises becomes one line naming the
exception and the line of the user's code that raised it (the traceback is logged at
debug level). A module that cannot be found or compiled (an ImportError, a
SyntaxError) is bad input, ``InvalidOption``: a restart cannot help. Anything else it
raises is ``WorkerLoadFailed``, a failure like any other (a database that was down at
import may be up on the next try).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import sysconfig
import traceback
from pathlib import Path
from typing import Any

from ..errors import InvalidJob, InvalidOption, JobQueueError
from ..queue import JobQueue
from .base import JobWorker

log = logging.getLogger(__name__)


class WorkerLoadFailed(JobQueueError):
    """The worker's module, or its constructor, raised: the message names the exception
    and where the user's code raised it."""


def find_worker(spec: str) -> type[JobWorker] | JobWorker:
    """Import MODULE (the current directory on ``sys.path``, like ``python -m``) and
    return ATTR: a JobWorker subclass, or an instance."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidOption(f"worker must be given as MODULE:ATTR, not {spec!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the user's code: anything at all
        raise _load_error(f"cannot import {module_name!r}", e) from None
    target = getattr(module, attr, None)
    if isinstance(target, JobWorker) or (
        isinstance(target, type) and issubclass(target, JobWorker)
    ):
        return target
    found = "nothing" if target is None else type(target).__name__
    raise InvalidOption(f"{spec} must name a JobWorker subclass or instance, not {found}")


def build_worker(cls: type[JobWorker], queue: JobQueue, **options: Any) -> JobWorker:
    """``cls(queue, **options)``. What its constructor raises is reported like an import
    error, except jobqueue's own errors (a bad option), which say enough as they are."""
    try:
        return cls(queue, **options)
    except JobQueueError:
        raise
    except Exception as e:
        raise _load_error(f"cannot start {cls.__name__}", e) from None


def configure(worker: JobWorker, **options: Any) -> JobWorker:
    """Override settings of an instance (``concurrency``, ``poll_interval``,
    ``isolation``, ``with_scheduler``, ``retention``) with the options given, checked
    as its constructor checks them; every other setting stays as it was built."""
    isolation = options.get("isolation", worker.isolation)
    if isolation not in ("thread", "process"):
        raise InvalidOption(f"isolation must be 'thread' or 'process', not {isolation!r}")
    where = worker.queue.location
    if isolation == "process" and worker.queue.backend.process_local:
        raise InvalidOption(
            f"isolation='process' needs a store other processes can open, not {where}"
        )
    for name, value in options.items():
        if name == "concurrency":
            worker.set_concurrency(value)
        elif hasattr(worker, name):
            setattr(worker, name, value)
        else:
            raise InvalidOption(f"{type(worker).__name__} has no setting {name!r}")
    return worker


# --- one line per failure ----------------------------------------------------------------


def _load_error(doing: str, error: Exception) -> JobQueueError:
    """One line for the user; the traceback goes to the debug log."""
    log.debug("%s", doing, exc_info=error)
    message = f"{doing}: {describe(error)}"
    if isinstance(error, ImportError | SyntaxError | InvalidJob):
        return InvalidOption(message)
    return WorkerLoadFailed(message)


def describe(error: BaseException) -> str:
    """``ZeroDivisionError: division by zero (app.py:3)``: the exception and the line of
    the user's code that raised it, for a message of one line."""
    where = _where(error)
    return f"{type(error).__name__}: {error}" + (f" ({where})" if where else "")


def _where(error: BaseException) -> str | None:
    """Where the user's code raised ``error``: the deepest frame outside the standard
    library and jobqueue (a KeyError from ``os.environ[...]`` names the caller's line,
    not os.py), preferring code outside site-packages; for a SyntaxError, the line that
    does not compile. None when no such frame exists (a module that is not there)."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{_short(error.filename)}:{error.lineno}"
    stdlib, packages = _library_dirs()
    frames = [
        (os.path.realpath(f.filename), f)
        for f in traceback.extract_tb(error.__traceback__)
        if not f.filename.startswith("<")  # <frozen importlib._bootstrap>
    ]
    candidates = [(path, f) for path, f in frames if not path.startswith(stdlib)]
    ours = [f for path, f in candidates if not path.startswith(packages)]
    chosen = ours or [f for _, f in candidates]
    return f"{_short(chosen[-1].filename)}:{chosen[-1].lineno}" if chosen else None


def _library_dirs() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the standard library and jobqueue, installed packages), as real directory
    prefixes ending in a separator."""
    paths = sysconfig.get_paths()

    def prefixes(*names: str) -> tuple[str, ...]:
        return tuple(os.path.join(os.path.realpath(paths[n]), "") for n in names if n in paths)

    ours = os.path.join(str(Path(__file__).resolve().parent.parent), "")
    return (*prefixes("stdlib", "platstdlib"), ours), prefixes("purelib", "platlib")


def _short(filename: str) -> str:
    """Relative to the current directory when inside it, as a user would type it."""
    try:
        relative = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if relative.startswith("..") else relative
