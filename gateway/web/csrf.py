"""CSRF protection for forms: a signed token bound to a random cookie (double submit).

The form carries `csrf`, a timed signature over the value of the `gw_csrf`
cookie (`__Host-gw_csrf` under an https `public_url`: only this host, over TLS,
at `/`, can set it); a cross-site POST has neither the cookie's value nor our
key. The Origin header, when sent, must be our own.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from itsdangerous import BadSignature, TimestampSigner
from starlette.requests import Request
from starlette.responses import Response

from gateway.core.errors import GatewayError

COOKIE = "gw_csrf"
FIELD = "csrf"
MAX_AGE = 4 * 3600  # a form left open over lunch still posts


class CsrfFailed(GatewayError):
    """The form did not come from our page (answered 403)."""


def cookie_name(secure: bool) -> str:
    return "__Host-" + COOKIE if secure else COOKIE


def issue(request: Request, signer: TimestampSigner, *, secure: bool) -> tuple[str, str | None]:
    """(token for the form, new cookie value or None when the browser has one)."""
    current = request.cookies.get(cookie_name(secure), "")
    if 20 <= len(current) <= 64 and current.isascii():
        return signer.sign(current).decode(), None
    fresh = secrets.token_urlsafe(24)
    return signer.sign(fresh).decode(), fresh


def set_cookie(response: Response, value: str | None, *, secure: bool) -> None:
    if value is not None:
        response.set_cookie(
            cookie_name(secure),
            value,
            max_age=MAX_AGE,
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )


def verify(request: Request, token: str, signer: TimestampSigner, public_url: str) -> None:
    """Raise CsrfFailed unless `token` signs this browser's cookie and the origin is ours."""
    origin = request.headers.get("origin")
    allowed = {urlsplit(public_url).netloc, request.headers.get("host", "")}
    if origin and origin != "null" and urlsplit(origin).netloc not in allowed:
        raise CsrfFailed()
    cookie = request.cookies.get(cookie_name(public_url.startswith("https://")), "")
    try:
        signed = signer.unsign(token, max_age=MAX_AGE).decode()
    except (BadSignature, UnicodeDecodeError):
        raise CsrfFailed() from None
    if not cookie or not secrets.compare_digest(signed, cookie):
        raise CsrfFailed()
