"""`/register`: public sign-up until `registration.closes`, answered the same for everyone.

Whether or not the address was already registered, the answer is the same page
(no enumeration); a repeat re-sends the current link (never a new one) and a
revoked registrant is sent nothing. Plain HTML, no JavaScript needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.core.errors import UsageError
from gateway.i18n.translator import LANGUAGES
from gateway.mail.registrants import MAX_NAME, MAX_ORGANISATION, clean_email, text_problem
from gateway.web import csrf
from gateway.web.pages import form_page, render, translator, when
from gateway.web.services import Services, client_ip, services

MAX_FORM_FIELD = 1000  # longer than any valid value: refused, never stored
MAX_BODY = 64 * 1024


@dataclass
class Form:
    name: str = ""
    email: str = ""
    organisation: str = ""
    consent: bool = False


def field(data: FormData, key: str) -> str:
    value = data.get(key, "")
    return value if isinstance(value, str) else ""


def address_of(email: str) -> str | None:
    """The address as we store it, or None when it is not one we would send to."""
    try:
        if any(c in email for c in "\r\n") or len(email) > 254:
            raise UsageError("bad address")
        return clean_email(email)
    except UsageError:
        return None


def _errors(form: Form) -> list[tuple[str, str]]:
    """(field, message key) for each field that cannot be stored as it is."""
    problems = []
    if text_problem(form.name):
        problems.append(("name", "error_name_characters"))
    elif not form.name.strip() or len(form.name) > MAX_NAME:
        problems.append(("name", "error_name"))
    if address_of(form.email) is None:
        problems.append(("email", "error_email"))
    if text_problem(form.organisation):
        problems.append(("organisation", "error_organisation_characters"))
    elif len(form.organisation) > MAX_ORGANISATION:
        problems.append(("organisation", "error_organisation"))
    if not form.consent:
        problems.append(("consent", "error_consent"))
    return problems


def _page(
    request: Request,
    svc: Services,
    form: Form,
    status: int = 200,
    errors: list[tuple[str, str]] | None = None,
) -> Response:
    schedule = svc.settings.schedule
    t = translator(request)
    return form_page(
        request,
        "register.html",
        status,
        form=form,
        errors=errors or [],
        error_fields={field for field, _ in errors or []},
        closes=when(svc.settings.registration_closes, schedule, t),
        recording_until=when(schedule.recording_until, schedule, t),
    )


def _closed(request: Request, svc: Services, status: int) -> Response:
    t = translator(request)
    closes = when(svc.settings.registration_closes, svc.settings.schedule, t)
    return render(
        request,
        "message.html",
        status,
        heading=t("register_closed_title"),
        message=t("register_closed", when=closes),
        offer_link=svc.clock() < svc.settings.schedule.recording_until,
    )


async def register_form(request: Request) -> Response:
    svc = services(request)
    if svc.clock() >= svc.settings.registration_closes:
        return _closed(request, svc, 200)
    return _page(request, svc, Form())


# A ticked checkbox: ours sends "yes", a browser "on" for a box without a value, scripts
# "true" or "1". Anything else (absent, empty, "no", "false") is not consent.
TICKED = frozenset({"yes", "on", "true", "1"})


async def register(request: Request) -> Response:
    svc = services(request)
    if svc.clock() >= svc.settings.registration_closes:
        return _closed(request, svc, 403)
    t = translator(request)
    ip = client_ip(request) or "unknown"
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        return _page(request, svc, Form(), 413, [("name", t("error_name"))])
    await svc.ratelimits.hit(("register_ip", ip), ("register_ip_hour", ip))
    async with request.form(max_files=0, max_fields=20, max_part_size=MAX_BODY) as data:
        form = Form(
            field(data, "name")[:MAX_FORM_FIELD].strip(),
            field(data, "email")[:MAX_FORM_FIELD].strip(),
            field(data, "organisation")[:MAX_FORM_FIELD].strip(),
            field(data, "consent").strip().lower() in TICKED,
        )
        token, lang = field(data, "csrf"), field(data, "lang")
    try:
        csrf.verify(request, token, svc.csrf_signer, svc.settings.event.public_url)
    except csrf.CsrfFailed:
        return _page(request, svc, form, 403, [("name", t("error_form_expired"))])
    problems = _errors(form)
    if problems:
        await svc.audit.record(
            "registration.refused", ip=ip, reason="invalid", fields=sorted(f for f, _ in problems)
        )
        return _page(request, svc, form, 400, [(f, t(key)) for f, key in problems])
    address = clean_email(form.email)
    await svc.ratelimits.hit(("register_email", address.lower()))
    registrant, created = await svc.registry.add(
        email=address,
        name=form.name,
        organisation=form.organisation,
        now=svc.clock(),
        actor="system",
        ip=ip,
    )
    if registrant.revoked:
        await svc.audit.record(
            "registration.refused", registrant=registrant.id, ip=ip, reason="revoked"
        )
    else:
        await svc.mailer.enqueue(registrant, lang if lang in LANGUAGES else t.lang)
    return render(
        request,
        "message.html",
        200,
        heading=t("register_done_title"),
        message=t("register_done", email=form.email),
    )


routes = [
    Route("/register", register_form, methods=["GET"]),
    Route("/register", register, methods=["POST"]),
]
