"""Exponential backoff with jitter: pure, so every rule is testable without a clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from random import Random


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delay before retry n = min(base * factor**n, max_delay), then ± jitter (a fraction)."""

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 600.0
    jitter: float = 0.25

    def delay(self, retry_count: int, max_retries: int, rng: Random) -> timedelta | None:
        """The wait before the next attempt, or None when no retry is left."""
        if retry_count >= max_retries:
            return None
        try:
            seconds = min(self.base * self.factor**retry_count, self.max_delay)
        except OverflowError:  # factor**n past the float range: far beyond any cap
            seconds = self.max_delay
        if self.jitter:
            seconds *= 1 + rng.uniform(-self.jitter, self.jitter)
        return timedelta(seconds=max(seconds, 0.0))
