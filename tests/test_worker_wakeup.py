"""The worker's wake-up path: file events (``backends.file.watch``) and the slot threads that run
jobs (``runner.SlotThreads``). Speed is measured in scripts/latency.py, not here."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from monitoring import wait_for

from jobqueue.backends.file.watch import watch
from jobqueue.worker.runner import SlotThreads


def test_a_line_appended_or_a_file_renamed_in_calls_back(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("")
    calls: list[str] = []
    stop = watch([tmp_path], lambda: calls.append("woken"))
    try:
        with log.open("a") as f:
            f.write("a line\n")
        wait_for(lambda: calls, timeout=5, what="a call for the appended line")
        calls.clear()
        (tmp_path.parent / "elsewhere").write_text("{}")
        (tmp_path.parent / "elsewhere").rename(tmp_path / "moved-in")
        wait_for(lambda: calls, timeout=5, what="a call for the renamed file")
    finally:
        stop()


def test_reading_a_watched_file_does_not_call_back(tmp_path: Path) -> None:
    """The worker reads the index it watches: its own reads must not wake it."""
    log = tmp_path / "log"
    log.write_text("a line\n")
    calls: list[str] = []
    stop = watch([tmp_path], lambda: calls.append("woken"))
    try:
        for _ in range(5):
            log.read_bytes()
        with log.open("a") as f:  # a write after the reads: once it is seen, so were they
            f.write("another\n")
        wait_for(lambda: calls, timeout=5, what="a call for the appended line")
        time.sleep(0.1)
        assert len(calls) == 1
    finally:
        stop()


def test_stopped_watches_leave_no_thread_behind(tmp_path: Path) -> None:
    before = threading.active_count()
    for _ in range(3):
        watch([tmp_path], lambda: None)()
    wait_for(lambda: threading.active_count() <= before, timeout=10, what="watch threads to end")


def test_slot_threads_run_each_item_and_reuse_an_idle_thread() -> None:
    ran: list[tuple[int, str]] = []
    done = threading.Semaphore(0)

    def work(item: int) -> None:
        ran.append((item, threading.current_thread().name))
        done.release()

    slots = SlotThreads(work, "test-slot")
    try:
        for item in range(3):
            slots.submit(item)
            assert done.acquire(timeout=5)
            wait_for(lambda: slots._idle == 1, timeout=5, what="the thread to be idle again")
        assert [item for item, _ in ran] == [0, 1, 2]
        assert len({name for _, name in ran}) == 1
    finally:
        slots.close()


def test_slot_threads_start_a_thread_per_busy_item_and_end_when_closed() -> None:
    release = threading.Event()
    started = threading.Semaphore(0)

    def work(item: int) -> None:
        started.release()
        release.wait(5)

    slots = SlotThreads(work, "test-busy-slot")
    for item in range(3):
        slots.submit(item)
    for _ in range(3):
        assert started.acquire(timeout=5)
    names = lambda: [t.name for t in threading.enumerate() if t.name.startswith("test-busy-slot")]  # noqa: E731
    assert len(names()) == 3
    release.set()
    wait_for(lambda: slots._idle == 3, timeout=5, what="every thread to be idle")
    slots.close()
    wait_for(lambda: not names(), timeout=5, what="the slot threads to end")
