"""The shell command that does what a dashboard action does, shown beside the action
(``m.cli(...)``): ``jobqueue --store <this store> <words>``, every word quoted for a
POSIX shell, so a store path or a search with spaces pastes as it is."""

from __future__ import annotations

import shlex

from .context import Dashboard


def command(dash: Dashboard, *words: str) -> str:
    """``jobqueue --store STORE WORDS...`` for this dashboard's store."""
    parts = ("jobqueue", "--store", dash.queue.location, *words)
    return " ".join(shlex.quote(part) for part in parts)
