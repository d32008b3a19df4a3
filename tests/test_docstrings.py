"""Every public name says why it exists (issue 10): a missing docstring fails here.

Checked: each class and function in ``jobqueue.__all__`` and the public methods defined
in those classes themselves, and each public class and function defined in
``jobqueue.backend`` with its methods (the protocol is read more than any other code).
A docstring counts only when it is written on the object itself: ``inspect.getdoc``
climbs the MRO, and ``dataclasses`` invents a signature for an undocumented class.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator
from dataclasses import dataclass

import jobqueue
import jobqueue.backend

#: Names in ``__all__`` that are type aliases: an alias cannot hold a docstring.
ALIASES = {"Job", "Status"}


def own_doc(obj: object) -> str | None:
    """The docstring written on ``obj`` itself; None when there is none."""
    if inspect.isclass(obj):
        doc = vars(obj).get("__doc__")
        if dataclasses.is_dataclass(obj) and doc is not None and _generated(obj, doc):
            return None
    else:
        doc = getattr(obj, "__doc__", None)
    return doc if isinstance(doc, str) and doc.strip() else None


def _generated(cls: type, doc: str) -> bool:
    """The ``Name(field, ...)`` text ``dataclasses`` writes when a class has no docstring."""
    return doc == cls.__name__ or doc.startswith(f"{cls.__name__}(")


def documentable(obj: object) -> bool:
    """A class or a function: what can hold a docstring of its own."""
    return inspect.isclass(obj) or inspect.isfunction(obj)


def methods(cls: type) -> Iterator[tuple[str, object]]:
    """Public functions and properties defined in ``cls`` itself (nothing inherited)."""
    for name, attr in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(attr, staticmethod | classmethod):
            yield name, attr.__func__
        elif isinstance(attr, property):
            yield name, attr.fget
        elif inspect.isfunction(attr):
            yield name, attr


def documented_names() -> Iterator[tuple[str, object]]:
    """Every name this test holds to a docstring, qualified for the failure message."""
    exported = [(f"jobqueue.{n}", getattr(jobqueue, n)) for n in jobqueue.__all__]
    backend = [
        (f"jobqueue.backend.{name}", obj)
        for name, obj in vars(jobqueue.backend).items()
        if not name.startswith("_") and documentable(obj) and obj.__module__ == "jobqueue.backend"
    ]
    for qualified, obj in [*exported, *backend]:
        if not documentable(obj):
            continue  # an alias (see test_only_the_aliases_are_skipped)
        yield qualified, obj
        if inspect.isclass(obj):
            for name, method in methods(obj):
                yield f"{qualified}.{name}", method


def test_every_public_name_has_a_docstring() -> None:
    missing = {name for name, obj in documented_names() if own_doc(obj) is None}
    assert sorted(missing) == []


def test_only_the_aliases_are_skipped() -> None:
    exported = {name: getattr(jobqueue, name) for name in jobqueue.__all__}
    skipped = {name for name, obj in exported.items() if not documentable(obj)}
    assert skipped == ALIASES


def test_the_backend_protocol_is_checked() -> None:
    names = {name for name, _ in documented_names()}
    assert {"jobqueue.backend.open_backend", "jobqueue.backend.Backend.jobs"} <= names


@dataclass(frozen=True)
class _Undocumented:
    field: int

    def method(self) -> None:
        pass

    @property
    def prop(self) -> int:
        return self.field


class _InheritsOnly(jobqueue.JobQueueError):
    pass


def test_a_missing_docstring_is_noticed() -> None:
    assert own_doc(_Undocumented) is None  # not the signature dataclasses writes
    assert own_doc(_InheritsOnly) is None  # not JobQueueError's docstring
    assert [own_doc(m) for _, m in methods(_Undocumented)] == [None, None]
    assert own_doc(jobqueue.JobQueueError) is not None
