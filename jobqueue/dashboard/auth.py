"""Who may see the dashboard: a token (Jupyter's way) or basic credentials.

* **Token.** The first visit carries it in the URL (``/?token=T``, as ``jobqueue
  dashboard --token`` prints); the answer stores it in an ``HttpOnly; SameSite=Strict``
  cookie and sends the browser on to the same URL without it (a meta refresh rather
  than a redirect: a navigation the page starts itself is same-site, so the strict
  cookie is sent even when the link was opened from another site). Scripts send
  ``Authorization: Bearer T`` instead.
* **Basic.** ``Authorization: Basic`` with the one user and password.

Every comparison goes through ``secrets.compare_digest``. When a host app mounts the
dashboard, authentication is usually the host's job: give neither and this is skipped.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from html import escape
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, Response
from starlette.types import Scope

from ..errors import InvalidOption
from .refusal import refusal

COOKIE = "jobqueue-dashboard-token"
TOKEN_PARAM = "token"


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """Access with one secret token (URL once, then cookie; or a Bearer header)."""

    token: str

    def check(self, scope: Scope) -> Response | None:
        """None when the request carries the token; else the answer to send."""
        headers = Headers(scope=scope)
        query = parse_qsl(_text(scope.get("query_string")), keep_blank_values=True)
        given = [v for k, v in query if k == TOKEN_PARAM]
        if given:
            if not _same(given[-1], self.token):
                return refusal(401, "wrong token: use the URL `jobqueue dashboard` printed")
            return self._handover(scope, [(k, v) for k, v in query if k != TOKEN_PARAM])
        if _same(_bearer(headers) or _cookie(headers) or "", self.token):
            return None
        return refusal(401, "a token is needed: open the URL `jobqueue dashboard` printed")

    def _handover(self, scope: Scope, rest: list[tuple[str, str]]) -> Response:
        target = str(scope.get("path") or "/") + (f"?{urlencode(rest)}" if rest else "")
        link = escape(target, quote=True)
        body = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="0;url={link}"><title>jobqueue</title>'
            f'</head><body><p><a href="{link}">Continue to the dashboard</a></p></body></html>'
        )
        response = HTMLResponse(body, headers={"cache-control": "no-store"})
        path = str(scope.get("root_path") or "") or "/"
        response.set_cookie(
            COOKIE, self.token, path=path, httponly=True, samesite="strict",
            secure=scope.get("scheme") == "https",
        )  # fmt: skip
        return response


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Access with one user name and password (HTTP basic authentication)."""

    user: str
    password: str

    @classmethod
    def parse(cls, text: str) -> BasicAuth:
        """``USER:PASS`` as the CLI takes it; InvalidOption when either part is empty."""
        user, sep, password = text.partition(":")
        if not sep or not user or not password:
            raise InvalidOption("--basic must be USER:PASS, both non-empty")
        return cls(user, password)

    def check(self, scope: Scope) -> Response | None:
        """None when the request carries the credentials; else a 401 asking for them."""
        scheme, _, encoded = Headers(scope=scope).get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user = password = ""
            # Both compared, always: no early exit that would time the user name.
            if _same(user, self.user) & _same(password, self.password):
                return None
        challenge = {"www-authenticate": 'Basic realm="jobqueue dashboard", charset="UTF-8"'}
        return refusal(401, "user name and password needed", challenge)


Auth = TokenAuth | BasicAuth


def make_auth(token: str | None, basic: str | tuple[str, str] | None) -> Auth | None:
    """The auth the ``create_app`` arguments ask for; InvalidOption for both, or empty."""
    if token is not None and basic is not None:
        raise InvalidOption("give a token or basic credentials, not both")
    if token is not None:
        if not token:
            raise InvalidOption("the token must not be empty")
        return TokenAuth(token)
    if isinstance(basic, str):
        return BasicAuth.parse(basic)
    if basic is not None:
        return BasicAuth.parse(":".join(basic))
    return None


def _bearer(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _cookie(headers: Headers) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(headers.get("cookie", ""))
    except CookieError:  # a malformed Cookie header from elsewhere: no token in it
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def _text(raw: object) -> str:
    return raw.decode("latin-1") if isinstance(raw, bytes) else ""
