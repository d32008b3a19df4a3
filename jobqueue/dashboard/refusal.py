"""The one shape of a refused request (401, 403, 404, 409): a line of HTML that htmx 4
swaps into the page (it swaps 4xx responses) and that reads fine without it."""

from __future__ import annotations

from html import escape

from starlette.responses import HTMLResponse, Response


def refusal(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A refused request, with ``message`` as one line a person can act on."""
    body = f'<p class="refused" role="alert" data-testid="refused">{escape(message)}</p>'
    return HTMLResponse(body, status_code=status, headers=headers)
