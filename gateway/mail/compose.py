"""The personal link mail: composing it, and handing it to an SMTP server or an outbox folder.

`compose` builds the message with `email.message.EmailMessage`; a name holding `=?`
stays out of `To:`, and both transports send only bytes whose header block holds
exactly the headers set (`_serialised`), whatever the interpreter's email package
does with a value. The mail: a text and an HTML part in the registrant's
language (messages in `gateway/i18n/messages/<lang>/mail.toml`) and an `.ics` with the
streamed parts. A `Transport` sends one message, blocking (callers run it in a
thread): `SmtpTransport` opens a connection per message, never sends a password
in clear and counts a message as sent only when the server accepted it;
`OutboxTransport` writes `.eml` files. Failures are `TemporaryMailError` (try
again later) or `PermanentMailError` (it will not work as it is).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import os
import smtplib
import ssl
import tempfile
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import icalendar
import idna

from gateway.core.errors import GatewayError
from gateway.core.records import Registrant
from gateway.core.schedule import Part, Schedule
from gateway.i18n import moments
from gateway.i18n.translator import Translator
from gateway.settings import Settings

ICS_NAME = "webcast.ics"


@dataclass
class MailError(GatewayError):
    """A mail was not sent. `reason` is for people (it may quote the server); `code` is
    the SMTP reply code, None when no server answered (unreachable, config, disk)."""

    reason: str
    code: int | None = None

    def __str__(self) -> str:
        return self.reason


class TemporaryMailError(MailError):
    """Try again later: a 4xx reply, or the server could not be reached or hung up."""


class PermanentMailError(MailError):
    """Retrying will not help: a 5xx reply, a refused recipient, or a configuration problem."""


def _one_line(text: str) -> str:
    """`text` with every control character (CR, LF, tab...) and run of spaces made one space."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _display_name(name: str) -> str:
    """The name for `To:`, or "" (the address alone) when it holds `=?`: an RFC 2047
    encoded word would be decoded, and on interpreters without the CVE-2024-6923 fix
    written back as raw line breaks. The body still greets the person by name."""
    name = _one_line(name)
    return "" if "=?" in name else name


def _utc_time(moment: dt.datetime, day: dt.date | None = None) -> str:
    """UTC HH:MM (with seconds if any), the date first unless it is `day`."""
    utc = moment.astimezone(dt.UTC)
    clock = "%H:%M:%S" if utc.second else "%H:%M"
    return utc.strftime(clock if utc.date() == day else "%Y-%m-%d " + clock)


def _part_line(t: Translator, part: Part, tz: ZoneInfo) -> str:
    """`Part I: 18 November 2021, 10:00 to 12:45 (08:00 to 10:45 UTC)`; the heading above
    the lines names the zone."""
    start = part.start.astimezone(tz)
    utc_day = part.start.astimezone(dt.UTC).date()
    line = t(
        "mail_part",
        part=_one_line(part.name),
        start=moments.clock(start, tz, t),
        end=moments.end(part.start, part.end, tz, t),
        utc_start=_utc_time(part.start, start.date()),
        utc_end=_utc_time(part.end, utc_day),
    )
    return f"{line} — {t('mail_streamed' if part.streamed else 'mail_not_streamed')}"


def compose(
    settings: Settings,
    registrant: Registrant,
    link: str,
    lang: str,
    *,
    now: dt.datetime,
    kind: str = "link",
    schedule: Schedule | None = None,
    sequence: int = 0,
) -> EmailMessage:
    """The personal link mail to `registrant` in `lang` (en, fi or sv; others: en): the
    link as registered (`kind` "link"), a reminder before the first streamed part
    ("reminder-…") or the notice that the recording is open ("recording"); each carries
    the link, the programme and the recording's deadline.

    `link` must be an http(s) URL; `now` (aware) dates the message and the calendar.
    `schedule` is the day as it stands (ops' changes; the config's when None) and
    `sequence` its number of changes, for the calendar's entries.
    Raises PermanentMailError when the registrant's address or the sender cannot be
    written as an address (the mail can never be sent as it is).
    """
    if urlsplit(link).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) link: {link!r}")
    t = Translator(lang)
    title = _one_line(settings.event.title)
    host = urlsplit(settings.event.public_url).hostname or "localhost"
    schedule = schedule or settings.schedule
    tz = schedule.timezone
    message = EmailMessage(policy=SMTP)
    try:  # the address parser raises a zoo of errors on bad input
        message["From"] = settings.mail.sender
        message["To"] = Address(
            _display_name(registrant.name), addr_spec=_ascii_domain(registrant.email)
        )
    except (ValueError, LookupError, AttributeError, MessageError) as exc:
        raise PermanentMailError(f"cannot address the mail: {exc}") from None
    _envelope(message)
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = make_msgid(domain=host)
    message["Auto-Submitted"] = "auto-generated"
    until = schedule.recording_until
    parts = [  # "… — streamed live. Opening talks": the description a sentence of its own
        ". ".join(x for x in (_part_line(t, p, tz), settings.description(p.name, t.lang)) if x)
        for p in schedule.parts
    ]
    first = next((p for p in schedule.parts if p.streamed), schedule.parts[0])
    starts, closes = moments.moment(first.start, tz, t), moments.moment(until, tz, t)
    subject, intro = {
        "reminder": (
            t("mail_reminder_subject", title=title, when=starts),
            t("mail_reminder_intro", title=title, when=starts, part=first.name),
        ),
        "recording": (
            t("mail_recording_subject", title=title),
            t("mail_recording_intro", title=title, when=closes),
        ),
    }.get(kind.split("-")[0], (t("mail_subject", title=title), t("mail_intro", title=title)))
    texts = {
        "subject": subject,
        "greeting": t("mail_greeting", name=_one_line(registrant.name)),
        "intro": intro,
        "personal": t("mail_personal", devices=settings.sessions.max_devices),
        "programme": t("mail_programme", zone=moments.zone(first.start, tz, t)),
        "recording": t("mail_recording", when=closes, utc=_utc_time(until)),
    }
    message["Subject"] = texts["subject"]
    ahead = bool(upcoming(schedule, now))  # a calendar to attach
    footer = [t("mail_calendar")] if ahead else []
    footer.append(t("mail_lost", url=f"{settings.event.public_url}/link"))
    if (contact := settings.event.contact) is not None:
        who = ", ".join(x for x in (contact.name, contact.email, contact.phone) if x)
        footer.append(t("mail_contact", who=who))
    footer += [t("mail_ignore"), t("mail_automatic")]
    programme = "\n".join([texts["programme"], *(f"- {p}" for p in parts)])
    paragraphs = [texts["greeting"], texts["intro"], f"{t('mail_link_label')}\n{link}"]
    paragraphs += [texts["personal"], programme, texts["recording"], *footer]
    message.set_content("\n\n".join(paragraphs) + "\n")
    message.add_alternative(_html(t, link, texts, parts, footer), subtype="html")
    if ahead:  # after the last part: no calendar (an empty one is not valid iCalendar)
        message.add_attachment(
            calendar(settings, schedule, t, link, now, sequence=sequence),
            subtype="calendar",
            filename=ICS_NAME,
            cte="base64",
            params={"method": "PUBLISH"},
        )
    return message


def _html(
    t: Translator, link: str, texts: dict[str, str], parts: list[str], footer: list[str]
) -> str:
    """The HTML part: every text escaped, inline styles only, no images, no scripts."""
    e = html.escape
    href = e(link, quote=True)
    button = (
        "display:inline-block;padding:12px 24px;background:#0b4f8a;color:#ffffff;"
        "font-weight:bold;text-decoration:none;border-radius:4px"
    )
    items = "".join(f"<li>{e(p)}</li>" for p in parts)
    small = "".join(f'<p style="color:#555555;font-size:14px">{e(f)}</p>' for f in footer)
    return (
        f'<!DOCTYPE html>\n<html lang="{e(t.lang)}"><head><meta charset="utf-8">'
        f"<title>{e(texts['subject'])}</title></head>\n"
        '<body style="font-family:Arial,sans-serif;line-height:1.5;color:#1a1a1a;max-width:40em">\n'
        f"<p>{e(texts['greeting'])}</p>\n<p>{e(texts['intro'])}</p>\n"
        f'<p style="margin:28px 0"><a href="{href}" style="{button}">'
        f"{e(t('mail_button'))}</a></p>\n"
        f"<p>{e(t('mail_link_fallback'))}<br>"
        f'<a href="{href}" style="word-break:break-all">{e(link)}</a></p>\n'
        f"<p><strong>{e(texts['personal'])}</strong></p>\n"
        f"<p>{e(texts['programme'])}</p>\n<ul>{items}</ul>\n"
        f"<p>{e(texts['recording'])}</p>\n{small}\n</body></html>\n"
    )


ALARM_BEFORE = dt.timedelta(minutes=15)  # the calendar's reminder before each streamed part


def upcoming(schedule: Schedule, now: dt.datetime) -> list[Part]:
    """The streamed parts not yet over at `now`: what a calendar lists (none: no calendar)."""
    return [part for part in schedule.parts if part.streamed and part.end > now]


def calendar(
    settings: Settings,
    schedule: Schedule,
    t: Translator,
    link: str,
    now: dt.datetime,
    *,
    sequence: int = 0,
) -> str:
    """An iCalendar (METHOD:PUBLISH) with one VEVENT per streamed part not yet over, times
    in UTC, the personal link as URL and LOCATION, and an alarm 15 minutes before.

    UIDs depend only on the event's public URL and the part's name, and `sequence` (the
    number of schedule changes) rises with each change, so a later download or mail
    updates the same calendar entries instead of adding new ones.
    """
    host = urlsplit(settings.event.public_url).hostname or "localhost"
    title = _one_line(settings.event.title)
    ics = icalendar.Calendar()
    ics.add("prodid", "-//stream-gateway//webcast//EN")
    ics.add("version", "2.0")
    ics.add("method", "PUBLISH")
    for part in upcoming(schedule, now):
        digest = hashlib.sha256(f"{settings.event.public_url}\n{part.name}".encode()).hexdigest()
        event = icalendar.Event()
        event.add("uid", f"{digest[:32]}@{host}")
        event.add("sequence", sequence)
        event.add("dtstamp", now.astimezone(dt.UTC))
        event.add("dtstart", part.start.astimezone(dt.UTC))
        event.add("dtend", part.end.astimezone(dt.UTC))
        event.add("summary", f"{title} — {_one_line(part.name)}")
        event.add("url", link)
        event.add("location", link)
        event.add("description", t("mail_ics_description", link=link))
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -ALARM_BEFORE)
        alarm.add("description", f"{title} — {_one_line(part.name)}")
        event.add_component(alarm)
        ics.add_component(event)
    ical: bytes = ics.to_ical()
    return ical.decode("utf-8")


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver `message` to its one To address, blocking; raise a MailError if not accepted."""


def _ascii_domain(address: str) -> str:
    """The address with its domain as DNS and a header carry it (IDNA: `exämple.org` is
    `xn--exmple-cua.org`): written as it was, an encoded word went inside the address
    (`eve@=?utf-8?q?ex=C3=A4mple?=.org`), which is no address. A local part that is not
    ASCII stays (and is refused as the address is written)."""
    address = address.strip()
    local, _, domain = address.rpartition("@")
    try:
        return f"{local}@{idna.encode(domain).decode('ascii')}" if local else address
    except idna.IDNAError:
        return address


OTHER_RECIPIENTS = ("Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc")


def _envelope(message: EmailMessage) -> tuple[str, str]:
    """(sender, recipient) from the one From and the one To address; no other recipient."""
    try:
        (sender,) = message["From"].addresses
        (recipient,) = message["To"].addresses
        if any(message[name] is not None for name in OTHER_RECIPIENTS):
            raise ValueError("more recipients")
    except (AttributeError, ValueError):
        raise PermanentMailError("the message needs exactly one From and one To address") from None
    return sender.addr_spec, recipient.addr_spec


def _serialised(message: EmailMessage) -> bytes:
    """The bytes to send, once checked: the header block holds exactly the headers set on
    `message`, in order, each value on its own (folded) lines. Whatever the interpreter's
    email package does with a value (CVE-2024-6923 wrote decoded line breaks), a message
    whose headers would carry a line break inside a value is never sent."""
    try:
        data = message.as_bytes(policy=SMTP)
    except (MessageError, ValueError, UnicodeError) as exc:  # HeaderWriteError where fixed
        raise PermanentMailError(f"refused to send: a header cannot be written ({exc})") from None
    lines = data.partition(b"\r\n\r\n")[0].split(b"\r\n")
    names = [
        line.partition(b":")[0].decode("ascii", "replace")
        for line in lines
        if line[:1] not in (b" ", b"\t")
    ]
    if names != list(message.keys()) or any(b"\r" in line or b"\n" in line for line in lines):
        raise PermanentMailError("refused to send: a header value would hold a line break")
    return data


def _by_code(code: int, reply: bytes | str, what: str) -> MailError:
    """5xx: permanent; anything else (4xx, or no valid code): temporary."""
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    kind = PermanentMailError if 500 <= code < 600 else TemporaryMailError
    return kind(f"{what}: {code} {text}".strip(), code)


class SmtpTransport:
    """SMTP per `smtp://[user@]host[:25]` (STARTTLS when offered) or `smtps://...[:465]`.

    A password (needed with a user) is only ever sent over TLS: on smtp:// whose
    server offers no STARTTLS that is a PermanentMailError. Certificates are
    verified (`context`, default: the system's trust store). Raises
    PermanentMailError at once for an unusable URL.
    """

    def __init__(
        self,
        url: str,
        password: str | None,
        *,
        timeout: float = 10.0,
        context: ssl.SSLContext | None = None,
    ) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise PermanentMailError(f"mail.smtp_url: {exc}") from None
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise PermanentMailError("mail.smtp_url: use smtp://host:port or smtps://host:port")
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = port or (465 if self.implicit_tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        if (self.user is None) != (not password):
            raise PermanentMailError("mail.smtp_url: a user needs a password and a password a user")
        self.password = password or None
        self.timeout = timeout
        self.context = context or ssl.create_default_context()

    def send(self, message: EmailMessage) -> None:
        """Send over a new connection, closed afterwards whatever happens.

        Returns only when the server accepted the message for its recipient.
        """
        sender, recipient = _envelope(message)
        data = _serialised(message)
        where = f"{self.host}:{self.port}"
        smtp: smtplib.SMTP | None = None
        try:  # connecting in the constructor: it closes the socket itself when that fails
            smtp = (
                smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
                if self.implicit_tls
                else smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            )
            smtp.ehlo_or_helo_if_needed()
            if not self.implicit_tls and smtp.has_extn("starttls"):
                smtp.starttls(context=self.context)
                smtp.ehlo()
            elif not self.implicit_tls and self.password:
                raise PermanentMailError(f"{where} offers no STARTTLS: the password is not sent")
            if self.user and self.password:
                smtp.login(self.user, self.password)
            refused = smtp.sendmail(sender, [recipient], data)
            if refused:  # one recipient: smtplib raises instead, but never count this as sent
                raise _by_code(*next(iter(refused.values())), "recipient refused")
        except smtplib.SMTPRecipientsRefused as exc:
            reply = exc.recipients.get(recipient) or next(iter(exc.recipients.values()))
            raise _by_code(*reply, "recipient refused") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, exc.smtp_error, f"{where} refused") from None
        except smtplib.SMTPServerDisconnected as exc:
            raise TemporaryMailError(f"{where} disconnected: {exc}") from None
        except smtplib.SMTPException as exc:  # no common AUTH mechanism, no SMTPUTF8...
            raise PermanentMailError(f"{where}: {exc}") from None
        except OSError as exc:  # refused, reset, timed out, TLS failures, other smtplib errors
            raise TemporaryMailError(f"cannot reach {where}: {exc}") from None
        finally:
            if smtp is not None:
                _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely if still connected, then close the socket; never raises."""
    try:
        if smtp.sock is not None:
            smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


class OutboxTransport:
    """Writes each message to `folder` as `<random>.eml`, atomically (no half-written files)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        """Write the message, creating the folder if missing; TemporaryMailError on I/O errors."""
        _envelope(message)
        data = _serialised(message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temp, self.folder / f"{uuid.uuid4().hex}.eml")
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise TemporaryMailError(f"cannot write to the outbox {self.folder}: {exc}") from None

    def erase(self, addresses: Collection[str]) -> int:
        """Delete every message to one of `addresses` (compared case-insensitively): what
        a purge of those people leaves of them here. How many files were deleted."""
        wanted = {a.strip().lower() for a in addresses if a.strip()}
        erased = 0
        for path in self.folder.glob("*.eml") if wanted and self.folder.is_dir() else ():
            with path.open("rb") as file:
                head = BytesHeaderParser(policy=SMTP).parse(file)
            to = {a.lower() for _, a in getaddresses([str(v) for v in head.get_all("To", [])])}
            if to & wanted:
                path.unlink(missing_ok=True)
                erased += 1
        return erased


def transport_for(settings: Settings) -> Transport:
    """SMTP when `mail.smtp_url` is set (password: GATEWAY_SMTP_PASSWORD), else the outbox."""
    if settings.mail.smtp_url:
        secret = settings.secrets.smtp_password
        return SmtpTransport(settings.mail.smtp_url, secret.reveal() if secret else None)
    return OutboxTransport(settings.mail.outbox)
