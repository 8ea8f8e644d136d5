"""Reading typed values out of parsed TOML, collecting every problem (see `reader`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo

from gateway.core.times import parse_time

KEYS: dict[str, set[str]] = {
    "event": {"title", "timezone", "public_url", "contact"},
    "event.contact": {"email", "name", "phone"},
    "registration": {"closes"},
    "parts": {"name", "start", "end", "streamed", "description"},
    "recording": {
        "available_from",
        "available_until",
        "captions",
        "captions_due_days",
        "archive",
        "archive_dir",
    },
    "origin": {"live", "recording", "end_grace_seconds", "timeout_seconds"},
    "store": {"url"},
    "sessions": {"max_devices", "sharing_threshold", "lifetime_hours"},
    "mail": {"sender", "smtp_url", "outbox", "reminders", "recording_notice"},
    "audit": {"checkpoint_dir", "verify_key", "spool_file", "checkpoint_minutes"},
    "admin": {"oidc_discovery_url", "client_id", "ops", "auditors"},
    "accessibility": {"organisation", "contact", "last_checked", "known_gaps"},
    "ingest": {"allowed_from"},
}


class Values:
    """Typed values from the parsed TOML; every problem collected, not just the first."""

    def __init__(self, source: Path, data: dict[str, Any]) -> None:
        self.source = source
        self.base = source.resolve().parent
        self.data = data
        self.problems: list[str] = []

    def problem(self, key: str, reason: str) -> None:
        self.problems.append(f"{key}: {reason}")

    def table(self, name: str, *, required: bool = False) -> dict[str, Any]:
        value = self.data.get(name, {})
        if name not in self.data and required:
            self.problem(name, "missing (required)")
        if not isinstance(value, dict):
            self.problem(name, "must be a table")
            return {}
        self._unknown(name, value)
        return value

    def _unknown(self, name: str, value: dict[str, Any]) -> None:
        for key in value:
            if key not in KEYS[name]:
                self.problem(f"{name}.{key}", "unknown key")

    def get(
        self,
        table: dict[str, Any],
        key: str,
        kind: type,
        default: Any = None,
        *,
        name: str,
        required: bool = False,
    ) -> Any:
        if key not in table:
            if required:
                self.problem(f"{name}.{key}", "missing (required)")
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(f"{name}.{key}", f"must be {kind.__name__}, got {value!r}")
            return default
        if isinstance(value, str) and "\x00" in value:
            self.problem(f"{name}.{key}", "must not contain a NUL character")
            return default
        return value

    def split(self, value: str, key: str) -> SplitResult | None:
        """`urlsplit`, with a malformed URL reported as a problem of `key`."""
        try:
            return urlsplit(value)
        except ValueError as exc:
            self.problem(key, f"{value!r} is not a valid URL ({exc})")
            return None

    def time(
        self,
        table: dict[str, Any],
        key: str,
        tz: ZoneInfo | None,
        *,
        name: str,
        required: bool = False,
    ) -> dt.datetime | None:
        if key not in table:
            if required:
                self.problem(f"{name}.{key}", "missing (required)")
            return None
        try:
            if tz is None:  # the zone is reported as broken: still say what no zone mends
                parse_time(table[key], ZoneInfo("UTC"))  # (a date or a time alone, garbage)
                return None
            return parse_time(table[key], tz)
        except ValueError as exc:
            self.problem(f"{name}.{key}", str(exc))
            return None

    def positive(
        self, table: dict[str, Any], key: str, default: int, *, name: str, maximum: int = 1_000_000
    ) -> int:
        value: int = self.get(table, key, int, default, name=name)
        if not 1 <= value <= maximum:
            self.problem(f"{name}.{key}", f"must be from 1 to {maximum}, got {value}")
            return default
        return value
