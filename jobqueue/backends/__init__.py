"""The backends behind ``jobqueue.backend.Backend``: ``file`` (the embedded default) and
``memory`` (one process, for tests). Nothing outside this package imports from it but
``jobqueue.backend.open_backend`` and the file-only commands (``doctor``, ``quarantine``)."""
