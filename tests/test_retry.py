"""RetryPolicy: exponential backoff with jitter, pure given a seeded Random."""

from __future__ import annotations

from datetime import timedelta
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobqueue import RetryPolicy

EXACT = RetryPolicy(base=1.0, factor=2.0, max_delay=600.0, jitter=0.0)


def seconds(s: float) -> timedelta:
    return timedelta(seconds=s)


def test_the_defaults_are_the_documented_ones() -> None:
    assert RetryPolicy() == RetryPolicy(base=1.0, factor=2.0, max_delay=600.0, jitter=0.25)


@pytest.mark.parametrize(
    ("policy", "retry_count", "expected"),
    [
        (EXACT, 0, seconds(1)),  # first retry: the base delay
        (EXACT, 3, seconds(8)),  # doubles each time
        (EXACT, 9, seconds(512)),
        (EXACT, 10, seconds(600)),  # 1024 s, capped by max_delay
        (EXACT, 5000, seconds(600)),  # factor**n past the float range: still the cap
        (RetryPolicy(base=0.5, factor=3.0, jitter=0.0), 2, seconds(4.5)),
        (RetryPolicy(base=5.0, factor=1.0, jitter=0.0), 7, seconds(5)),  # constant
        (RetryPolicy(base=2.0, max_delay=30.0, jitter=0.0), 4, seconds(30)),
    ],
)
def test_backoff(policy: RetryPolicy, retry_count: int, expected: timedelta) -> None:
    assert policy.delay(retry_count, max_retries=10_000, rng=Random(0)) == expected


@pytest.mark.parametrize(("retry_count", "max_retries"), [(0, 0), (3, 3), (4, 3)])
def test_no_delay_once_retries_are_used_up(retry_count: int, max_retries: int) -> None:
    assert RetryPolicy().delay(retry_count, max_retries, Random(0)) is None


@given(seed=st.integers(0, 2**32), retry_count=st.integers(0, 12))
def test_jitter_stays_within_its_fraction(seed: int, retry_count: int) -> None:
    exact = EXACT.delay(retry_count, 20, Random(seed))
    jittered = RetryPolicy(jitter=0.25).delay(retry_count, 20, Random(seed))
    assert exact is not None and jittered is not None
    assert exact * 0.75 <= jittered <= exact * 1.25


def test_jitter_is_reproducible_with_a_seed_and_varies_between_seeds() -> None:
    def delay(seed: int) -> timedelta | None:
        return RetryPolicy().delay(3, 5, Random(seed))

    assert delay(7) == delay(7)
    assert len({delay(seed) for seed in range(20)}) > 10


def test_jitter_may_exceed_the_cap_by_its_fraction_only() -> None:
    delays = [RetryPolicy().delay(20, 30, Random(seed)) for seed in range(50)]
    assert all(d is not None and seconds(450) <= d <= seconds(750) for d in delays)
