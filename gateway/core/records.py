"""The records every layer passes around: a registrant, a session, a queued mail.

Plain frozen values; the stores persist them (`gateway.store`), the core decides
on them (`core.access`). The audit log's records are in `core.chain`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Registrant:
    id: str  # opaque, random; the only name the audit log knows
    email: str  # as given; uniqueness is on email.lower()
    name: str
    organisation: str
    created_at: dt.datetime
    link_version: int = 1  # what the current link and the sessions opened with it carry
    revoked: bool = False
    revision: int = 0  # counts every link change (reissue, revoke, reinstate), never goes back


@dataclass(frozen=True)
class Session:
    id: str
    registrant_id: str
    link_version: int
    created_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True)
class MailJob:
    """One mail to send: a queue entry that survives restarts.

    `state`: pending (waiting for `next_attempt_at`), sending (claimed by
    `claimed_by` until `claimed_until`; a lapsed claim is pending again), sent
    (the server answered 250), failed (a permanent refusal, reason in `last_error`).
    """

    id: str
    registrant_id: str
    kind: str  # "link": the personal link mail
    link_version: int
    lang: str
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    state: str = "pending"
    attempts: int = 0
    last_error: str = ""
    claimed_by: str = ""
    claimed_until: dt.datetime | None = None
    sent_at: dt.datetime | None = None
