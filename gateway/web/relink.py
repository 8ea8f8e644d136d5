"""`/link`: get your personal link again by email, open until the recording closes.

For whoever lost the mail (or whose spam filter ate it), also after registration
has closed. An address that is registered and not revoked is mailed its current
link (the same link, through the same queue, never a new one); every address,
known or not, gets the same answer, so the form tells nobody who registered.
CSRF and rate limits as `/register`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.i18n.translator import LANGUAGES
from gateway.web import csrf
from gateway.web.pages import form_page, render, translator
from gateway.web.register import MAX_BODY, MAX_FORM_FIELD, address_of, field
from gateway.web.services import Services, client_ip, services


def _open(svc: Services) -> bool:
    return svc.clock() < svc.settings.schedule.recording_until


def _page(request: Request, email: str = "", status: int = 200, error: str = "") -> Response:
    return form_page(request, "link.html", status, email=email, error=error)


def _closed(request: Request, status: int) -> Response:
    t = translator(request)
    return render(
        request,
        "message.html",
        status,
        heading=t("link_again_title"),
        message=t("link_again_closed"),
    )


async def link_form(request: Request) -> Response:
    svc = services(request)
    return _page(request) if _open(svc) else _closed(request, 200)


async def link_again(request: Request) -> Response:
    svc = services(request)
    if not _open(svc):
        return _closed(request, 403)
    t = translator(request)
    ip = client_ip(request) or "unknown"
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return _page(request, "", 413, t("error_email"))
    await svc.ratelimits.hit(("register_ip", ip), ("register_ip_hour", ip))
    async with request.form(max_files=0, max_fields=10, max_part_size=MAX_BODY) as data:
        email = field(data, "email")[:MAX_FORM_FIELD].strip()
        token, lang = field(data, "csrf"), field(data, "lang")
    try:
        csrf.verify(request, token, svc.csrf_signer, svc.settings.event.public_url)
    except csrf.CsrfFailed:
        return _page(request, email, 403, t("error_form_expired"))
    address = address_of(email)
    if address is None:
        return _page(request, email, 400, t("error_email"))
    await svc.ratelimits.hit(("register_email", address.lower()))
    registrant = await svc.store.registrant_by_email(address)
    if registrant is not None and not registrant.revoked and registrant.email:
        await svc.mailer.enqueue(registrant, lang if lang in LANGUAGES else t.lang)
    return render(  # the same answer whether or not the address is known
        request,
        "message.html",
        200,
        heading=t("link_again_done_title"),
        message=t("link_again_done", email=email),
    )


routes = [
    Route("/link", link_form, methods=["GET"]),
    Route("/link", link_again, methods=["POST"]),
]
