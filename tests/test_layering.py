"""Dependencies point one way: CLI -> queue and worker -> the backend protocol -> backends.

Read from the source with ``ast`` (nothing is imported), counting every import at module
level, those under ``if TYPE_CHECKING:`` included: a typing-level cycle is still a cycle
for a reader. Imports inside functions are lazy on purpose (``open_backend`` loads the
backend a URL names) and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jobqueue"

#: Only these may import a backend package: the protocol's opener, the backends
#: themselves, and the file-only commands.
MAY_IMPORT_BACKENDS = (
    "jobqueue.backend", "jobqueue.backends", "jobqueue.cli.doctor", "jobqueue.cli.quarantine",
)  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """The jobqueue modules ``path`` imports at module level (TYPE_CHECKING included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _module_level(ast.parse(path.read_text()).body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(package, node.module, node.level)
            for alias in node.names:
                module = f"{base}.{alias.name}"
                found.add(module if module in MODULES else base)
    return {m for m in found if m.split(".")[0] == "jobqueue" and m in MODULES}


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    nodes: list[ast.stmt] = []
    for node in body:
        nodes.append(node)
        if isinstance(node, ast.If | ast.Try):
            nodes.extend(_module_level(node.body))
    return nodes


def _resolve(package: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    base = package.split(".")[: len(package.split(".")) - (level - 1)]
    return ".".join([*base, module] if module else base)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: top_level_imports(path) for name, path in MODULES.items()}


def test_nothing_above_the_backends_imports_one() -> None:
    offenders = {
        name: sorted(m for m in imports if m.startswith("jobqueue.backends"))
        for name, imports in GRAPH.items()
        if not name.startswith(MAY_IMPORT_BACKENDS)
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_there_is_no_import_cycle() -> None:
    cycles = []
    for start in sorted(GRAPH):
        cycle = _cycle_from(start)
        if cycle and min(cycle) == start:  # report each cycle once
            cycles.append(" -> ".join(cycle))
    assert cycles == []


def _cycle_from(start: str) -> list[str] | None:
    """A path start -> ... -> start through module-level imports, if there is one.
    (Importing ``a.b`` also runs ``a/__init__``; that implicit edge is left out, or every
    package that re-exports its modules would be a cycle.)"""
    stack, seen = [(start, [start])], set()
    while stack:
        name, path = stack.pop()
        for nxt in sorted(GRAPH.get(name, ())):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


@pytest.mark.parametrize("module", ["jobqueue.queue", "jobqueue.worker.base", "jobqueue.health"])
def test_the_checked_modules_exist(module: str) -> None:
    assert module in GRAPH  # the checks above would pass vacuously on a renamed tree
