"""Durations as people type them, shared by the API and the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobqueue.durations import parse_duration, to_timedelta
from jobqueue.errors import InvalidJob


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45", timedelta(seconds=45)),
        ("0.5", timedelta(seconds=0.5)),
        (".5", timedelta(seconds=0.5)),
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1.5h", timedelta(minutes=90)),
        (" 5 m ", timedelta(minutes=5)),
        ("0", timedelta(0)),
    ],
)
def test_a_duration_parses(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert to_timedelta(text) == expected


BAD_TEXT = ["", " ", "abc", "5x", "5 m s", "m", "-5", "-5m", "1e3", "inf", "nan", "5mm", "1,5s"]


@pytest.mark.parametrize("text", [*BAD_TEXT, "99999999999999999d"])
def test_a_bad_duration_raises_invalid_job_naming_it(text: str) -> None:
    with pytest.raises(InvalidJob, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (45, timedelta(seconds=45)),
        (0.25, timedelta(milliseconds=250)),
        (timedelta(minutes=3), timedelta(minutes=3)),
        ("2h", timedelta(hours=2)),
    ],
)
def test_to_timedelta_takes_seconds_timedeltas_and_text(
    value: float | timedelta | str, expected: timedelta
) -> None:
    assert to_timedelta(value) == expected


@pytest.mark.parametrize(
    "value",
    [-1, -0.5, timedelta(seconds=-1), True, None, [5], float("nan"), float("inf"), 1e20],
    ids=["neg-int", "neg-float", "neg-delta", "bool", "None", "list", "nan", "inf", "huge"],
)
def test_to_timedelta_refuses_what_is_not_a_length_of_time(value: object) -> None:
    with pytest.raises(InvalidJob, match="delay"):
        to_timedelta(value, "delay")  # type: ignore[arg-type]
