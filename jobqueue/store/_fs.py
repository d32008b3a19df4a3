"""Small filesystem primitives with the durability rules of the file store.

A durable write is: temp file in the same tree, write, flush, fsync, rename into place,
fsync the directory. With ``durable=False`` the fsyncs are skipped (tests, scratch
queues): a crash may then lose recent writes, but never leaves a half-written file,
because the rename is still atomic.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import functools
import os
from collections.abc import Iterable
from pathlib import Path

from ..errors import StoreError

FILE_MODE = 0o600
DIR_MODE = 0o700


def store_error(e: OSError, doing: str) -> StoreError:
    """Turn an OSError into a message a user can act on."""
    hints = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EROFS: "the data directory is on a read-only filesystem",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
    }
    hint = hints.get(e.errno or 0, e.strerror or str(e))
    return StoreError(f"cannot {doing}: {hint} ({e.filename or ''})")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, *, durable: bool) -> None:
    """Create ``path`` (it must not exist) with ``data``; fsync it if durable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomic(dst: Path, data: bytes, tmp: Path, *, durable: bool) -> None:
    """Write ``tmp``, then rename it over ``dst``: readers see old or new, never half."""
    try:
        write_file(tmp, data, durable=durable)
        os.replace(tmp, dst)
    except OSError as e:
        _unlink_quietly(tmp)
        raise store_error(e, f"write {dst.name}") from None
    if durable:
        fsync_dir(dst.parent)


def link_atomic(dst: Path, data: bytes, tmp: Path, *, durable: bool) -> None:
    """Like replace_atomic, but FileExistsError if ``dst`` exists (a hard link never clobbers)."""
    try:
        write_file(tmp, data, durable=durable)
        os.link(tmp, dst)
    except FileExistsError:
        _unlink_quietly(tmp)
        raise
    except OSError as e:
        _unlink_quietly(tmp)
        raise store_error(e, f"write {dst.name}") from None
    _unlink_quietly(tmp)
    if durable:
        fsync_dir(dst.parent)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def unlink_quietly(path: Path) -> bool:
    """Remove ``path``; False if it was already gone."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def sync_tree(root: Path, files: Iterable[Path]) -> None:
    """One write barrier for many files: ``syncfs`` where Linux has it, else fsync each."""
    if not _syncfs(root):
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


def _syncfs(root: Path) -> bool:
    libc = _libc()
    if libc is None or not hasattr(libc, "syncfs"):
        return False
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bool(libc.syncfs(fd) == 0)
    finally:
        os.close(fd)


def make_dirs(*paths: Path) -> None:
    """``mkdir -p`` with DIR_MODE for every level we create (``Path.mkdir(parents=True)``
    gives the parents the default mode, so the data dir and ``jobs/`` would be listable)."""
    for path in paths:
        missing = [path, *(p for p in path.parents if not p.exists())]
        try:
            for p in reversed(missing):
                p.mkdir(mode=DIR_MODE, exist_ok=True)
        except OSError as e:
            raise store_error(e, f"create {path}") from None


def count_entries(path: Path, suffix: str = ".json") -> int:
    """How many names in ``path`` end with ``suffix`` (no file is opened)."""
    try:
        with os.scandir(path) as it:
            return sum(1 for entry in it if entry.name.endswith(suffix))
    except FileNotFoundError:
        return 0


def list_names(path: Path, suffix: str = ".json") -> list[str]:
    """The names in ``path`` ending in ``suffix``, without the suffix."""
    try:
        with os.scandir(path) as it:
            return [e.name[: -len(suffix)] for e in it if e.name.endswith(suffix)]
    except FileNotFoundError:
        return []
