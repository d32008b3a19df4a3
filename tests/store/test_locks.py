"""The store's file lock: exclusive across threads of one process and across processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from jobqueue.store._fs import FileLock


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
from jobqueue.store._fs import FileLock
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
