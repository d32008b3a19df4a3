"""The search language: ``parse(q)`` reads the text of a search box into a ``Search``
(what the store filters, and the tests each job document must pass). The qualifiers
are listed in ``jobqueue.search``."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from ..durations import parse_duration
from ..errors import InvalidJob
from ..ids import check_id, check_type
from ..job import STATUSES, Job, Status

QUALIFIERS = (
    "id", "type", "status", "params.<path>", "error", "worker", "created", "unique_key",
    "user_id", "priority",
)  # fmt: skip

#: Given a job, its document as the reader may see it (default: ``codec.to_document``).
View = Callable[[Job], Mapping[str, Any]]
#: One test on a document, at a time "now".
Test = Callable[[Mapping[str, Any], datetime], bool]


@dataclass(frozen=True, slots=True)
class Search:
    """A parsed query: what the store filters (``id``, ``type``, ``statuses``) and what
    is tested on each document (``tests``, all must hold)."""

    text: str = ""
    id: str | None = None
    type: str | None = None
    statuses: tuple[Status, ...] = ()
    tests: tuple[Test, ...] = field(default=(), compare=False)

    def matches(self, doc: Mapping[str, Any], now: datetime) -> bool:
        """Whether one job's document passes every test (the store-side parts aside)."""
        return all(test(doc, now) for test in self.tests)

    def narrowed(self, status: Status | None) -> Search:
        """This search within one status tab: its own ``status:`` terms still apply."""
        if status is None:
            return self
        if self.statuses and status not in self.statuses:
            return replace(self, statuses=(), tests=(*self.tests, _never))
        return replace(self, statuses=(status,))


def parse(q: str) -> Search:
    """Parse the search text; InvalidJob with the offending term on bad input."""
    try:
        words = shlex.split(q)
    except ValueError as e:
        raise InvalidJob(f"search: {e} (close the double quote)") from None
    search = Search(text=q.strip())
    for word in words:
        search = _add(search, word)
    return search


def _add(search: Search, word: str) -> Search:
    name, sep, value = word.partition(":")
    if not sep or not re.fullmatch(r"[a-z_]+(\.[^\s:]+)?", name):
        return _with(search, _free_text(word))
    if not value:
        raise InvalidJob(f"search: {name}: needs a value, as in {name}:something")
    if name.startswith("params."):
        return _with(search, _param(name.split(".")[1:], value))
    match name:
        case "id":
            return replace(search, id=check_id(value))
        case "type":
            return replace(search, type=check_type(value))
        case "status":
            return replace(search, statuses=(*search.statuses, _status(value)))
        case "error":
            return _with(search, _error(value))
        case "worker":
            return _with(search, _worker(value))
        case "created":
            return _with(search, _created(value))
        case "unique_key" | "user_id" | "priority":
            return _with(search, _metadata(name, value))
    raise InvalidJob(f"search: unknown qualifier {name}: (use {', '.join(QUALIFIERS)})")


def _with(search: Search, test: Test) -> Search:
    return replace(search, tests=(*search.tests, test))


def _never(doc: Mapping[str, Any], now: datetime) -> bool:
    return False


def _status(value: str) -> Status:
    if value not in STATUSES:
        raise InvalidJob(f"search: unknown status {value!r}: use one of {', '.join(STATUSES)}")
    return value


# --- the tests -------------------------------------------------------------------------


def _contains(text: object, needle: str) -> bool:
    return isinstance(text, str) and needle.casefold() in text.casefold()


def _free_text(needle: str) -> Test:
    def test(doc: Mapping[str, Any], now: datetime) -> bool:
        meta = doc.get("metadata", {})
        return any(_contains(t, needle) for t in (meta.get("id"), meta.get("type"))) or any(
            _contains(e.get("type"), needle) or _contains(e.get("message"), needle)
            for e in _errors(doc)
        )

    return test


def _param(path: Sequence[str], value: str) -> Test:
    if not all(path):
        raise InvalidJob("search: params.<path> needs names between the dots, as params.a.b:v")

    def test(doc: Mapping[str, Any], now: datetime) -> bool:
        found = _walk(doc.get("params"), path)
        if found is _MISSING:
            return False
        if isinstance(found, str):
            return _contains(found, value)
        return _scalar_text(found) == value

    return test


_MISSING = object()


def _walk(value: Any, path: Sequence[str]) -> Any:
    for step in path:
        if isinstance(value, Mapping) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return _MISSING
    return value


def _scalar_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value) if isinstance(value, int | float) else None


def _errors(doc: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The job's error (failed) and every attempt's."""
    if isinstance(doc.get("error"), Mapping):
        yield doc["error"]
    for attempt in doc.get("attempts") or ():
        if isinstance(attempt.get("error"), Mapping):
            yield attempt["error"]


def _error(needle: str) -> Test:
    def test(doc: Mapping[str, Any], now: datetime) -> bool:
        return any(
            _contains(e.get("type"), needle) or _contains(e.get("message"), needle)
            for e in _errors(doc)
        )

    return test


def _worker(needle: str) -> Test:
    def test(doc: Mapping[str, Any], now: datetime) -> bool:
        workers = [doc.get("worker")] + [a.get("worker") for a in doc.get("attempts") or ()]
        return any(
            isinstance(w, Mapping)
            and (_contains(w.get("name"), needle) or _contains(w.get("host"), needle))
            for w in workers
        )

    return test


def _created(value: str) -> Test:
    sign, text = value[:1], value[1:]
    if sign not in (">", "<"):
        raise InvalidJob("search: created: takes an age, as created:>2h or created:<15m")
    age = parse_duration(text)

    def test(doc: Mapping[str, Any], now: datetime) -> bool:
        created = doc.get("metadata", {}).get("created")
        if not isinstance(created, str):
            return False
        lived = now - datetime.fromisoformat(created)
        return lived > age if sign == ">" else lived < age

    return test


def _metadata(name: str, value: str) -> Test:
    def test(doc: Mapping[str, Any], now: datetime) -> bool:
        found = doc.get("metadata", {}).get(name)
        return (str(found) if isinstance(found, int) else found) == value

    return test
