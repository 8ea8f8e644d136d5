"""The console's day view: dashboard, schedule changes with their effect shown first, kill switch.

Auditors see everything here; only ops change anything, and only by POST with
a CSRF token. Every change goes through `ControlState`, which audits it with
the staff member's identity and the values before and after.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.audit.chart import Chart, viewers_chart
from gateway.audit.verify import last_verified
from gateway.core.schedule import Part, Schedule, status
from gateway.core.times import in_zone, parse_time
from gateway.sessions.controls import (
    NOT_PREVIEWED,
    Controls,
    ScheduleRefused,
    consequences,
    plan_change,
)
from gateway.stream.live import OriginHealth
from gateway.web.admin import glance, studio
from gateway.web.admin.auth import Staff, posted, staff, staff_reason
from gateway.web.admin.people import page
from gateway.web.services import Services, services

FLASH = {
    "stopped": "Live serving is stopped on every replica.",
    "resumed": "Live serving has resumed.",
    "already_stopped": "Live serving was already stopped: nothing changed.",
    "already_resumed": "Live is already being served: nothing changed.",
    "restopped": (
        "Not resumed: live serving was stopped again since that page was loaded. Who stopped "
        "it and why is below; resume again if you mean to lift this stop."
    ),
    "changed": "The schedule change is in force on every replica.",
}


def _flash(request: Request) -> str:
    """A fixed message for `?done=` after a change (never text from the address)."""
    return FLASH.get(request.query_params.get("done", ""), "")


async def dashboard(request: Request) -> Response:
    who = await staff(request, "auditor")
    svc = services(request)
    controls = await svc.gatekeeper.controls.current()
    now = svc.clock()
    minute = now.replace(second=0, microsecond=0)
    current = status(controls.schedule, now, stopped=controls.stopped)
    healthy, checked, health = svc.live.health
    origin = svc.live.origin_health(now) if controls.schedule.streaming_at(now) else None
    tz = controls.schedule.timezone
    captions = svc.captions
    if captions is not None:
        await captions.record_overdue(now)  # a deadline passed while running: audited once
    chart, day_peak = await _per_minute(svc, controls.schedule, minute)
    return page(
        request,
        who,
        "admin/dashboard.html",
        "dashboard",
        flash=_flash(request),
        now=in_zone(now, tz, seconds=True),
        now_status=current,
        controls=controls,
        next_change=glance.next_change(controls.schedule, now),
        timeline=glance.timeline(controls.schedule, now),
        chart=chart,
        day_peak=day_peak,
        viewers=await _viewers_now(svc),
        registrants=len(await svc.store.registrants()),
        pending=len(await svc.store.mail_jobs(state="pending")),
        failed=len(await svc.store.mail_jobs(state="failed")),
        troubles=_troubles(svc),
        **(await _stop(svc, tz) if controls.stopped else {"stopped_by": None, "stop_seen": ""}),
        verified=await _verified(svc, tz),
        origin_ok=healthy,
        origin=origin,
        origin_words=origin_words(origin),
        origin_note=health,
        origin_checked=in_zone(checked, tz, seconds=True) if checked else "never",
        encoder=await studio.encoder_words(svc, now),
        archived=await studio.archive_words(svc),
        captions=captions.status(now) if captions else None,
        captions_line=captions.line(now) if captions else "Captions: not checked.",
    )


MINUTE = dt.timedelta(minutes=1)
CHART = dt.timedelta(hours=2)  # the viewers chart's span
TROUBLE_MINUTES = 5


async def _viewers_now(svc: Services) -> int:
    """Registrants who watched in this minute or the one before: "viewers now"."""
    minute = svc.clock().replace(second=0, microsecond=0)
    return await svc.store.viewers([minute - MINUTE, minute])


async def _per_minute(svc: Services, schedule: Schedule, minute: dt.datetime) -> tuple[Chart, str]:
    """The chart of the last CHART and the most viewers in one minute since the first part
    started (within a day), from one read of the store covering both."""
    chart_from = minute - CHART + MINUTE
    first = schedule.parts[0].start.replace(second=0, microsecond=0)
    since = max(min(chart_from, first), minute - dt.timedelta(days=1) + 2 * MINUTE)
    counts = await svc.store.viewers_per_minute(since, minute + MINUTE)
    chart = viewers_chart({m: n for m, n in counts.items() if m >= chart_from}, schedule.timezone)
    if minute < first:
        return chart, "—"
    peak = max((n for m, n in counts.items() if m >= first), default=0)
    if not peak:
        return chart, "0"
    at = max(m for m, n in counts.items() if n == peak and m >= first)
    return chart, f"{peak} at {at.astimezone(schedule.timezone):%H:%M}"


def _troubles(svc: Services) -> list[str]:
    """Refusals by reason and origin failures in the last few minutes, on this replica."""
    counts = svc.metrics.recent.last(TROUBLE_MINUTES)
    said = [
        f"{count} {name.replace('_', ' ')}"
        for name, count in sorted(counts.items(), key=lambda item: -item[1])
        if not name.startswith("origin ")
    ]
    failures = sum(
        n for name, n in counts.items() if name.startswith("origin ") and "not_found" not in name
    )
    if failures:
        said.append(f"{failures} origin failure{'s' if failures != 1 else ''} (timeouts, errors)")
    return said


async def _stop_seen(svc: Services) -> str:
    """The stop a Resume button lifts (when it was made): one made since is not lifted."""
    return (await _stop(svc, dt.UTC))["stop_seen"]


async def _stop(svc: Services, tz: Any) -> dict[str, str]:
    """Who stopped live serving, when and why (`stopped_by`), and the stop a Resume lifts
    (`stop_seen`, as `_stop_seen`): one read of the store for both."""
    found = await svc.gatekeeper.controls.stopped_by()
    if found is None:
        return {"stopped_by": "Stopped by ops.", "stop_seen": ""}
    actor, at, reason = found
    words = f"Stopped by {actor} at {at.astimezone(tz):%H:%M}" + (f": {reason}" if reason else ".")
    return {"stopped_by": words, "stop_seen": at.isoformat()}


async def _verified(svc: Services, tz: Any) -> tuple[bool, str]:
    """(alarm, words): the last background verification of the audit log."""
    settings = svc.settings
    if not (settings.audit.checkpoint_dir and settings.secrets.audit_signing_key):
        return False, (
            "Not verified automatically: no checkpoint folder and signing key are configured; "
            "run gateway audit verify by hand."
        )
    found = await last_verified(svc.store)
    if found is None:
        return False, "Not verified yet: the first check runs when the server starts."
    at = in_zone(found.at, tz)
    if found.ok:
        return False, f"The audit log verified at {at}."
    return True, f"The audit log FAILED verification at {at}: {found.reason}"


def origin_words(health: OriginHealth | None) -> str:
    """The live origin in words for ops, while a streamed part runs."""
    if health is None:
        return "Not watched now: no streamed part is running."
    age = f"{_duration(health.age)}" if health.age is not None else "the whole part so far"
    return {
        "ok": f"Live video arriving (newest segment {age} old).",
        "stalled": f"No new video for {age} — check the encoder.",
        "ended": "The encoder ended the stream (ENDLIST) while the part runs — restart it.",
        "missing": "The live playlist cannot be read — check the encoder and the origin.",
    }[health.state]


def _duration(seconds: float) -> str:
    """`13 s`, `1 min 04 s`."""
    whole = int(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


async def stop_or_resume(request: Request) -> Response:
    """Resume at once; stop only once confirmed on a page that says what it does to whom
    (the viewers watching now), with an optional reason kept in the audit event."""
    who = await staff(request, "ops")
    svc = services(request)
    fields = await posted(request, svc, max_fields=50)
    stop = request.url.path.endswith("/stop")
    if stop and fields.get("confirmed") != "yes":
        viewers = await _viewers_now(svc)
        watching = (
            f"{viewers} viewer{'s' if viewers != 1 else ''} watched in the last minute: "
            "every one of them stops within a second or two."
            if viewers
            else "Nobody watched in the last minute."
        )
        return page(request, who, "admin/stop_confirm.html", "dashboard", watching=watching)
    if not stop and fields.get("stop_seen") not in (None, await _stop_seen(svc)):
        return RedirectResponse("/admin/?done=restopped", status_code=303)  # a stale page
    reason = staff_reason(fields)
    if not await svc.gatekeeper.controls.set_stopped(stop, actor=who.identity, reason=reason):
        done = "already_stopped" if stop else "already_resumed"  # nothing changed
    else:
        done = "stopped" if stop else "resumed"
    return RedirectResponse(f"/admin/?done={done}", status_code=303)


def _rows(parts: tuple[Part, ...], tz: Any) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "start": p.start.astimezone(tz).strftime("%Y-%m-%d %H:%M"),  # 24-hour, any locale
            "end": p.end.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            "streamed": p.streamed,
            "shown": f"{in_zone(p.start, tz)} – {p.end.astimezone(tz):%H:%M}",
        }
        for p in parts
    ]


def _schedule(
    request: Request, who: Staff, controls: Controls, status_code: int = 200, *, error: str = ""
) -> Response:
    """The schedule page: the parts in force, their forms for ops, and any refusal."""
    tz = controls.schedule.timezone
    return page(
        request,
        who,
        "admin/schedule.html",
        "schedule",
        status_code,
        flash=_flash(request),
        parts=_rows(controls.schedule.parts, tz),
        changed=controls.changed,
        error=error,
        recording=in_zone(controls.schedule.recording_from, tz),
    )


async def schedule_page(request: Request) -> Response:
    who = await staff(request, "auditor")
    return _schedule(request, who, await services(request).gatekeeper.controls.current())


async def schedule_preview(request: Request) -> Response:
    """Show what a change would do before it is made; nothing is stored here."""
    who = await staff(request, "ops")
    svc = services(request)
    fields = await posted(request, svc, max_fields=50)
    controls = await svc.gatekeeper.controls.current()
    tz = controls.schedule.timezone
    name = fields.get("part", "")
    config = svc.gatekeeper.controls.config
    try:
        start = parse_time(fields.get("start", "").replace("T", " "), tz)
        end = parse_time(fields.get("end", "").replace("T", " "), tz)
        streamed = fields.get("streamed") == "yes"
        # A part extended into the next one: offer to move the next one's start too.
        asked = Part(name, start, end, streamed)
        new, moved = plan_change(config, controls.schedule, asked, move_next=True)
    except (ValueError, ScheduleRefused) as exc:
        return _schedule(request, who, controls, 400, error=str(exc))
    offer = None
    if moved is not None:
        runs_into = next(p for p in controls.schedule.parts if p.name == moved.name)
        offer = (
            f"{name} would run into {moved.name}, which starts at "
            f"{runs_into.start.astimezone(tz):%H:%M}. Confirming also moves {moved.name}'s "
            f"start to {moved.start.astimezone(tz):%H:%M} (its end stays "
            f"{moved.end.astimezone(tz):%H:%M}): one change, both parts audited."
        )
    return page(
        request,
        who,
        "admin/schedule_confirm.html",
        "schedule",
        part=name,
        start=fields["start"],
        end=fields["end"],
        streamed=streamed,
        offer=offer,
        effects=[*consequences(controls.schedule, new, svc.clock()), await _watching(svc)],
        shown=f"{in_zone(start, tz)} – {end.astimezone(tz):%H:%M}",
        seen=_seal(svc, await svc.gatekeeper.controls.version(), fields, moved is not None),
    )


def _shown(version: str, fields: Mapping[str, str], move_next: bool) -> bytes:
    """The change a preview shows, over the schedule's version, as its confirmation posts it."""
    parts = (version, fields.get("part", ""), fields.get("start", ""), fields.get("end", ""))
    flags = ("yes" if fields.get("streamed") == "yes" else "", "yes" if move_next else "")
    return "\x1f".join((*parts, *flags)).encode()


def _seal(svc: Services, version: str, fields: Mapping[str, str], move_next: bool) -> str:
    """A preview's `seen`: the version it was made over, and a signature of the change it
    shows, so that its confirmation applies that change or none (not fields altered)."""
    signature = svc.csrf_signer.get_signature(_shown(version, fields, move_next))
    return f"{version}.{signature.decode('ascii')}"


def _unsealed(svc: Services, fields: Mapping[str, str]) -> str | None:
    """The version a confirmation's `seen` names, if its change is the one previewed."""
    version, _, signature = fields.get("seen", "").partition(".")
    shown = _shown(version, fields, fields.get("move_next") == "yes")
    return version if svc.csrf_signer.verify_signature(shown, signature.encode()) else None


async def _watching(svc: Services) -> str:
    viewers = await _viewers_now(svc)
    return f"{viewers} viewer{'s' if viewers != 1 else ''} watched in the last minute."


async def schedule_apply(request: Request) -> Response:
    who = await staff(request, "ops")
    svc = services(request)
    fields = await posted(request, svc, max_fields=50)
    controls = svc.gatekeeper.controls
    tz = (await controls.current()).schedule.timezone
    seen = _unsealed(svc, fields)
    if seen is None:
        return _schedule(request, who, await controls.current(), 400, error=NOT_PREVIEWED)
    try:
        await controls.change_part(
            fields.get("part", ""),
            start=parse_time(fields.get("start", "").replace("T", " "), tz),
            end=parse_time(fields.get("end", "").replace("T", " "), tz),
            streamed=fields.get("streamed") == "yes",
            actor=who.identity,
            expected=seen,  # the schedule as previewed, or refused naming who changed it
            move_next=fields.get("move_next") == "yes",
        )
    except (ValueError, ScheduleRefused) as exc:
        return _schedule(request, who, await controls.current(), 400, error=str(exc))
    return RedirectResponse("/admin/schedule?done=changed", status_code=303)


async def to_console(request: Request) -> Response:
    """`/admin` as typed: on to the console, by a relative redirect (never from Host)."""
    return RedirectResponse("/admin/", status_code=308)


routes = [
    Route("/admin", to_console, methods=["GET"]),
    Route("/admin/", dashboard),
    Route("/admin/live/stop", stop_or_resume, methods=["POST"]),
    Route("/admin/live/resume", stop_or_resume, methods=["POST"]),
    Route("/admin/schedule", schedule_page),
    Route("/admin/schedule/preview", schedule_preview, methods=["POST"]),
    Route("/admin/schedule/apply", schedule_apply, methods=["POST"]),
]
