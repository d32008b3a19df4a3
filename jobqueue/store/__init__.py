"""Storage: the JobStore protocol and FileStore, the embedded default."""

from .file import FileStore
from .protocol import CancelRequest, JobStore

__all__ = ["CancelRequest", "FileStore", "JobStore"]
