"""A small search language for jobs, and its evaluation over keyset pages with a cap.

``parse(q)`` reads terms separated by spaces; a value with spaces goes in double quotes:

=====================  ==============================================================
``id:ID``              that job only (looked up, not scanned)
``type:T``             jobs of type T (pushed down to the store)
``status:S``           jobs in status S (repeat for several; pushed down)
``params.a.b:V``       ``params["a"]["b"]`` (list items by number): text contains V
                       (ignoring case); numbers, ``true``, ``false``, ``null`` equal V
``error:TEXT``         the error type or message of the job or of any attempt contains it
``worker:TEXT``        the worker (name or host) running it, or of any attempt, contains it
``created:>2h``        created more than 2 hours ago; ``created:<15m`` less than 15 min ago
``unique_key:K``       that unique key; also ``user_id:U`` and ``priority:N``
``TEXT``               (no qualifier) the id, type or error contains it
=====================  ==============================================================

Terms combine with AND. Matching reads the job's *document* (``codec.to_document``,
through a caller's ``view`` such as the dashboard's redaction), so what is hidden from a
reader cannot be probed for either.

``find`` evaluates a search over ``JobQueue.query_page`` (newest or oldest first, keyset
``after``/``before``) within ``Limits``: at most so many jobs read, and optionally so
many seconds, since a filter that matches rarely must not read the whole store for one
page (a file store reads ~10,000 jobs a second). ``count`` counts matches the same way.
Both say when they stopped at a limit, so a page can show "≥ 120 (scanned the newest
2,000)" rather than a wrong number (oban#1114: a list empty because of a hidden cap).
"""

from .language import QUALIFIERS, Search, Test, View, parse
from .scan import FIRST_BATCH, MAX_BATCH, MIN_BATCH, SCAN_CAP, Count, Found, Limits, count, find

__all__ = [
    "FIRST_BATCH", "MAX_BATCH", "MIN_BATCH", "QUALIFIERS", "SCAN_CAP", "Count", "Found",
    "Limits", "Search", "Test", "View", "count", "find", "parse",
]  # fmt: skip
