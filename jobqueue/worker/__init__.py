"""Workers: JobWorker (subclass it) and HandlerWorker (register plain functions)."""

from .base import JobWorker
from .context import JobContext
from .handlers import HandlerWorker

__all__ = ["HandlerWorker", "JobContext", "JobWorker"]
