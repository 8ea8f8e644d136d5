"""Domain errors. They carry data; the web layer alone chooses HTTP statuses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


@dataclass
class ConfigError(GatewayError):
    """The configuration is invalid; `problems` lists every problem found, each naming its key."""

    path: str
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{self.path}: {p}" for p in self.problems)


class StoreUnavailable(GatewayError):
    """The store did not answer in time. Never turned into 401/403/500: always 503."""


class UsageError(GatewayError):
    """A command-line request that cannot be carried out (unknown registrant, bad time...)."""


@dataclass
class LinkRefused(GatewayError):
    """A personal link that does not open. `reason` is one of the audit reasons."""

    reason: str  # bad_signature | unknown_registrant | revoked | superseded
    registrant: str | None = None


@dataclass
class NoSession(GatewayError):
    """No valid participant session: none, expired, evicted or superseded. `evicted`:
    known to have been ended because the link was opened on one device too many."""

    evicted: bool = False


@dataclass
class Revoked(GatewayError):
    """The registrant's access was revoked by ops."""

    registrant: str


@dataclass
class AccessRefused(GatewayError):
    """The schedule does not allow this now. `reason` is one of the audit reasons.

    `part` names the part running now (if any); `opens_at` is when access opens
    next (if ever).
    """

    # part_not_streamed | outside_window | recording_not_yet | stopped_by_ops | segment_undated
    reason: str
    part: str | None = None
    opens_at: dt.datetime | None = None
    next_part: str | None = None


@dataclass
class RecordingExpired(GatewayError):
    """The recording's availability has ended (answered 410)."""

    until: dt.datetime
    reason: str = "recording_expired"


class BadPath(GatewayError):
    """A stream path that could escape its origin folder or is not a valid name (400)."""


class NotFound(GatewayError):
    """Nothing to serve at that path (404)."""


class RangeNotSatisfiable(GatewayError):
    """A `Range` header this resource cannot answer: malformed, several ranges, or past
    its end (416); `size`, the resource's length, for the answer's `Content-Range`."""

    def __init__(self, header: str, size: int) -> None:
        super().__init__(header)
        self.size = size


class OriginUnavailable(GatewayError):
    """The origin failed or answered garbage (502)."""


class OriginTimeout(GatewayError):
    """The origin did not answer in time (504)."""
