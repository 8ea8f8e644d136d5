"""Pages for people: the landing page, opening a personal link, the player page, the
accessibility statement."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.core.errors import LinkRefused
from gateway.core.schedule import Schedule, Status, status
from gateway.i18n import moments
from gateway.i18n.translator import Translator
from gateway.mail.compose import calendar
from gateway.web.pages import programme, render, schedule_json, translator, when
from gateway.web.ratelimit import RateLimited
from gateway.web.services import client_ip, services

HLS_JS = Path(__file__).parent / "static" / "vendor" / "hls.min.js"
_PLAYER_KEYS = ("now_", "next_", "player_", "sound_", "play", "starts_in", "your_time")


def player_messages(t: Translator) -> str:
    """The messages the player script shows, in the page's language, as a JSON block."""
    chosen = {k: v for k, v in t.messages.items() if k.startswith(_PLAYER_KEYS)}
    return json.dumps(chosen, ensure_ascii=False).replace("</", "<\\/")


def describe(now: Status, schedule: Schedule, at: dt.datetime, t: Translator) -> str:
    """One or two sentences on what is on now, in the page's language."""
    upcoming = schedule.next_streamed(at)
    today = at.astimezone(schedule.timezone).date()
    nxt = (
        t("next_starts", next=upcoming.name, when=when(upcoming.start, schedule, t, today=today))
        if upcoming
        else ""
    )
    match now.phase:
        case "live":
            return t("now_live", part=now.part)
        case "blocked" if upcoming is not None:
            # One sentence, announced as one: "Part II is not streamed; Part III starts at …"
            return t(
                "now_blocked_next",
                part=now.part,
                next=upcoming.name,
                when=when(upcoming.start, schedule, t, today=today),
            )
        case "blocked":
            return t("now_blocked", part=now.part)
        case "before":
            return f"{t('now_before')} {nxt}".strip()
        case "between" if upcoming is None and at < schedule.recording_from:
            return t(
                "now_recording_soon", when=when(schedule.recording_from, schedule, t, today=today)
            )
        case "between":
            return f"{t('now_between')} {nxt}".strip()
        case "recording":
            return t("now_recording")
        case "stopped":
            return t("now_stopped")
        case _:
            return t("now_closed")


async def landing(request: Request) -> Response:
    svc = services(request)
    schedule, stopped = await svc.gatekeeper.schedule()
    at = svc.clock()
    now_status = status(schedule, at, stopped=stopped)
    t = translator(request)
    return render(
        request,
        "landing.html",
        now_text=describe(now_status, schedule, at, t),
        programme=programme(schedule, t, lambda name: svc.settings.description(name, t.lang)),
        recording_until=when(schedule.recording_until, schedule, t),
        registration_open=at < svc.settings.registration_closes,
        links_open=at < schedule.recording_until,
    )


async def open_link(request: Request) -> Response:
    """A personal link: start a session, then send the browser on without the token."""
    svc = services(request)
    # A link pasted with the sentence around it ("…/w/TOKEN." or "<…/w/TOKEN>"): a token
    # never ends in these (its signature is base64url), so they are the mail's, not ours.
    token = request.path_params["token"].rstrip("/.,;:!?)]>'\"")
    ip = client_ip(request)
    try:  # 429 after many refusals from this address, but for a link we signed: one
        # mangled link pasted again and again must not lock out an office behind one NAT
        await svc.ratelimits.check("link_refused_ip", ip or "unknown")
    except RateLimited:
        if not svc.gatekeeper.signed(token):
            raise
    try:
        cookie = await svc.gatekeeper.open_link(token, ip)
    except LinkRefused:
        await svc.ratelimits.count("link_refused_ip", ip or "unknown")
        raise
    response = RedirectResponse("/watch", status_code=303)
    response.set_cookie(
        svc.cookie_name,
        cookie,
        max_age=int(svc.gatekeeper.session_lifetime.total_seconds()),
        path="/",
        secure=svc.settings.event.secure,
        httponly=True,
        samesite="lax",
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


async def watch(request: Request) -> Response:
    svc = services(request)
    await svc.gatekeeper.viewer(request.cookies.get(svc.cookie_name))
    schedule, stopped = await svc.gatekeeper.schedule()
    at = svc.clock()
    t = translator(request)
    monitor = svc.captions
    configured = monitor.found.configured if monitor and monitor.found.present else None
    response = render(
        request,
        "watch.html",
        captions_src=f"/recording/{configured}" if configured else None,
        now_text=describe(status(schedule, at, stopped=stopped), schedule, at, t),
        programme=programme(schedule, t, lambda name: svc.settings.description(name, t.lang)),
        recording_until=when(schedule.recording_until, schedule, t),
        schedule_data=schedule_json(schedule, t),
        messages_json=player_messages(t),
        hls_js=HLS_JS.exists(),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def accessibility(request: Request) -> Response:
    """The accessibility statement, from `[accessibility]` and what the gateway knows."""
    svc = services(request)
    config = svc.settings.accessibility
    t = translator(request)
    organisation = config.organisation or t("a11y_org_default")
    schedule = svc.settings.schedule
    gaps = list(config.known_gaps)
    captions = ""
    if svc.captions is not None:
        state = svc.captions.status()
        if state.present:
            languages = ", ".join(track.label for track in svc.captions.found.tracks)
            captions = t("a11y_captions_present", languages=languages)
        else:
            key = "a11y_captions_overdue" if state.overdue else "a11y_captions_missing"
            gaps.append(t(key, when=when(state.due, schedule, t)))
    contact = config.contact
    href = f"mailto:{contact}" if "@" in contact and "/" not in contact else None
    if contact.startswith(("https://", "http://")):
        href = contact
    return render(
        request,
        "accessibility.html",
        organisation=organisation,
        site=svc.settings.event.public_url,
        gaps=gaps,
        captions=captions,
        days=svc.settings.captions.due_days,
        checked=moments.date(config.last_checked, t) if config.last_checked else None,
        contact=contact,
        contact_href=href,
    )


async def calendar_file(request: Request) -> Response:
    """`/calendar.ics`: the streamed parts not yet over, as the schedule stands now, with
    the viewer's personal link; a later download updates the same calendar entries."""
    svc = services(request)
    _, registrant = await svc.gatekeeper.viewer(request.cookies.get(svc.cookie_name))
    controls = svc.gatekeeper.controls
    schedule = (await controls.current()).schedule
    body = calendar(
        svc.settings,
        schedule,
        translator(request),
        svc.registry.link(registrant),
        svc.clock(),
        sequence=await controls.sequence(),
    )
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="webcast.ics"',
            "Cache-Control": "no-store",
        },
    )


async def favicon(request: Request) -> Response:
    """`/favicon.ico`, which browsers ask for on their own: the icon the pages name."""
    return RedirectResponse("/static/favicon.svg", status_code=301)


routes = [
    Route("/", landing),
    Route("/favicon.ico", favicon),
    Route("/accessibility", accessibility),
    Route("/w/{token:path}", open_link),  # a slash in a mangled link: still the link page
    Route("/watch", watch),
    Route("/calendar.ics", calendar_file),
]
