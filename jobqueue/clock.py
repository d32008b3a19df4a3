"""Where "now" comes from. Injected everywhere so tests can move time without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """A source of the current time, always timezone-aware UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC: it is compared with stored aware times."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The wall clock in UTC (aware)."""
        return datetime.now(UTC)
