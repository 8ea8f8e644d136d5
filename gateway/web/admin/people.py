"""`/admin/registrants`: finding registrants and acting on their links (ops only).

Each row shows where the registrant's current link stands: its version, its
mail (sent, pending or failed with the reason) and whether it was opened.
Revoking, reinstating and reissuing ask first, then go through `Registry`, which
audits them with the staff member's identity as actor; resending re-queues the
current link's mail (its `link.sent` event records the sending); showing a link
is audited as `link.shown`. Every action is a POST with a CSRF token, answered
303 back to the list with one of a few fixed messages (or a page: a question
first, or the link shown).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.core.records import MailJob, Registrant
from gateway.core.times import in_zone
from gateway.mail.queue import languages, mail_progress
from gateway.sessions import links
from gateway.web.admin.auth import Staff, posted, staff, staff_reason
from gateway.web.pages import form_page
from gateway.web.services import Services, services

PER_PAGE = 50
MAX_QUERY = 200
FLASH = {  # `done=` picks one of these: the page never shows text from the URL
    "revoked": "Access revoked: the registrant's links and sessions no longer work.",
    "reissued": "A new link was issued (lifting any revocation); older links no longer work. "
    "Use Resend to mail it.",
    "resent": "The current link's mail is queued.",
    "already_queued": "The current link's mail was already queued; nothing added.",
    "reissued_sent": "A new link was issued and queued for mailing; older links no longer work.",
    "revoked_not_sent": "Not queued: the registrant's access is revoked (reinstate or reissue "
    "first).",
    "reinstated": "Access reinstated: the same link, and the devices signed in with it, work "
    "again.",
    "not_revoked": "Not changed: this registrant was not revoked.",
    "already_revoked": "Not changed: this registrant was already revoked.",
    "purged": "Not changed: this registrant's personal data was purged.",
    "added": "Added; the link was not mailed (use Resend to mail it).",
    "added_sent": "Added; the link is queued for mailing.",
}


def page(
    request: Request,
    who: Staff,
    template: str,
    section: str,
    status_code: int = 200,
    *,
    flash: str = "",
    **context: Any,
) -> Response:
    """An admin page with what the layout needs (staff, CSRF token, section, flash)."""
    return form_page(
        request, template, status_code, staff=who, section=section, flash=flash, **context
    )


@dataclass(frozen=True)
class Row:
    registrant: Registrant
    registered: str
    mail: str
    opened: str


def matches(registrant: Registrant, query: str) -> bool:
    """An exact id, or a case-insensitive part of the email address or name."""
    if not query or registrant.id == query:
        return True
    low = query.lower()
    return low in registrant.email.lower() or low in registrant.name.lower()


def mail_state(registrant: Registrant, jobs: list[MailJob], svc: Services) -> str:
    """The latest mail of the current link, in words."""
    current = [j for j in jobs if j.kind == "link" and j.link_version == registrant.link_version]
    if not current:
        return "not queued"
    job = current[-1]
    tz = svc.settings.schedule.timezone
    if job.state == "sent" and job.sent_at:
        return f"sent {in_zone(job.sent_at, tz)}"
    if job.state == "failed":
        return f"failed: {job.last_error or 'no reason given'}"
    retry = f" (retrying after: {job.last_error})" if job.last_error else ""
    return f"{job.state}{retry}"


async def opened(svc: Services, shown: list[Registrant]) -> dict[str, str]:
    """Whether each shown registrant opened their current link, or only an older one:
    one stored value per registrant shown (`links.opened_key`), never the audit log."""
    found: dict[str, str] = {}
    for registrant in shown:
        version = await svc.store.get_value(links.opened_key(registrant.id))
        if version is not None:
            current = version == str(registrant.link_version)
            found[registrant.id] = "yes" if current else "an older link only"
    return found


async def registrants(request: Request) -> Response:
    who = await staff(request, "ops")
    svc = services(request)
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    raw_page = request.query_params.get("page", "1")
    number = int(raw_page) if raw_page.isdigit() and 0 < int(raw_page) < 10**6 else 1
    everyone = await svc.store.registrants()
    found = [r for r in everyone if matches(r, query)]
    pages = max(1, -(-len(found) // PER_PAGE))
    number = min(number, pages)
    shown = found[(number - 1) * PER_PAGE : number * PER_PAGE]
    seen = await opened(svc, shown)
    tz = svc.settings.schedule.timezone
    rows = [
        Row(
            r,
            in_zone(r.created_at, tz),
            mail_state(r, await svc.store.mail_jobs(registrant_id=r.id), svc),
            seen.get(r.id, "no"),
        )
        for r in shown
    ]

    def link(to: int) -> str:
        return "/admin/registrants?" + urlencode(
            {"q": query, "page": to} if query else {"page": to}
        )

    return page(
        request,
        who,
        "admin/registrants.html",
        "registrants",
        flash=FLASH.get(request.query_params.get("done", ""), ""),
        query=query,
        rows=rows,
        total=len(found),
        number=number,
        pages=pages,
        previous=link(number - 1) if number > 1 else None,
        next=link(number + 1) if number < pages else None,
        unsent=(await mail_progress(svc.store)).unsent if everyone else 0,
    )


async def _language(svc: Services, registrant_id: str) -> str:
    """The language of the registrant's last mail (English before any)."""
    jobs = await svc.store.mail_jobs(registrant_id=registrant_id)
    return languages(jobs).get(registrant_id, "en")


async def act(request: Request) -> Response:
    """Revoke, reissue or resend, then back to the list where the form was."""
    who = await staff(request, "ops")
    svc = services(request)
    action = request.path_params["action"]
    if action not in ("show", "revoke", "reinstate", "reissue", "resend"):
        raise HTTPException(404)
    fields = await posted(request, svc, max_fields=20)
    registrant = await svc.store.registrant(request.path_params["id"])
    if registrant is None:
        raise HTTPException(404)
    back: dict[str, str] = {}
    if query := fields.get("q", "").strip()[:MAX_QUERY]:
        back["q"] = query
    if (number := fields.get("page", "")).isdigit():
        back["page"] = number
    confirming = action in ("revoke", "reinstate", "reissue") and registrant.email
    if confirming and fields.get("confirmed") != "yes":  # what cannot be undone asks first
        return page(
            request,
            who,
            "admin/registrant_confirm.html",
            "registrants",
            registrant=registrant,
            action=action,
            devices=await svc.store.count_sessions(svc.clock(), registrant_id=registrant.id),
            query=back.get("q", ""),
            number=back.get("page", ""),
        )
    if action == "show" and registrant.email:  # a credential shown: audited (`link.shown`)
        shown = await svc.registry.show(registrant.email, actor=who.identity)
        return page(
            request,
            who,
            "admin/registrant_link.html",
            "registrants",
            registrant=registrant,
            link=shown,
            back=f"/admin/registrants?{urlencode(back)}",
        )
    reason = staff_reason(fields)
    if not registrant.email:
        done = "purged"  # `Registry` finds people by address, and a purged one has none
    elif action == "revoke":
        done = "already_revoked" if registrant.revoked else "revoked"
        await svc.registry.revoke(registrant.email, actor=who.identity, reason=reason)
    elif action == "reinstate":
        done = "reinstated" if registrant.revoked else "not_revoked"
        await svc.registry.reinstate(registrant.email, actor=who.identity, reason=reason)
    elif action == "reissue":
        renewed = await svc.registry.reissue(registrant.email, actor=who.identity, reason=reason)
        done = "reissued"
        if fields.get("send") == "yes":
            await svc.mailer.enqueue(renewed, await _language(svc, registrant.id))
            done = "reissued_sent"
    elif registrant.revoked:
        done = "revoked_not_sent"
    else:
        lang = await _language(svc, registrant.id)
        done = "resent" if await svc.mailer.enqueue(registrant, lang) else "already_queued"
    back = {"done": done, **back}
    return RedirectResponse(f"/admin/registrants?{urlencode(back)}", status_code=303)


routes = [
    Route("/admin/registrants", registrants, methods=["GET"]),
    Route("/admin/registrants/{id}/{action}", act, methods=["POST"]),
]
