"""The dashboard's pages, one module each, assembled by ``jobqueue.dashboard.app``.

A page module exposes three names (``PageModule`` checks them with mypy):

* ``ROUTES``: its Starlette routes, each with a ``name`` (templates build URLs from it);
* ``NAV``: the header links it adds (``NavLink(label, route_name)``), often none;
* ``LIVE``: its live views, ``(name, renderer)`` pairs: ``renderer(request, event)``
  returns the HTML an open page of that view receives for one job event (``hx-swap-oob``
  fragments), or None when that page does not show the job. A page subscribes with
  ``/stream?view=<name>``.

To add a page: write ``pages/<name>.py`` and its templates, and list the module in
``app.PAGES``; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from starlette.routing import BaseRoute

from ..context import NavLink, Renderer


class PageModule(Protocol):
    """What ``app.PAGES`` expects of each module listed there (read-only, so a module's
    ``ROUTES = (Route(...), Route(...))`` needs no annotation)."""

    @property
    def ROUTES(self) -> Sequence[BaseRoute]:
        """The module's routes, each named."""
        ...

    @property
    def NAV(self) -> Sequence[NavLink]:
        """The header links the module adds (often none)."""
        ...

    @property
    def LIVE(self) -> Sequence[tuple[str, Renderer]]:
        """The module's live views: (name, renderer) pairs."""
        ...
