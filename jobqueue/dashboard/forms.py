"""Reading a POSTed form without python-multipart: the dashboard's forms (and htmx 4,
which sends a form as ``URLSearchParams``) are ``application/x-www-form-urlencoded``,
which the standard library parses. Starlette's ``request.form()`` would need
python-multipart, one more dependency for nothing we use."""

from __future__ import annotations

from collections.abc import Callable, Collection
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidJob
from .refusal import refusal

#: Does one action: ``(request, action, fields) -> response``, in a worker thread.
Handler = Callable[[Request, str, dict[str, str]], Response]

#: The largest form body read (a cancel reason, a search): anything bigger is refused.
MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields (the last value of a repeated name wins); InvalidJob for a body
    that is too big or not url-encoded."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidJob(f"form too large (over {MAX_FORM_BYTES} bytes)")
    if not body:
        return {}
    if kind != "application/x-www-form-urlencoded":
        raise InvalidJob(f"forms must be url-encoded, not {kind or 'untyped'}")
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise InvalidJob("form is not UTF-8") from None


async def posted(request: Request, actions: Collection[str], handle: Handler) -> Response:
    """The head every action endpoint shares: the path's ``action`` must be one of
    ``actions`` (else 404), the form must read (else 400); then ``handle(request,
    action, fields)`` runs in a thread, since it calls the blocking JobQueue."""
    action = request.path_params["action"]
    if action not in actions:
        return refusal(404, f"no action {action!r}: use one of {', '.join(actions)}")
    try:
        fields = await read_form(request)
    except InvalidJob as e:
        return refusal(400, str(e))
    return await run_in_threadpool(handle, request, action, fields)
