"""Find the worker a ``jobqueue worker MODULE:ATTR`` command names."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from ..errors import InvalidOption
from ..queue import JobQueue
from .base import JobWorker


def load_worker(spec: str, queue: JobQueue, **options: Any) -> JobWorker:
    """``MODULE:ATTR`` names a JobWorker subclass (built on ``queue`` with ``options``)
    or an instance (which keeps its own queue; ``options`` then set its attributes)."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidOption(f"worker must be given as MODULE:ATTR, not {spec!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the current directory, like `python -m`
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise InvalidOption(f"cannot import {module_name!r}: {e}") from None
    target = getattr(module, attr, None)
    if isinstance(target, type) and issubclass(target, JobWorker):
        return target(queue, **options)
    if isinstance(target, JobWorker):
        for name, value in options.items():
            setattr(target, name, value)
        return target
    raise InvalidOption(f"{spec} is not a JobWorker subclass or instance")
