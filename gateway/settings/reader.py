"""Reading the TOML: every problem collected and reported at once (`ConfigError`),
each naming the file, the key and the reason; unknown keys refused."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from gateway.audit import checkpoints
from gateway.core.errors import BadPath, ConfigError
from gateway.core.paths import safe_path
from gateway.core.schedule import Part, Schedule, part_problems
from gateway.core.sentinel import sentinel_url
from gateway.settings.model import (
    AccessibilitySettings,
    AdminSettings,
    ArchiveSettings,
    AuditSettings,
    CaptionSettings,
    Contact,
    Event,
    IngestSettings,
    MailSettings,
    OriginSettings,
    Secrets,
    SessionSettings,
    Settings,
)
from gateway.settings.values import KEYS, Values
from gateway.store import sqlite_path


def load_settings(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the config at `path`; secrets and the store override from `env`.

    Raises ConfigError listing every problem (unknown keys, missing or invalid
    values, windows that end before they start or overlap).
    """
    env = os.environ if env is None else env
    source = Path(path)
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(source), [f"cannot read the file ({exc.strerror})"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(source), [f"not valid TOML ({exc})"]) from None
    reader = _Reader(source, data)
    settings = reader.settings(env)
    if reader.problems or settings is None:
        raise ConfigError(str(source), reader.problems)
    return settings


# An address as a From line carries it: local part, "@", domain; no spaces or brackets.
ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")


class _Reader(Values):
    """Walks the parsed TOML section by section."""

    descriptions: dict[str, dict[str, str]]

    def settings(self, env: Mapping[str, str]) -> Settings | None:
        self.descriptions = {}
        for key in self.data:
            if key not in KEYS:
                self.problem(key, "unknown table")
        event = self.event()
        tz = event.timezone if event else None
        parts = self.parts(tz)
        recording = self.table("recording", required=True)
        last_end = parts[-1].end if parts else None
        rec_from = self.time(recording, "available_from", tz, name="recording") or last_end
        rec_until = self.time(recording, "available_until", tz, name="recording", required=True)
        if rec_from and rec_until and rec_until <= rec_from:
            self.problem(
                "recording.available_until",
                "must be after recording.available_from (default: the end of the last part)",
            )
        captions = self.captions(recording)
        registration = self.table("registration")
        closes = self.time(registration, "closes", tz, name="registration") or last_end
        archive = self.archive(recording)
        origin = self.origin(archive)
        store_url = self.store_url(env)
        session_settings = self.sessions()
        mail, audit, admin = self.mail(), self.audit(), self.admin()
        accessibility = self.accessibility(mail.sender)
        secrets = Secrets.from_env(env)
        if secrets.smtp_password and mail.smtp_url and "@" not in urlsplit(mail.smtp_url).netloc:
            self.problem(
                "mail.smtp_url",
                "GATEWAY_SMTP_PASSWORD is set: name the user as smtp://user@host:port",
            )
        if (
            event is None
            or tz is None
            or not parts
            or rec_from is None
            or rec_until is None
            or closes is None
            or origin is None
            or store_url is None
        ):
            return None
        schedule = Schedule(tz, tuple(parts), rec_from, rec_until)
        return Settings(
            self.source,
            event,
            schedule,
            closes,
            origin,
            store_url,
            session_settings,
            mail,
            audit,
            admin,
            secrets,
            captions=captions,
            accessibility=accessibility,
            descriptions=self.descriptions,
            archive=archive,
            ingest=self.ingest(),
        )

    def sessions(self) -> SessionSettings:
        sessions = self.table("sessions")
        return SessionSettings(
            max_devices=self.positive(sessions, "max_devices", 3, name="sessions", maximum=1000),
            sharing_threshold=self.positive(sessions, "sharing_threshold", 5, name="sessions"),
            lifetime_hours=self.positive(
                sessions, "lifetime_hours", 12, name="sessions", maximum=24 * 366
            ),
        )

    def event(self) -> Event | None:
        table = self.table("event", required=True)
        title = self.get(table, "title", str, name="event", required=True)
        zone_name = self.get(table, "timezone", str, name="event", required=True)
        public_url = self.get(table, "public_url", str, name="event", required=True)
        tz = None
        if zone_name is not None:
            try:
                tz = ZoneInfo(zone_name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                self.problem(
                    "event.timezone",
                    f"unknown time zone {zone_name!r} (an IANA name such as Europe/Helsinki)",
                )
        if public_url is not None:
            parts = self.split(public_url, "event.public_url")
            if parts is None:
                public_url = None
            else:
                if parts.scheme not in ("http", "https") or not parts.netloc:
                    self.problem("event.public_url", f"must be an http(s) URL, got {public_url!r}")
                elif parts.query or parts.fragment or "#" in public_url:
                    self.problem(  # every link is public_url + "/w/…": it would be swallowed
                        "event.public_url", f"no query or fragment, got {public_url!r}"
                    )
                public_url = public_url.rstrip("/")
        contact = self.contact(table.get("contact"))
        if title is None or tz is None or public_url is None:
            return None
        return Event(title, tz, public_url, contact)

    def contact(self, raw: object) -> Contact | None:
        """`contact = "address"`, or a table with `email` and optional `name`, `phone`."""
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = {"email": raw}
        if not isinstance(raw, dict):
            self.problem("event.contact", "must be an email address or a table with email")
            return None
        self._unknown("event.contact", raw)
        fields = {
            key: self.get(raw, key, str, "", name="event.contact", required=key == "email")
            for key in ("email", "name", "phone")
        }
        try:
            email = validate_email(fields["email"], check_deliverability=False).normalized
        except EmailNotValidError as exc:
            if fields["email"]:
                self.problem("event.contact.email", f"not an email address ({exc})")
            return None
        for key in ("name", "phone"):
            if (
                any(unicodedata.category(c)[0] == "C" for c in fields[key])
                or len(fields[key]) > 100
            ):
                self.problem(f"event.contact.{key}", "one line of text, at most 100 characters")
                return None
        return Contact(email, fields["name"].strip(), fields["phone"].strip())

    def parts(self, tz: ZoneInfo | None) -> list[Part]:
        raw = self.data.get("parts")
        if not isinstance(raw, list) or not raw:
            self.problem("parts", "at least one [[parts]] is required")
            return []
        parts: list[Part] = []
        names: dict[Part, str] = {}  # the table each part came from, for the problems
        for index, table in enumerate(raw, start=1):
            name = f"parts[{index}]"
            if not isinstance(table, dict):
                self.problem(name, "must be a table")
                continue
            for key in table:
                if key not in KEYS["parts"]:
                    self.problem(f"{name}.{key}", "unknown key")
            title = self.get(table, "name", str, name=name, required=True)
            start = self.time(table, "start", tz, name=name, required=True)
            end = self.time(table, "end", tz, name=name, required=True)
            streamed = self.get(table, "streamed", bool, True, name=name)
            if title is not None and not title.strip():
                self.problem(f"{name}.name", "must not be empty")
                title = None
            if start and end:  # (untitled: checked, then left out)
                parts.append(Part(title or "", start, end, streamed))
                names[parts[-1]] = name
            if title and "description" in table:
                self.descriptions[title] = self.description(table["description"], name)
        titles = [p.name for p in parts if p.name]
        for dup in sorted({n for n in titles if titles.count(n) > 1}):
            self.problem("parts", f"two parts are named {dup!r}")
        for problem in part_problems(parts):
            if problem.kind == "backwards":
                title = problem.part.name or "the part"
                self.problem(f"{names[problem.part]}.end", f"{title} ends before it starts")
            elif problem.other is not None and problem.other.name and problem.part.name:
                self.problem("parts", f"{problem.other.name!r} and {problem.part.name!r} overlap")
        parts = [p for p in parts if p.name and p.end > p.start]
        parts.sort(key=lambda p: p.start)
        return parts

    def description(self, raw: object, name: str) -> dict[str, str]:
        """A text for every language, or a table of them by language (en, fi, sv)."""
        texts = {"": raw} if isinstance(raw, str) else raw
        if not isinstance(texts, dict) or not all(
            isinstance(v, str) and k in ("", "en", "fi", "sv") for k, v in texts.items()
        ):
            self.problem(f"{name}.description", "a text, or a table of texts by en, fi, sv")
            return {}
        for text in texts.values():
            if len(text) > 500 or any(
                unicodedata.category(c)[0] == "C" and c not in "\n" for c in text
            ):
                self.problem(f"{name}.description", "plain text of at most 500 characters")
                return {}
        return {lang: " ".join(text.split()) for lang, text in texts.items()}

    def archive(self, recording: dict[str, Any]) -> ArchiveSettings:
        """`recording.archive` (on by default when `origin.recording` is not given: the
        gateway makes the recording) and `recording.archive_dir`."""
        origin = self.data.get("origin")
        given = isinstance(origin, dict) and "recording" in origin
        enabled = self.get(recording, "archive", bool, not given, name="recording")
        folder = self.get(recording, "archive_dir", str, "var/archive", name="recording")
        try:
            return ArchiveSettings(enabled, (self.base / folder).resolve())
        except (OSError, ValueError) as exc:  # a NUL byte, a loop of links
            self.problem("recording.archive_dir", f"{folder!r} is not a usable folder ({exc})")
            return ArchiveSettings(False)

    def ingest(self) -> IngestSettings:
        table = self.table("ingest")
        found = []
        for value in self.get(table, "allowed_from", list, [], name="ingest"):
            try:
                found.append(ipaddress.ip_network(str(value), strict=False))
            except ValueError:
                self.problem("ingest.allowed_from", f"{value!r} is not a CIDR like 10.0.0.0/8")
        return IngestSettings(tuple(found))

    def origin(self, archive: ArchiveSettings) -> OriginSettings | None:
        table = self.table("origin")
        live = self.origin_url(table, "live", "hls/live")
        recording = self.origin_url(table, "recording", "hls/recording")
        if archive.enabled:  # the gateway makes the recording: /recording/ serves the archive
            recording = "file://" + str(archive.folder)
        grace = self.get(table, "end_grace_seconds", int, 60, name="origin")
        if not 0 <= grace <= 86_400:
            self.problem("origin.end_grace_seconds", f"must be from 0 to 86400, got {grace}")
            grace = 60
        timeout = self.get(table, "timeout_seconds", float, 10.0, name="origin")
        if not 0 < timeout <= 3600:  # also refuses nan and inf
            self.problem(
                "origin.timeout_seconds", f"must be above 0 and at most 3600, got {timeout}"
            )
            timeout = 10.0
        if live is None or recording is None:
            return None
        return OriginSettings(live, recording, grace, timeout)

    def origin_url(self, table: dict[str, Any], key: str, default: str) -> str | None:
        value: str = self.get(table, key, str, default, name="origin")
        parts = self.split(value, f"origin.{key}")
        if parts is None:
            return None
        if parts.scheme in ("http", "https"):
            if not parts.netloc:
                self.problem(f"origin.{key}", f"{value!r} has no host")
                return None
            return value if value.endswith("/") else value + "/"
        if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
            self.problem(
                f"origin.{key}", f"{value!r}: write file:///absolute/path or a relative path"
            )
            return None
        if parts.scheme not in ("", "file"):
            self.problem(f"origin.{key}", f"{value!r}: use file:// or http(s)://")
            return None
        folder = self.base / (parts.path if parts.scheme == "file" else value)
        try:
            return "file://" + str(folder.resolve())
        except (OSError, ValueError) as exc:
            self.problem(f"origin.{key}", f"{value!r} is not a usable folder ({exc})")
            return None

    def store_url(self, env: Mapping[str, str]) -> str | None:
        table = self.table("store")
        value: str = env.get("GATEWAY_STORE_URL") or self.get(
            table, "url", str, "sqlite:///var/gateway.db", name="store"
        )
        parts = self.split(value, "store.url")
        scheme = parts.scheme if parts is not None else ""
        if parts is None:
            return None
        if scheme in ("redis", "rediss", "unix"):
            return value
        if scheme == "redis+sentinel":  # sentinels host:port,host:port; /primary's service[/db]
            try:
                sentinel_url(value)
            except ValueError:
                self.problem(
                    "store.url",
                    f"{value!r}: write redis+sentinel://host:26379,host2:26379/mymaster/0",
                )
                return None
            return value
        rest = sqlite_path(value)
        if scheme == "sqlite" and rest is not None:
            db = Path(rest) if rest.startswith("/") else self.base / rest
            return "sqlite:///" + str(db)
        self.problem(
            "store.url",
            f"{value!r}: use sqlite:///relative.db, sqlite:////abs.db, redis://host:6379/0 "
            "or redis+sentinel://host:26379,host2:26379/mymaster/0",
        )
        return None

    def mail(self) -> MailSettings:
        table = self.table("mail")
        smtp_url = self.get(table, "smtp_url", str, None, name="mail")
        if smtp_url is not None:
            smtp_parts = self.split(smtp_url, "mail.smtp_url")
            if smtp_parts is not None and smtp_parts.scheme not in ("smtp", "smtps"):
                self.problem("mail.smtp_url", f"{smtp_url!r}: use smtp:// or smtps://")
            if smtp_parts is None or smtp_parts.scheme not in ("smtp", "smtps"):
                smtp_url = None
        sender = self.get(table, "sender", str, MailSettings.sender, name="mail")
        if "\r" in sender or "\n" in sender or not ADDRESS.fullmatch(parseaddr(sender)[1]):
            self.problem(
                "mail.sender",
                f"{sender!r}: one address, a name optional (Seminar <webcast@example.org>)",
            )
            sender = MailSettings.sender
        return MailSettings(
            sender=sender,
            smtp_url=smtp_url,
            outbox=self.base / self.get(table, "outbox", str, "var/outbox", name="mail"),
            reminders=self.reminders(table),
            recording_notice=self.get(table, "recording_notice", bool, True, name="mail"),
        )

    def reminders(self, table: dict[str, Any]) -> tuple[dt.timedelta, ...]:
        """`mail.reminders`: durations like "1d", "1h", "30m" before the first streamed part."""
        raw = self.get(table, "reminders", list, None, name="mail")
        if raw is None:
            return MailSettings.reminders
        found: set[dt.timedelta] = set()
        for value in raw:
            match = (
                re.fullmatch(r"([1-9][0-9]{0,3})([dhm])", value) if isinstance(value, str) else None
            )
            if match is None:
                self.problem("mail.reminders", f'{value!r}: a duration such as "1d", "1h" or "30m"')
                continue
            unit = {"d": "days", "h": "hours", "m": "minutes"}[match.group(2)]
            found.add(dt.timedelta(**{unit: int(match.group(1))}))
        return tuple(sorted(found, reverse=True))

    def audit(self) -> AuditSettings:
        table = self.table("audit")
        folder = self.get(table, "checkpoint_dir", str, None, name="audit")
        verify_key = self.get(table, "verify_key", str, None, name="audit")
        if verify_key is not None and not checkpoints.is_key(verify_key):
            self.problem(
                "audit.verify_key",
                "not an Ed25519 public key (base64 of 32 bytes, as `audit keygen` prints)",
            )
            verify_key = None
        spool = self.get(table, "spool_file", str, "var/audit-spool.jsonl", name="audit")
        if not spool.strip() or spool.endswith("/") or (self.base / spool).is_dir():
            self.problem("audit.spool_file", f"must name a file (the audit spool), got {spool!r}")
            spool = "var/audit-spool.jsonl"
        return AuditSettings(
            checkpoint_dir=self.base / folder if folder else None,
            verify_key=verify_key,
            spool_file=self.base / spool,
            checkpoint_minutes=self.positive(table, "checkpoint_minutes", 60, name="audit"),
        )

    def admin(self) -> AdminSettings:
        table = self.table("admin")
        lists = {}
        for role in ("ops", "auditors"):
            value = self.get(table, role, list, [], name="admin")
            if not all(isinstance(v, str) for v in value):
                self.problem(f"admin.{role}", "must be a list of strings")
                value = []
            lists[role] = tuple(v if v.startswith("sub:") else v.lower() for v in value)
        discovery = self.get(table, "oidc_discovery_url", str, None, name="admin")
        if discovery is not None:
            parts = self.split(discovery, "admin.oidc_discovery_url")  # None: said there
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                if parts is not None:
                    self.problem(
                        "admin.oidc_discovery_url", f"must be an http(s) URL, got {discovery!r}"
                    )
                discovery = None
        return AdminSettings(
            oidc_discovery_url=discovery,
            client_id=self.get(table, "client_id", str, None, name="admin"),
            ops=lists["ops"],
            auditors=lists["auditors"],
        )

    def captions(self, recording: dict[str, Any]) -> CaptionSettings:
        path = self.get(recording, "captions", str, None, name="recording")
        if path is not None:
            try:
                path = safe_path(path)
            except BadPath as exc:
                self.problem(
                    "recording.captions",
                    f"{path!r}: a path relative to the recording origin ({exc})",
                )
                path = None
            else:
                if not path.lower().endswith(".vtt"):
                    self.problem("recording.captions", f"{path!r}: must name a WebVTT .vtt file")
                    path = None
        days = self.positive(recording, "captions_due_days", 14, name="recording", maximum=3650)
        return CaptionSettings(path, days)

    def accessibility(self, sender: str) -> AccessibilitySettings:
        table = self.table("accessibility")
        organisation = self.get(table, "organisation", str, "", name="accessibility").strip()
        contact = self.get(table, "contact", str, None, name="accessibility")
        if contact is None:
            contact = parseaddr(sender)[1]  # default: the address the links are mailed from
        elif not contact.strip():
            self.problem("accessibility.contact", "must not be empty (an email address or URL)")
        last_checked = None
        if "last_checked" in table:
            value = table["last_checked"]
            if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
                last_checked = value
            else:
                try:
                    last_checked = dt.date.fromisoformat(value) if isinstance(value, str) else None
                except ValueError:
                    last_checked = None
                if last_checked is None:
                    self.problem(
                        "accessibility.last_checked",
                        f"must be a date like 2021-11-01, got {value!r}",
                    )
        gaps = self.get(table, "known_gaps", list, [], name="accessibility")
        if not all(isinstance(g, str) and g.strip() for g in gaps):
            self.problem("accessibility.known_gaps", "must be a list of non-empty strings")
            gaps = []
        return AccessibilitySettings(
            organisation=organisation,
            contact=contact.strip(),
            last_checked=last_checked,
            known_gaps=tuple(g.strip() for g in gaps),
        )
