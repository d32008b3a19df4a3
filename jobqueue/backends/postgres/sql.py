"""SQL text: the queries are written with bare table names (``jq_jobs``), as the
migrations create them; ``qualify`` names the store's schema in them once, when a part
is built, so no statement depends on the connection's ``search_path`` (PgBouncer in
transaction mode would not keep one)."""

from __future__ import annotations

import re

from .migrations import quote

_TABLE_RE = re.compile(r"\bjq_[a-z_]+\b")


def qualify(query: str, schema: str) -> str:
    """``query`` with every ``jq_...`` table prefixed by the quoted schema."""
    prefix = quote(schema)
    return _TABLE_RE.sub(lambda m: f"{prefix}.{m.group(0)}", query)


def fill(template: str, **parts: str) -> str:
    """``template`` with each ``{name}`` replaced by ``parts[name]``: ``str.format`` would
    also read the braces of the JSON literals in the SQL."""
    for name, part in parts.items():
        template = template.replace("{" + name + "}", part)
    return template
