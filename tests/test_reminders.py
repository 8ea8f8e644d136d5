"""Reminders before the first streamed part and the recording notice (issue 17): due at
their moment, once per registrant registered before it, through the mail queue."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest

from gateway.audit.log import AuditLog
from gateway.core.clock import FrozenClock
from gateway.mail.compose import OutboxTransport
from gateway.mail.queue import Mailer
from gateway.mail.registrants import Registry
from gateway.mail.reminders import Due, due, send_due
from gateway.sessions.controls import ControlState
from gateway.settings import Settings
from gateway.settings.model import MailSettings
from gateway.store.sqlite import SqliteStore
from tests.conftest import helsinki
from tests.core.test_schedule import SEMINAR

pytestmark = pytest.mark.anyio

DAY, HOUR, MINUTE = dt.timedelta(days=1), dt.timedelta(hours=1), dt.timedelta(minutes=1)
MAIL = MailSettings()  # ["1d", "1h"], the recording notice on


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2021-11-17T09:59", None),
        ("2021-11-17T10:00", Due("reminder-1440m", helsinki("2021-11-17T10:00"))),
        ("2021-11-18T09:00", Due("reminder-60m", helsinki("2021-11-18T09:00"))),  # the latest
        ("2021-11-18T09:59", Due("reminder-60m", helsinki("2021-11-18T09:00"))),
        ("2021-11-18T10:00", None),  # Part I has started: no reminder any more
        ("2021-11-18T18:20", Due("recording", helsinki("2021-11-18T18:20"))),
        ("2021-12-19T00:00", None),
    ],
)
def test_what_is_due_when(at: str, expected: Due | None) -> None:
    assert due(SEMINAR, MAIL, helsinki(at)) == expected


def test_nothing_is_due_when_switched_off() -> None:
    quiet = MailSettings(reminders=(), recording_notice=False)
    assert due(SEMINAR, quiet, helsinki("2021-11-18T09:30")) is None
    assert due(SEMINAR, quiet, helsinki("2021-11-19T09:30")) is None


def test_reminders_are_read_from_the_config(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(extra='[mail]\nreminders = ["2m", "1d", "2m"]\n')
    assert settings.mail.reminders == (DAY, 2 * MINUTE)
    assert make_settings().mail.reminders == (DAY, HOUR) and make_settings().mail.recording_notice


def test_a_bad_duration_is_a_config_error(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(Exception, match=r"mail.reminders: '1w'"):
        make_settings(extra='[mail]\nreminders = ["1w"]\n')


async def test_each_registrant_registered_before_gets_one_reminder_once(
    settings: Settings, tmp_path: Path
) -> None:
    clock = FrozenClock(helsinki("2021-11-10T12:00"))
    store = SqliteStore(str(tmp_path / "gateway.db"))
    settings = dataclasses.replace(
        settings, mail=dataclasses.replace(settings.mail, reminders=(2 * MINUTE,))
    )
    try:
        audit = AuditLog(store, clock)
        registry = Registry(settings, store, audit)
        outbox = tmp_path / "outbox"
        mailer = Mailer(store, audit, registry, OutboxTransport(outbox), clock)
        for n in range(3):
            await registry.add(
                email=f"p{n}@example.org", name=f"P{n}", organisation="", now=clock(), actor="t"
            )
        await registry.revoke("p2@example.org", actor="t")
        clock.now = helsinki("2021-11-18T09:58:30")
        late, _ = await registry.add(  # after the reminder's moment: no stale reminder
            email="late@example.org", name="Late", organisation="", now=clock(), actor="t"
        )
        assert await send_due(mailer, SEMINAR, clock()) == 2
        assert await send_due(mailer, SEMINAR, clock()) == 0  # a second look: nothing more
        while await mailer.send_next() is not None:
            pass
        mails = [message_from_bytes(p.read_bytes(), policy=default) for p in outbox.glob("*.eml")]
        assert sorted(str(m["To"]) for m in mails) == ["P0 <p0@example.org>", "P1 <p1@example.org>"]
        assert all(str(m["Subject"]).startswith("Reminder: ") for m in mails)
        text = mails[0].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert "/w/" in text and "not streamed (on site only)" in text  # the Part II notice
        assert "starts with Part I on 18 November 2021, 10:00 Helsinki time (EET, UTC+2)" in text
        sent = [e for e in await store.audit_events() if e.type == "link.sent"]
        assert {e.detail["kind"] for e in sent} == {"reminder-2m"}
        assert late.id not in {e.registrant for e in sent}
    finally:
        await store.close()


async def test_a_mail_sent_after_ops_moved_a_part_gives_the_new_times(
    settings: Settings, tmp_path: Path
) -> None:
    """Ops moved Part I to 10:30 after the links went out: a reminder sent now says 10:30,
    and its calendar updates the same entries (SEQUENCE 1), not the config's 10:00."""
    clock = FrozenClock(helsinki("2021-11-18T08:00"))
    store = SqliteStore(str(tmp_path / "gateway.db"))
    try:
        audit = AuditLog(store, clock)
        registry = Registry(settings, store, audit)
        controls = ControlState(settings.schedule, store, audit, clock)
        outbox = tmp_path / "outbox"
        mailer = Mailer(store, audit, registry, OutboxTransport(outbox), clock, day=controls.day)
        await registry.add(email="p@example.org", name="P", organisation="", now=clock(), actor="t")
        await controls.change_part(
            "Part I",
            start=helsinki("2021-11-18T10:30"),
            end=helsinki("2021-11-18T12:45"),
            streamed=True,
            actor="ops",
        )
        clock.now = helsinki("2021-11-18T09:35")
        schedule, _ = await controls.day()
        assert await send_due(mailer, schedule, clock()) == 1
        while await mailer.send_next() is not None:
            pass
        (mail,) = [message_from_bytes(p.read_bytes(), policy=default) for p in outbox.glob("*.eml")]
        text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert "Part I: 18 November 2021, 10:30 to 12:45 (08:30 to 10:45 UTC)" in text
        assert "10:00" not in text
        (ics,) = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
        calendar = ics.get_content()
        assert "DTSTART:20211118T083000Z" in calendar and "SEQUENCE:1" in calendar
    finally:
        await store.close()
