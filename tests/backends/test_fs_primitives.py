"""File primitives of the store: the lock (exclusive across threads and processes) and
the appender (one descriptor kept open, reopened when its file changes or vanishes)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jobqueue.backends.file import _fs
from jobqueue.backends.file._fs import Appender, FileLock


def test_threads_never_hold_a_lock_together(tmp_path: Path) -> None:
    path, counter = tmp_path / "x.lock", tmp_path / "counter"
    counter.write_text("0")

    def bump() -> None:
        for _ in range(200):
            with FileLock(path):
                value = int(counter.read_text())
                time.sleep(0)  # invite another thread into the read-modify-write
                counter.write_text(str(value + 1))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert int(counter.read_text()) == 800


_HOLD = """
import sys, time
from pathlib import Path
from jobqueue.backends.file import _fs
from jobqueue.backends.file._fs import Appender, FileLock
with FileLock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


@pytest.mark.timeout(30)
def test_a_lock_held_by_another_process_waits_and_is_freed_when_it_is_killed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.lock"
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(path), "60"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        acquired = threading.Event()

        def take() -> None:
            with FileLock(path):
                acquired.set()

        taker = threading.Thread(target=take, daemon=True)
        taker.start()
        assert not acquired.wait(0.3)  # the child holds it
        child.kill()
        assert acquired.wait(10)  # a dead holder never keeps it
    finally:
        child.kill()
        child.wait(timeout=10)
    assert path.exists()  # never deleted


def test_a_symlink_is_never_followed(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "x.lock").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(OSError), FileLock(tmp_path / "x.lock"):
        pass


def test_appender_keeps_lines_whole_and_follows_its_file(tmp_path: Path) -> None:
    appender = Appender()
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    appender.write(first, b"1\n")
    appender.write(first, b"2\n")
    first.unlink()  # deleted behind its back: the next line must not vanish with it
    appender.write(first, b"3\n")
    appender.write(second, b"4\n")  # the next hour's file, say

    assert first.read_bytes() == b"3\n"
    assert second.read_bytes() == b"4\n"


def test_appender_lines_from_threads_never_interleave(tmp_path: Path) -> None:
    appender, path = Appender(), tmp_path / "x.log"

    def write(n: int) -> None:
        for i in range(300):
            appender.write(path, f"{n}:{i}:{'x' * 200}\n".encode())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    lines = path.read_bytes().splitlines()
    assert len(lines) == 1200 and all(len(line.split(b":")[2]) == 200 for line in lines)


def test_appender_closes_its_descriptor_when_collected(tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for n in range(50):
        Appender().write(tmp_path / "x.log", f"{n}\n".encode())
    gc.collect()

    assert len(os.listdir("/proc/self/fd")) <= before + 1


@pytest.mark.parametrize("renameat2", [True, False], ids=["renameat2", "link-fallback"])
def test_rename_noreplace_moves_any_entry_and_never_clobbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renameat2: bool
) -> None:
    if not renameat2:
        monkeypatch.setattr(_fs, "_libc", lambda: None)
    (tmp_path / "file").write_bytes(b"mine")
    (tmp_path / "taken").write_bytes(b"theirs")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(FileExistsError):
        _fs.rename_noreplace(tmp_path / "file", tmp_path / "taken")
    _fs.rename_noreplace(tmp_path / "file", tmp_path / "moved")
    _fs.rename_noreplace(tmp_path / "dir", tmp_path / "moved-dir")
    _fs.rename_noreplace(tmp_path / "link", tmp_path / "moved-link")

    assert (tmp_path / "taken").read_bytes() == b"theirs"
    assert (tmp_path / "moved").read_bytes() == b"mine"
    assert (tmp_path / "moved-dir").is_dir()
    assert os.readlink(tmp_path / "moved-link") == str(tmp_path / "elsewhere")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "moved", "moved-dir", "moved-link", "taken"
    ]  # fmt: skip
