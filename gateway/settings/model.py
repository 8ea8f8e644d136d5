"""The settings' types: frozen, typed, secrets masked in their `repr`."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.core.schedule import Schedule


class Secret:
    """A string whose repr and str never show it."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class Secrets:
    secret_keys: tuple[Secret, ...] = ()
    smtp_password: Secret | None = None
    oidc_client_secret: Secret | None = None
    audit_signing_key: Secret | None = None
    ingest_keys: tuple[Secret, ...] = ()  # stream keys an encoder may publish with

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Secrets:
        def opt(name: str) -> Secret | None:
            return Secret(env[name]) if env.get(name) else None

        def listed(name: str) -> tuple[Secret, ...]:
            return tuple(Secret(k.strip()) for k in env.get(name, "").split(",") if k.strip())

        return cls(
            secret_keys=listed("GATEWAY_SECRET_KEYS"),
            smtp_password=opt("GATEWAY_SMTP_PASSWORD"),
            oidc_client_secret=opt("GATEWAY_OIDC_CLIENT_SECRET"),
            audit_signing_key=opt("GATEWAY_AUDIT_SIGNING_KEY"),
            ingest_keys=listed("GATEWAY_INGEST_KEYS"),
        )


@dataclass(frozen=True)
class Contact:
    """Whom participants can ask (`event.contact`): shown on every error page, the landing
    page and in the mail."""

    email: str
    name: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Event:
    title: str
    timezone: ZoneInfo
    public_url: str
    contact: Contact | None = None

    @property
    def secure(self) -> bool:
        return self.public_url.startswith("https://")


@dataclass(frozen=True)
class OriginSettings:
    live: str  # file:///abs/folder or http(s)://host/path/
    recording: str
    end_grace_seconds: int = 60
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class ArchiveSettings:
    """`recording.archive`: live segments of the streamed parts copied into `folder` as they
    first pass, and the recording written from them when the last streamed part ends."""

    enabled: bool = False
    folder: Path = Path("var/archive")


@dataclass(frozen=True)
class IngestSettings:
    """`[ingest]`: where an encoder may publish from (none given: anywhere, with a key)."""

    allowed_from: tuple[IPv4Network | IPv6Network, ...] = ()


@dataclass(frozen=True)
class SessionSettings:
    max_devices: int = 3
    sharing_threshold: int = 5
    lifetime_hours: int = 12


@dataclass(frozen=True)
class MailSettings:
    sender: str = "Webcast <webcast@localhost>"
    smtp_url: str | None = None
    outbox: Path = Path("var/outbox")
    # Before the first streamed part: one reminder each, longest first (`mail.reminders`).
    reminders: tuple[dt.timedelta, ...] = (dt.timedelta(days=1), dt.timedelta(hours=1))
    recording_notice: bool = True  # one mail to everyone when the recording opens


@dataclass(frozen=True)
class AuditSettings:
    checkpoint_dir: Path | None = None
    verify_key: str | None = None
    spool_file: Path = Path("var/audit-spool.jsonl")
    checkpoint_minutes: int = 60


@dataclass(frozen=True)
class AdminSettings:
    oidc_discovery_url: str | None = None
    client_id: str | None = None
    ops: tuple[str, ...] = ()
    auditors: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaptionSettings:
    """Captions on the recording: a WebVTT file at the recording origin, and their deadline."""

    path: str | None = None  # origin-relative .vtt; None: look for a subtitles rendition
    due_days: int = 14  # counted from recording.available_from


@dataclass(frozen=True)
class AccessibilitySettings:
    """What the accessibility statement (`/accessibility`) says."""

    organisation: str = ""
    contact: str = ""
    last_checked: dt.date | None = None
    known_gaps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    source: Path
    event: Event
    schedule: Schedule
    registration_closes: dt.datetime
    origin: OriginSettings
    store_url: str
    sessions: SessionSettings
    mail: MailSettings = field(default_factory=MailSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    admin: AdminSettings = field(default_factory=AdminSettings)
    secrets: Secrets = field(default_factory=Secrets)
    captions: CaptionSettings = field(default_factory=CaptionSettings)
    accessibility: AccessibilitySettings = field(default_factory=AccessibilitySettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    # `[[parts]] description` by part name, then language ("" for every language); kept
    # apart from `Part`, which ops' schedule changes rebuild from times alone.
    descriptions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def description(self, part: str, lang: str) -> str:
        """The part's description in `lang`, else the one for every language, else ""."""
        found = self.descriptions.get(part, {})
        return found.get(lang) or found.get("") or found.get("en", "")

    @functools.cached_property  # read by every access decision, twice
    def end_grace(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.origin.end_grace_seconds)
