"""The dashboard's guard: one ASGI middleware in front of every route, mounted or not.

In order, for each HTTP request:

1. **Authentication**, when the app has a token or basic credentials (``auth``).
2. **Cross-origin POSTs are refused** (403), with no token and no session: the
   algorithm of Go 1.25's ``net/http.CrossOriginProtection`` (design note §3.4).
   GET, HEAD and OPTIONS pass, which is safe because no GET changes anything; an
   ``Origin`` in ``trusted_origins`` passes; else ``Sec-Fetch-Site`` decides when the
   browser sent it (``same-origin`` or ``none`` pass); else ``Origin`` must name the
   ``Host`` (plain http on a LAN, where browsers send no fetch metadata:
   sidekiq#6926); a request with neither header passes (curl, a script: it carries no
   ambient credentials). The check stays on with auth: basic credentials and our token
   cookie are ambient too.
3. **Read-only**: every method that could change something is refused (403), whatever
   the route, so a forgotten button cannot become a hole.
4. **Security headers** on every response: a strict CSP (no inline script or style:
   htmx 4 runs under it as long as we use no ``hx-on``), no framing, no sniffing, no
   referrer (a token URL must not leak).

Refusals are short HTML fragments: htmx 4 swaps 4xx responses into the page.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import Auth
from .refusal import refusal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def cross_origin(headers: Headers, trusted_origins: Collection[str]) -> bool:
    """True when a state-changing request comes from another site (refuse it)."""
    origin = headers.get("origin")
    if origin is not None and origin in trusted_origins:
        return False
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != headers.get("host", "").lower()


class Guard:
    """The middleware described in the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth: Auth | None,
        read_only: bool,
        trusted_origins: Collection[str] = (),
    ) -> None:
        self.app = app
        self.auth = auth
        self.read_only = read_only
        self.trusted_origins = frozenset(o.rstrip("/") for o in trusted_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse or pass the request, and add the security headers to the response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        refused = self.check(scope)
        if refused is not None:
            await refused(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def check(self, scope: Scope) -> Response | None:
        """The response refusing this request, or None to let it through."""
        if self.auth is not None:
            answer = self.auth.check(scope)
            if answer is not None:
                return answer
        if scope["method"] in SAFE_METHODS:
            return None
        if cross_origin(Headers(scope=scope), self.trusted_origins):
            return refusal(403, "refused: a cross-site request cannot change the queue")
        if self.read_only:
            return refusal(403, "refused: this dashboard is read-only")
        return None


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending
