"""Ids are time-sortable, safe file names; an id or type that could escape is refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobqueue.errors import InvalidJob
from jobqueue.ids import MAX_NAME_LENGTH, TimeIds, check_id, check_type

T0 = datetime(2030, 1, 1, tzinfo=UTC)
Check = Callable[[object], str]

ESCAPES = {
    "parent": "../x",
    "absolute": "/etc/passwd",
    "nested": "a/b",
    "backslash": "a\\b",
    "NUL": "a\x00b",
    "newline": "a\nb",
    "dot": ".",
    "dotdot": "..",
    "dots inside": "a..b",
    "hidden": ".hidden",
    "empty": "",
    "over-long": "a" * (MAX_NAME_LENGTH + 1),
}


def test_ids_strictly_increase_for_back_to_back_calls_at_the_same_instant() -> None:
    new_id = TimeIds(Random(0))
    ids = [new_id(T0) for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_ids_keep_increasing_when_the_clock_goes_backwards() -> None:
    new_id = TimeIds(Random(0))
    times = [T0, T0 - timedelta(seconds=5), T0 - timedelta(days=1), T0 + timedelta(microseconds=1)]
    ids = [new_id(t) for t in times]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_ids_sort_by_creation_time_and_read_as_such() -> None:
    new_id = TimeIds(Random(0))
    first, later = new_id(T0), new_id(T0 + timedelta(seconds=1))
    assert first < later
    assert first.startswith("20300101T000000000000Z-")


clock_readings = st.datetimes(datetime(1970, 1, 1), datetime(9000, 1, 1), timezones=st.just(UTC))


@given(st.lists(clock_readings, min_size=1, max_size=50))
def test_every_generated_id_is_a_safe_file_name_and_ordered(times: list[datetime]) -> None:
    new_id = TimeIds(Random(0))
    ids = [new_id(t) for t in times]
    assert all(check_id(i) == i for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize("name", ["job-000001", "20300101T000000000000Z-9f1c2a7b", "a.b_c-1", "A"])
def test_check_id_accepts_a_safe_name(name: str) -> None:
    assert check_id(name) == name


@pytest.mark.parametrize("name", ["resize", "send_email", "_private", "img.resize:v2", "a-b"])
def test_check_type_accepts_a_safe_name(name: str) -> None:
    assert check_type(name) == name


@pytest.mark.parametrize("check", [check_id, check_type])
@pytest.mark.parametrize("name", ESCAPES.values(), ids=ESCAPES.keys())
def test_a_name_that_could_escape_is_refused(check: Check, name: str) -> None:
    with pytest.raises(InvalidJob, match=r"job (id|type)"):
        check(name)


@pytest.mark.parametrize("check", [check_id, check_type])
@pytest.mark.parametrize("value", [None, 42, b"job-1", ["job-1"]])
def test_a_name_must_be_a_string(check: Check, value: object) -> None:
    with pytest.raises(InvalidJob, match="must be a string"):
        check(value)


def test_the_longest_allowed_name_is_accepted() -> None:
    assert check_id("a" * MAX_NAME_LENGTH) == "a" * MAX_NAME_LENGTH


@given(st.text(max_size=MAX_NAME_LENGTH + 2))
def test_any_accepted_id_or_type_stays_in_its_directory(name: str) -> None:
    for check in (check_id, check_type):
        try:
            check(name)
        except InvalidJob:
            continue
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert name not in (".", "..") and not name.startswith(".")
