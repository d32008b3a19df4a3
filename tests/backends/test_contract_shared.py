"""The shared part's contract: ``update`` is an atomic read-modify-write of named bytes,
across threads and handles (rate limits count on it)."""

from __future__ import annotations

import time
from functools import partial

from jobqueue.backend import Backend

from .conftest import Opener
from .helpers import run_together


def increment(data: bytes | None) -> tuple[bytes, int]:
    """A counter stored as decimal bytes; hands back the new value."""
    value = int(data or b"0") + 1
    return str(value).encode(), value


def test_the_first_update_sees_none_and_its_answer_is_handed_back(backend: Backend) -> None:
    seen: list[bytes | None] = []

    def remember(data: bytes | None) -> tuple[bytes, str]:
        seen.append(data)
        return b"state-1", "the answer"

    assert backend.shared.update("limit:email", remember) == "the answer"
    assert backend.shared.update("limit:email", remember) == "the answer"
    assert seen == [None, b"state-1"]


def test_what_one_handle_stores_the_next_update_sees(open_handle: Opener) -> None:
    first, second = open_handle(), open_handle()

    assert first.shared.update("counter", increment) == 1
    assert second.shared.update("counter", increment) == 2
    assert first.shared.update("counter", increment) == 3


def test_names_are_independent(backend: Backend) -> None:
    backend.shared.update("a", increment)
    backend.shared.update("a", increment)

    assert backend.shared.update("b", increment) == 1
    assert backend.shared.update("a", increment) == 3


def increment_slowly(data: bytes | None) -> tuple[bytes, int]:
    """``increment``, letting other threads run between the read and the write: without
    it, threads of one process rarely interleave there and a lost update would go unseen."""
    time.sleep(0)
    return increment(data)


def test_concurrent_updates_lose_no_increment(open_handle: Opener) -> None:
    handles, threads, rounds = [open_handle(), open_handle()], 8, 50

    def count(n: int) -> None:
        for _ in range(rounds):
            handles[n % 2].shared.update("counter", increment_slowly)

    run_together([partial(count, n) for n in range(threads)])

    assert handles[0].shared.update("counter", increment) == threads * rounds + 1
