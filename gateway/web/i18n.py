"""A page's language from its request: `?lang=`, then the `lang` cookie the switcher
sets, then `Accept-Language` (the translator and catalogues: `gateway.i18n`)."""

from __future__ import annotations

from starlette.requests import Request

from gateway.i18n.translator import DEFAULT, LANGUAGES, from_accept_language

COOKIE = "lang"


def negotiate(request: Request) -> str:
    """The page language for this request."""
    asked = request.query_params.get("lang", "")
    if asked in LANGUAGES:
        return asked
    cookie = request.cookies.get(COOKIE, "")
    if cookie in LANGUAGES:
        return cookie
    return from_accept_language(request.headers.get("accept-language", "")) or DEFAULT
