"""The file backend: jobs as JSON files in one directory per status (see
``docs/file-backend.md`` for its hidden directories, transitions, crash steps and group
commit). ``FileBackend`` is the ``jobqueue.backend.Backend``; ``FileStore`` its jobs part."""

from .backend import FileBackend
from .file import FileStore

__all__ = ["FileBackend", "FileStore"]
