"""Small filesystem primitives with the durability rules of the file store.

A durable write is: temp file in the same tree, write, flush, fsync, rename into place,
fsync the directory. With ``durable=False`` the fsyncs are skipped (tests, scratch
queues): a crash may then lose recent writes, but never leaves a half-written file,
because the rename is still atomic.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import stat
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ...errors import StoreError

FILE_MODE = 0o600
DIR_MODE = 0o700

#: Called with a step name inside multi-step writes (crash-injection tests).
Step = Callable[[str], None]


class NotAFile(Exception):
    """A name in the tree that is a symlink, a directory, a FIFO... where a regular file
    belongs. It is never opened for reading through, so a link cannot leak a file from
    outside the data directory into the queue."""


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


@contextlib.contextmanager
def as_store_error(doing: str) -> Iterator[None]:
    """Raise any OSError from the block as a StoreError saying what we were doing: the
    callers (worker, CLI) then see one error type with a message a user can act on."""
    try:
        yield
    except OSError as e:
        raise store_error(e, doing) from e


class FileLock:
    """An exclusive lock on ``path`` across processes and threads: ``with lock: ...``.

    ``flock`` on a descriptor opened for this hold; closing it releases the lock, so a
    killed holder never leaves it taken, and the file is never deleted (deleting a lock
    file lets two processes lock two different inodes). Each hold opens its own
    descriptor, so two threads of one process exclude each other too. Not reentrant:
    a thread must not take a stripe it already holds.

    Why not the filelock package, which did this before: its fork bookkeeping, realpath
    and thread-local reentrancy counters cost far more than open+flock+close, and the
    store takes a lock at every claim, completion and heartbeat (docs/file-backend.md)."""

    __slots__ = ("_fd", "path")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def __exit__(self, *exc: object) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def file_lock(path: Path) -> FileLock:
    """An inter-process lock on ``path`` (see FileLock)."""
    return FileLock(path)


def fsync_dir(path: Path) -> None:
    """A new name (a rename, a created file) is durable only once its directory is."""
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


def fill_spare(path: Path, data: bytes, *, durable: bool) -> bool:
    """Overwrite the spare file ``path`` (see ``spares``) with ``data``; False if it is no
    longer one: gone, or not a regular file with a single link (a hard link made to it
    meanwhile must not see its bytes change)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            return False
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
        if durable:
            os.fsync(fd)
        return True
    finally:
        os.close(fd)


def no_step(name: str) -> None:
    """The default ``Step``: only crash-injection tests act on step names."""
    pass


def replace_atomic(
    dst: Path, data: bytes, tmp: Path, *, durable: bool, step: Step = no_step, spare: bool = False
) -> None:
    """Write ``tmp``, then rename it over ``dst``: readers see old or new, never half.
    ``spare``: ``tmp`` is a spare file to fill (see ``spares``), created if it cannot be.
    On any error (a full disk, a read-only tree) the temp file is removed: nothing is left."""
    try:
        if not (spare and fill_spare(tmp, data, durable=durable)):
            if spare:
                _unlink_quietly(tmp)  # not ours to fill: start afresh under its name
            write_file(tmp, data, durable=durable)
        step("write:tmp")  # a crash here leaves an orphan temp file, nothing else
        os.replace(tmp, dst)
    except OSError as e:
        _unlink_quietly(tmp)
        raise store_error(e, f"write {dst.name}") from e
    if durable:
        fsync_dir(dst.parent)


def link_atomic(
    dst: Path, data: bytes, tmp: Path, *, durable: bool, step: Step = no_step, sync_dir: bool = True
) -> None:
    """Like replace_atomic, but FileExistsError if ``dst`` exists: it never clobbers.
    ``sync_dir=False``: the caller fsyncs ``dst``'s directory (once for many, or later)."""
    try:
        write_file(tmp, data, durable=durable)
        step("write:tmp")
        rename_noreplace(tmp, dst)
    except FileExistsError:
        _unlink_quietly(tmp)
        raise
    except OSError as e:
        _unlink_quietly(tmp)
        raise store_error(e, f"write {dst.name}") from e
    step("write:linked")  # the job is in place (a crash just before: an orphan temp file)
    if durable and sync_dir:
        fsync_dir(dst.parent)


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` (any kind of entry, a symlink not followed) to ``dst``;
    FileExistsError if ``dst`` exists. Linux's renameat2 does it in one call. Elsewhere,
    or where the filesystem refuses the flag: a hard link, which never clobbers, then an
    unlink of ``src`` (slower than one call, see docs/file-backend.md; a crash between the
    two leaves ``src`` behind); and where there are no hard links (or ``src`` is a
    directory), a rename after checking that the name is free."""
    libc = _libc()
    if libc is not None and hasattr(libc, "renameat2"):
        names = os.fsencode(src), os.fsencode(dst)
        if libc.renameat2(_AT_FDCWD, names[0], _AT_FDCWD, names[1], _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS):
            raise OSError(err, os.strerror(err), str(dst))
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK):
            raise
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "taken", str(dst)) from None
        os.rename(src, dst)
        return
    _unlink_quietly(src)


def read_file(path: Path) -> bytes:
    """The bytes of the regular file ``path``: FileNotFoundError if it is gone, NotAFile if
    it is anything else. O_NOFOLLOW refuses a symlink without reading its target, and
    O_NONBLOCK keeps a FIFO from hanging us before fstat can refuse it."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotAFile(f"{path.name} is a symbolic link") from None
        if e.errno == errno.ENXIO:  # a socket
            raise NotAFile(f"{path.name} is not a regular file") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotAFile(f"{path.name} is not a regular file ({stat.filemode(mode)})")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class Appender:
    """Appends lines to one file at a time through a descriptor kept open between calls.

    Opening the file for each line costs more than the rest of recording an event or
    announcing a job (docs/file-backend.md). The descriptor is reopened when the caller
    names another file (the event log's next hour), and when the file was deleted or
    replaced meanwhile (a line written to an unlinked file would be lost: it is written
    again to the file now there). O_APPEND, one write per line, so concurrent lines never
    interleave; O_NOFOLLOW, so a symlink planted in the tree cannot make us write outside
    it. Thread-safe; closed when the Appender is collected."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._path: Path | None = None
        self._fd = -1
        self._close = weakref.finalize(self, _close_quietly, [-1])

    def write(self, path: Path, data: bytes) -> int:
        """Append ``data``; returns the inode written to (a caller can tell if the file
        was replaced right after)."""
        with self._lock:
            if path is not self._path and path != self._path:
                self._reopen(path)
            os.write(self._fd, data)
            st = os.fstat(self._fd)
            if st.st_nlink == 0:  # deleted, or renamed over: write it to the file there now
                self._reopen(path)
                os.write(self._fd, data)
                st = os.fstat(self._fd)
            return st.st_ino

    def _reopen(self, path: Path) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, FILE_MODE)
        self._close()  # the previous file's descriptor
        self._path, self._fd = path, fd
        self._close = weakref.finalize(self, _close_quietly, [fd])


def _close_quietly(fds: list[int]) -> None:
    for fd in fds:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


def check_real_dirs(root: Path, paths: Iterable[Path]) -> None:
    """StoreError if a directory of the tree (below ``root``) is a symlink or not a
    directory: following it could read or write outside the data directory."""
    for path in paths:
        if path == root:
            continue  # the data directory itself may be a link (e.g. to another disk)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        except OSError as e:
            raise store_error(e, f"inspect {path}") from e
        if not stat.S_ISDIR(mode):
            what = "a symbolic link" if stat.S_ISLNK(mode) else "not a directory"
            raise StoreError(
                f"refusing to use {path}: it is {what}; jobqueue never follows links out of "
                "its data directory (move it aside and let jobqueue recreate the directory)"
            )


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
    if has_syncfs():
        syncfs(root)
        return
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library this process already runs on: dlopen(NULL) finds its symbols. Not
    ``ctypes.util.find_library``, which imports tempfile and runs ``ldconfig -p``: ~4 ms
    of every one-shot command, to name the same library."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def has_syncfs() -> bool:
    """Group commit needs ``syncfs``: without it, ends are synced one by one (see claims)."""
    libc = _libc()
    return libc is not None and hasattr(libc, "syncfs")


def syncfs(root: Path) -> None:
    """Everything written so far on ``root``'s filesystem is on disk (Linux ``syncfs``)."""
    libc = _libc()
    assert libc is not None
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(root))
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
            raise store_error(e, f"create {path}") from e


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
