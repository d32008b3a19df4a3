"""Workers: JobWorker (subclass it) and HandlerWorker (register plain functions)."""

from .base import JobWorker
from .context import JobContext
from .handlers import HandlerWorker
from .middleware import Middleware, log_jobs, validate_params

__all__ = [
    "HandlerWorker", "JobContext", "JobWorker", "Middleware", "log_jobs", "validate_params",
]  # fmt: skip
