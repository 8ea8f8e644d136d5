"""Reminders before the first streamed part (`mail.reminders`) and the notice when the
recording opens (`mail.recording_notice`): mails a webinar platform would send.

Each is due at a moment: a reminder `d` before the first streamed part starts (until
it starts), the notice from the recording's opening (until it closes). When one is
due, every registrant not revoked who registered before that moment is claimed once
(`Store.mark_once`, atomic across replicas) and their mail queued: the queue sends
it, so a crash resumes with the rest and nobody gets one twice. A registrant who
registers after that moment gets no stale mail (the link mail says it all), and of
several reminders due at once only the latest is sent. Pure `due`; the edge is
`remind_forever`, `serve`'s background task.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from gateway.core.clock import Clock
from gateway.core.errors import StoreUnavailable
from gateway.core.schedule import Schedule
from gateway.mail.queue import Mailer, languages
from gateway.sessions.controls import ControlState
from gateway.settings.model import MailSettings

log = logging.getLogger(__name__)
INTERVAL = 5.0  # seconds between looks: a reminder goes out within this of its moment


@dataclass(frozen=True)
class Due:
    kind: str  # the mail job's kind: "reminder-60m", "recording"
    since: dt.datetime  # registrants registered before this moment get it


def reminder_kind(before: dt.timedelta) -> str:
    return f"reminder-{int(before.total_seconds() // 60)}m"


def due(schedule: Schedule, mail: MailSettings, now: dt.datetime) -> Due | None:
    """What is due at `now`: the latest reminder whose moment has come before the first
    streamed part starts, or the recording notice while the recording is open."""
    first = next((p for p in schedule.parts if p.streamed), None)
    if first is not None and now < first.start:
        come = [before for before in mail.reminders if first.start - before <= now]
        if come:
            latest = min(come)
            return Due(reminder_kind(latest), first.start - latest)
        return None
    if mail.recording_notice and schedule.recording_from <= now < schedule.recording_until:
        return Due("recording", schedule.recording_from)
    return None


async def send_due(mailer: Mailer, schedule: Schedule, now: dt.datetime) -> int:
    """Queue what is due at `now` for everyone it is owed to; how many were queued."""
    found = due(schedule, mailer.registry.settings.mail, now)
    if found is None:
        return 0
    store = mailer.store
    done_key = f"mail:{found.kind}:{found.since.isoformat()}"
    if await store.get_value(done_key):
        return 0  # a whole pass is done: nobody registered before `since` is left
    last_lang = languages(await store.mail_jobs())
    queued = 0
    for registrant in await store.registrants():
        if registrant.revoked or not registrant.email or registrant.created_at >= found.since:
            continue
        if not await store.mark_once(f"{done_key}:{registrant.id}"):
            continue  # claimed before (by this pass, an earlier one, or another replica)
        job = mailer.link_job(registrant, last_lang.get(registrant.id, "en"), kind=found.kind)
        queued += (await store.enqueue_mail(job))[1]
    await store.set_value(done_key, "1")
    if queued:
        log.info("queued %d %s mail(s)", queued, found.kind)
        mailer.wake.set()
    return queued


async def remind_forever(mailer: Mailer, controls: ControlState, clock: Clock) -> None:
    """`serve`'s background task: look every INTERVAL s, with the schedule in force."""
    while True:
        with contextlib.suppress(StoreUnavailable):
            schedule = (await controls.current()).schedule
            await send_due(mailer, schedule, clock())
        await asyncio.sleep(INTERVAL)
