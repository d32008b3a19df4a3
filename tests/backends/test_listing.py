"""The file backend's kept listings: reused while a directory is unchanged, read again
after any change, and never kept while the directory's mtime is too fresh to trust."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jobqueue.backends.file.listing import SETTLED_NS, Listings, beyond


def settle(directory: Path) -> int:
    """Make the directory's mtime old enough for a listing of it to be kept."""
    past = time.time_ns() - 2 * SETTLED_NS
    os.utime(directory, ns=(past, past))
    return past


def add(directory: Path, *ids: str) -> None:
    for job_id in ids:
        (directory / f"{job_id}.json").write_text("{}")


def test_a_settled_listing_is_kept_and_a_change_is_seen(tmp_path: Path) -> None:
    add(tmp_path, "b", "a")
    settle(tmp_path)
    listings = Listings()
    first = listings.sorted_ids(tmp_path)
    assert list(first) == ["a", "b"]
    assert listings.sorted_ids(tmp_path) is first  # kept: not read again
    add(tmp_path, "c")
    assert list(listings.sorted_ids(tmp_path)) == ["a", "b", "c"]
    (tmp_path / "a.json").unlink()
    assert list(listings.sorted_ids(tmp_path)) == ["b", "c"]


def test_a_fresh_directory_is_read_every_time(tmp_path: Path) -> None:
    """Its mtime may not change for another change within the same clock tick."""
    add(tmp_path, "a")
    listings = Listings()
    first = listings.sorted_ids(tmp_path)
    assert listings.sorted_ids(tmp_path) is not first


def test_a_missing_directory_is_empty(tmp_path: Path) -> None:
    assert list(Listings().sorted_ids(tmp_path / "nope")) == []


def test_beyond_pages_both_ways() -> None:
    ids = ["a", "b", "c", "d"]
    assert list(beyond(ids, None, newest_first=False)) == ids
    assert list(beyond(ids, "b", newest_first=False)) == ["c", "d"]
    assert list(beyond(ids, None, newest_first=True)) == ["d", "c", "b", "a"]
    assert list(beyond(ids, "c", newest_first=True)) == ["b", "a"]
    assert list(beyond(ids, "bb", newest_first=True)) == ["b", "a"]  # not itself an id


def test_a_settled_count_is_kept_and_a_change_is_seen(tmp_path: Path) -> None:
    add(tmp_path, "a", "b")
    (tmp_path / ".hidden").write_text("")  # not a job file
    past = settle(tmp_path)
    listings = Listings()
    assert listings.count(tmp_path) == 2
    os.rename(tmp_path / "a.json", tmp_path / "keep")  # unseen while the count is kept...
    os.utime(tmp_path, ns=(past, past))  # ...which takes forging the mtime back
    assert listings.count(tmp_path) == 2
    add(tmp_path, "c")
    assert listings.count(tmp_path) == 2  # b and c: the change stamped a new mtime
    assert listings.count(tmp_path / "nope") == 0
