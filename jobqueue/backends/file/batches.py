"""enqueue_many: all or nothing, behind one write barrier.

The jobs are written into ``.batches/<owner>~<random>/`` without per-file fsyncs, then
one barrier (``syncfs``, or an fsync per file where that is missing) makes them
durable, then an empty ``COMMIT`` marker is written and synced, then each file is
renamed into ``pending/``. A crash before the marker leaves a batch that recovery
deletes (nothing was enqueued); after it, one that recovery finishes (all of it was).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from ... import codec
from ...job import PendingJob
from . import _fs
from .layout import Layout

COMMIT = "COMMIT"


def write_batch(
    layout: Layout, jobs: Sequence[PendingJob], owner: str, *, durable: bool, step: _fs.Step
) -> Path:
    """Write and commit a batch directory; StoreError (and nothing left) on failure."""
    batch = layout.batch_dir(owner)
    _fs.make_dirs(batch)
    try:
        written = []
        for job in jobs:
            path = batch / f"{job.metadata.id}.json"
            _fs.write_file(path, codec.encode(job), durable=False)
            written.append(path)
        if durable:
            _fs.sync_tree(layout.root, written)
        step("add:batch-written")  # a crash here: no COMMIT, so recovery rolls it back
        _fs.write_file(batch / COMMIT, b"", durable=durable)
        if durable:
            _fs.fsync_dir(batch)
    except OSError as e:
        remove_tree(batch)
        raise _fs.store_error(e, "write a batch of jobs") from e
    return batch


def is_committed(batch: Path) -> bool:
    """Recovery's question: a committed batch is finished, any other rolled back."""
    return (batch / COMMIT).exists()


def publish(
    layout: Layout, batch: Path, *, sync_pending: bool, step: _fs.Step | None = None
) -> None:
    """Move a committed batch's files into pending/ (idempotent: recovery may race us);
    ``sync_pending``: fsync pending/ once they are there."""
    pending = layout.status_dir("pending")
    for job_id in sorted(_fs.list_names(batch)):
        try:
            os.replace(batch / f"{job_id}.json", pending / f"{job_id}.json")
        except FileNotFoundError:
            continue  # another process finishing the same batch moved it first
        if step is not None:
            step("add:published")  # a crash here: COMMIT is there, recovery moves the rest
    if sync_pending:
        _fs.fsync_dir(pending)
    remove_tree(batch)


def remove_tree(path: Path) -> None:
    """Remove a batch directory (flat: files only); gone already is fine."""
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError):
        _fs.unlink_quietly(path)
        return
    for entry in entries:
        _fs.unlink_quietly(Path(entry.path))
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(path)
