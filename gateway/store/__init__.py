"""The store: every piece of state shared between requests and replicas, behind protocols.

One narrow protocol per concern (registrants, sessions, segment dates, audit, mail queue,
attendance, retention, values); `Store` is all of them, what a backend implements.

Two implementations pass one contract suite (`tests/store/`): `SqliteStore`
(embedded default, one node) and `RedisStore` (replicas). Any failure to reach
the store is raised as `StoreUnavailable`, never as the library's own error.
Stores never read the clock: callers pass `now` where time matters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from gateway.core.chain import Draft, Event
from gateway.core.dating import Dated
from gateway.core.records import MailJob, Registrant, Session

ACCESS_LOG_SIZE = 1000  # the last access changes a store can name the registrants of


@dataclass(frozen=True)
class AccessChanges:
    """What `Store.access_changes` answers: the epoch now, and whose access changed since.

    `registrants` is None when the store cannot say (the caller must assume that
    anything may have changed).
    """

    epoch: int
    registrants: frozenset[str] | None


MAIL_STATES = ("pending", "sending", "sent", "failed")


def check_enqueue(job: MailJob) -> None:
    """The jobs `Store.enqueue_mail` accepts, checked the same way by every store."""
    if job.state not in MAIL_STATES:
        raise ValueError(f"mail job state {job.state!r} is not one of {MAIL_STATES}")
    if job.state == "sending" and job.claimed_until is None:
        raise ValueError("a sending mail job needs claimed_until")


def check_finish(state: str, retry_at: dt.datetime | None) -> None:
    """The arguments `Store.finish_mail` accepts, checked the same way by every store."""
    if state not in ("sent", "failed", "pending"):
        raise ValueError(f"a mail job finishes sent, failed or pending, not {state!r}")
    if state == "pending" and retry_at is None:
        raise ValueError("a mail job pending again needs retry_at")


class Connection(Protocol):
    """Opening, closing and reaching the store."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """A write and a read round trip; raises StoreUnavailable."""

    async def server_time(self) -> dt.datetime | None:
        """The store server's clock (Redis TIME), or None for an embedded store."""


class RegistrantStore(Protocol):
    """Registrants and their links (version, revoked)."""

    async def add_registrant(self, registrant: Registrant) -> tuple[Registrant, bool]:
        """Store it unless its email (case-insensitive) is known: (stored, created)."""

    async def registrant(self, registrant_id: str) -> Registrant | None: ...

    async def registrant_by_email(self, email: str) -> Registrant | None:
        """Look up by address, case-insensitively."""

    async def registrants(self) -> list[Registrant]:
        """All, in creation order."""

    async def bump_link(self, registrant_id: str, *, revoked: bool) -> Registrant:
        """A new link: atomically increment link_version and revision, and set `revoked`;
        KeyError if unknown."""

    async def set_revoked(self, registrant_id: str, *, revoked: bool) -> Registrant:
        """Revoke or reinstate the same link: set `revoked` and increment revision, never
        link_version (a reinstated registrant's link and sessions work again); KeyError if
        unknown."""

    async def restore_link(
        self, registrant_id: str, *, revision: int, version: int, revoked: bool
    ) -> bool:
        """Put back a link change the store lost (replaying the access journal): set
        revision, link_version and `revoked` if the stored revision is lower. True if
        changed; False when already at or past `revision`, or unknown."""


class SessionStore(Protocol):
    """Sessions, and the access changes every replica's session cache polls."""

    async def create_session(
        self, session: Session, *, max_devices: int, now: dt.datetime
    ) -> list[str]:
        """Add `session`; atomically end the registrant's oldest sessions beyond
        `max_devices` (ignoring expired ones). Returns the ids ended, oldest first."""

    async def session(self, session_id: str) -> Session | None:
        """The session, or None when unknown or ended. Expiry is the caller's check."""

    async def end_sessions(self, registrant_id: str) -> list[str]:
        """End every session of the registrant; returns their ids."""

    async def count_sessions(self, now: dt.datetime, *, registrant_id: str | None = None) -> int:
        """Sessions not ended and not expired at `now`: all, or one registrant's."""

    # Access changes: how every replica's session cache learns what to forget
    async def access_epoch(self) -> int:
        """A counter of access changes (0 before the first; it may start anywhere).

        An access change is one that can end (or give back) a running session's access:
        every `bump_link` (reissue) and `set_revoked` (revoke, reinstate), and
        `create_session` or `end_sessions` when they end at least one session. Each
        adds exactly 1, atomically with the change itself (one Lua script, one
        transaction): no caller can forget it.
        Redis starts a missing counter at its clock's microseconds, so a store that
        lost its data is told apart from the one a replica knew.
        """

    async def access_changes(self, since: int) -> AccessChanges:
        """The epoch now and the registrants of the access changes after epoch `since`,
        in one round trip. `registrants` is None when that is unknown: `since` is
        negative, ahead of the epoch, or more than ACCESS_LOG_SIZE changes ago."""

    def local_access_changes(self) -> int:
        """How many access changes were made through this store object (no I/O), so a
        cache in the same process can see its own process's changes at once."""


class SegmentDates(Protocol):
    """Live segment dates by `dating.segment_key`, shared so every replica lists and
    refuses the same segments."""

    async def date_segments(self, dates: Mapping[str, Dated]) -> dict[str, Dated]:
        """Record dates by segment key, first writer wins (a stored date never moves);
        returns the stored date of every key given."""

    async def segment_dates(self, keys: Sequence[str]) -> dict[str, Dated]:
        """Stored dates of those keys that have one."""


class AuditStore(Protocol):
    """The audit log, appended as a hash chain, and marks set once."""

    async def append_audit(self, draft: Draft) -> Event:
        """Seal `draft` after the current head and append it, atomically across replicas."""

    async def audit_events(self, *, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        """Events with seq > after_seq in order."""

    async def mark_once(self, key: str) -> bool:
        """True the first time `key` is marked, False ever after (refusal de-duplication)."""


class MailQueue(Protocol):
    """The mail queue: claimed before sending, so no two senders ever send one job."""

    async def enqueue_mail(self, job: MailJob) -> tuple[MailJob, bool]:
        """Queue `job` unless the registrant already has a pending or sending job of
        the same kind and link version: (the queued job, whether `job` was added)."""

    async def claim_mail(
        self, *, now: dt.datetime, worker: str, lease: dt.timedelta, job_id: str | None = None
    ) -> MailJob | None:
        """Atomically take the oldest due job (pending with next_attempt_at <= now, or
        sending with claimed_until <= now), or the job `job_id` if it is due: set state
        sending, claimed_by, claimed_until = now + lease, attempts + 1; return it."""

    async def finish_mail(
        self,
        job_id: str,
        *,
        state: str,
        now: dt.datetime,
        error: str = "",
        retry_at: dt.datetime | None = None,
    ) -> MailJob:
        """Record a claimed job's outcome: state "sent" (sent_at = now), "failed"
        (last_error = error), or "pending" again (last_error = error,
        next_attempt_at = retry_at). Clears the claim. KeyError if unknown."""

    async def mail_jobs(
        self, *, registrant_id: str | None = None, state: str | None = None
    ) -> list[MailJob]:
        """Jobs in creation order, optionally only one registrant's or one state's."""


class AttendanceStore(Protocol):
    """Which registrant watched in which minute (minute buckets, not requests), and
    distinct members counted over a period (sharing detection)."""

    async def record_attendance(self, minutes: Mapping[str, Collection[dt.datetime]]) -> None:
        """Add minute starts (aware UTC, second 0) by registrant id; idempotent."""

    async def attendance(self) -> dict[str, list[dt.datetime]]:
        """Every registrant's watched minutes, each list sorted."""

    async def viewers(self, minutes: Collection[dt.datetime]) -> int:
        """How many registrants watched in any of these minutes (for "viewers now")."""

    async def viewers_per_minute(
        self, start: dt.datetime, end: dt.datetime
    ) -> dict[dt.datetime, int]:
        """How many registrants watched in each minute from minute start `start` up to
        `end` (exclusive, at most a day): every minute, 0 where nobody did. The store may
        keep these counts for a day only (Redis does)."""

    async def add_member(self, key: str, member: str, *, ttl: dt.timedelta) -> int:
        """Add `member` to the set `key` (created with a lifetime of `ttl`, which later
        additions do not extend); return the set's size."""


class RetentionStore(Protocol):
    """Personal data retention."""

    async def purge_registrants(self, before: dt.datetime) -> list[str]:
        """Erase name, email and organisation (set to "") of registrants created before
        `before` and not purged yet; their ids, links and sessions stay. Returns the ids
        purged now. A purged address no longer matches `registrant_by_email`, and the
        same address may register again as a new registrant."""


class ValueStore(Protocol):
    """Small named values (secrets generated once, ops overrides, admin sessions)."""

    async def delete_value(self, key: str) -> None:
        """Forget a named value (no error if absent)."""

    async def get_value(self, key: str) -> str | None: ...

    async def set_value(self, key: str, value: str) -> None: ...

    async def setdefault_value(self, key: str, value: str) -> str:
        """Store `value` unless `key` has one; return the stored value."""

    async def replace_value(self, key: str, expected: str | None, value: str) -> bool:
        """Store `value` if `key` still holds `expected` (None: no value), atomically;
        whether it did (False: someone changed it since it was read)."""


class Store(
    Connection,
    RegistrantStore,
    SessionStore,
    SegmentDates,
    AuditStore,
    MailQueue,
    AttendanceStore,
    RetentionStore,
    ValueStore,
    Protocol,
):
    """All of it: what a backend implements. Consumers ask for the narrow protocol they use."""


def sqlite_path(url: str) -> str | None:
    """The database file of a `sqlite:///path` store URL; None for another store."""
    return url[len("sqlite:///") :] if url.startswith("sqlite:///") else None


def open_store(url: str) -> Store:
    """The store for a `store.url` (`sqlite:///path`, `redis://...` or
    `redis+sentinel://host:26379,host2:26379/SERVICE/DB`). Connects lazily.

    A Redis URL may carry `?prefix=name:` to keep several gateways (or test
    runs) apart on one server; the default prefix is `gw:`.
    """
    path = sqlite_path(url)
    if path is not None:
        from gateway.store.sqlite import SqliteStore

        return SqliteStore(path)
    from gateway.store.redis import RedisStore

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    prefix = query.pop("prefix", ["gw:"])[0]
    rest = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    return RedisStore(rest, prefix=prefix)
