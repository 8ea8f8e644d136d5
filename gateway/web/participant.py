"""Pages for people: the landing page, opening a personal link, the player page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.schedule import Status, status
from gateway.web.pages import render, rows, when
from gateway.web.services import Services, client_ip, services


def describe(now_status: Status, svc: Services) -> str:
    """One sentence on what is on now, for people."""
    schedule = svc.settings.schedule
    nxt = f" Next: {when(now_status.next_change, schedule)}." if now_status.next_change else ""
    match now_status.phase:
        case "live":
            return f"Live now: {now_status.part}."
        case "blocked":
            upcoming = schedule.next_streamed(svc.clock())
            after = (
                f" {upcoming.name} starts at {when(upcoming.start, schedule)}." if upcoming else ""
            )
            return f"{now_status.part} is not streamed (on site only).{after}"
        case "before":
            return f"The webcast has not started yet.{nxt}"
        case "between":
            return f"Nothing is streamed right now.{nxt}"
        case "recording":
            return "The live programme has ended. The recording is available."
        case "stopped":
            return "The organisers have paused the stream."
        case _:
            return "The event and its recording have ended."


async def landing(request: Request) -> Response:
    svc = services(request)
    schedule, stopped = await svc.gatekeeper.schedule()
    now_status = status(schedule, svc.clock(), stopped=stopped)
    return render(
        request,
        "landing.html",
        now_text=describe(now_status, svc),
        rows=rows(schedule),
        recording_until=when(schedule.recording_until, schedule),
    )


async def open_link(request: Request) -> Response:
    """A personal link: start a session, then send the browser on without the token."""
    svc = services(request)
    token = request.path_params["token"]
    cookie = await svc.gatekeeper.open_link(token, client_ip(request))
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
    now_status = status(schedule, svc.clock(), stopped=stopped)
    source = (
        "/live/index.m3u8"
        if now_status.live
        else ("/recording/index.m3u8" if now_status.phase == "recording" else None)
    )
    response = render(
        request,
        "watch.html",
        now_text=describe(now_status, svc),
        rows=rows(schedule),
        source=source,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


routes = [
    Route("/", landing),
    Route("/w/{token}", open_link),
    Route("/watch", watch),
]
