"""The dashboard in a real browser (Debian's Chromium through Playwright); see conftest.

A package (this file) and not a plain directory so that the package-scoped ``browser``
fixture really ends with the last test here: in a directory without ``__init__.py``,
pytest keeps a package-scoped fixture for the whole session, and a Playwright left
running would break ``asyncio.run`` in every later test.
"""
