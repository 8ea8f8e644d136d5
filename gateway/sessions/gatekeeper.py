"""The gatekeeper: (session cookie, area, now) to an access decision, and links to sessions.

It takes session state from the in-process `SessionCache` (no store round trip
in the common case; a change of access reaches it within 1 s, see
`gateway.sessions.cache`), decides with the pure `core.access.decide`,
remembers a grant per cookie for 250 ms at most (never past a moment that
could change it), falls back to a session verified within the last 5 s when
the store is down (and only then), and records refusals in the audit log once
per (session, reason, part).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from typing import Any, NamedTuple

from itsdangerous import BadSignature, Signer, TimestampSigner

from gateway.audit.log import AuditLog
from gateway.core.access import Grant, check_session, decide, next_change
from gateway.core.clock import Clock
from gateway.core.errors import (
    AccessRefused,
    GatewayError,
    LinkRefused,
    NoSession,
    RecordingExpired,
    Revoked,
    StoreUnavailable,
)
from gateway.core.records import Registrant, Session
from gateway.core.schedule import Schedule
from gateway.core.times import iso
from gateway.metrics import Metrics
from gateway.sessions import links
from gateway.sessions.cache import Lookup, SessionCache
from gateway.sessions.controls import Controls, ControlState
from gateway.settings import Settings
from gateway.store import Store

log = logging.getLogger(__name__)
MAX_REFUSALS_MARKED = 100_000
SUMMARISED = frozenset({"bad_signature", "unknown_registrant"})  # links that name nobody
MAX_SUMMARIES = 10_000  # (address, reason, minute) counted at once; beyond, all are recorded
GRANT_KEPT = dt.timedelta(milliseconds=250)  # a grant's reuse, at most
KEPT_SWEEP = dt.timedelta(seconds=1)  # every remembered grant is dropped this often


class _Kept(NamedTuple):
    grant: Grant
    since: dt.datetime  # decided at
    until: dt.datetime  # good until (excluded)
    access: tuple[int, int]  # the store's local access changes and the cache's generation
    controls: Controls  # the ops controls it was decided under


class Gatekeeper:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        audit: AuditLog,
        metrics: Metrics,
        clock: Clock,
        link_signer: Signer,
        session_signer: TimestampSigner,
        controls: ControlState,
    ) -> None:
        self.settings = settings
        self.session_lifetime = dt.timedelta(hours=settings.sessions.lifetime_hours)
        self.controls = controls
        self.sessions = SessionCache(store, clock)
        self.audit = audit
        self.metrics = metrics
        self.clock = clock
        self.link_signer = link_signer
        self.session_signer = session_signer
        self._refusals_marked: set[str] = set()
        # (client address, reason, minute) -> refusals not yet recorded (see _refused)
        self._refusals: dict[tuple[str | None, str, dt.datetime], int] = {}
        self._last_stale_log: dt.datetime | None = None
        self._cookies: dict[str, tuple[str, dt.datetime]] = {}
        self._kept: dict[tuple[str, str], _Kept] = {}  # (cookie, area) → a recent grant
        self._kept_since = dt.datetime.min.replace(tzinfo=dt.UTC)

    @property
    def store(self) -> Store:
        return self.sessions.store

    @store.setter
    def store(self, store: Store) -> None:
        self.sessions.store = store

    async def schedule(self, now: dt.datetime | None = None) -> tuple[Schedule, bool]:
        """The schedule in force (with ops' changes) and whether ops stopped the stream."""
        current = await self.controls.current(now)
        return current.schedule, current.stopped

    def signed(self, token: str) -> bool:
        """Whether we signed this link (no store, no audit): a signed link is nobody's
        guess, whatever else it may be (revoked, superseded)."""
        try:
            links.read_token(self.link_signer, token)
        except LinkRefused:
            return False
        return True

    async def open_link(self, token: str, ip: str | None) -> str:
        """Open a personal link: a new session, evicting the oldest beyond max_devices.

        Returns the signed session cookie value. Raises LinkRefused (audited
        with its reason) or StoreUnavailable.
        """
        try:
            registrant_id, version = links.read_token(self.link_signer, token)
            registrant = await self.store.registrant(registrant_id)
            if registrant is None:
                raise LinkRefused("unknown_registrant", registrant_id)
            if registrant.revoked:
                raise LinkRefused("revoked", registrant.id)
            if version != registrant.link_version:
                raise LinkRefused("superseded", registrant.id)
            until = (await self.schedule())[0].recording_until
            if self.clock() >= until:  # nothing more to watch: the mail says so
                raise LinkRefused("expired", registrant.id)
        except LinkRefused as refused:
            self.metrics.links.labels(refused.reason).inc()
            self.metrics.recent.note(f"link {refused.reason}")
            await self._refused(refused, token, ip)
            raise
        now = self.clock()
        session = Session(
            secrets.token_urlsafe(24),
            registrant.id,
            registrant.link_version,
            now,
            now + self.session_lifetime,  # after `until` every stream answer is 410 anyway
        )
        await self.audit.record(
            "link.opened", registrant=registrant.id, ip=ip, token=links.fingerprint(token)
        )
        await self.store.set_value(links.opened_key(registrant.id), str(version))
        evicted = await self.store.create_session(
            session, max_devices=self.settings.sessions.max_devices, now=now
        )
        await self.audit.record(
            "session.created",
            registrant=registrant.id,
            ip=ip,
            session=links.fingerprint(session.id),
        )
        self.sessions.forget(evicted)  # at once here; other replicas within a poll
        for old in evicted:
            await self.store.set_value(links.evicted_key(old), "1")
            await self.audit.record(
                "session.evicted",
                registrant=registrant.id,
                session=links.fingerprint(old),
                reason="max_devices",
            )
        if ip:
            await self._watch_sharing(registrant.id, ip, now)
        self.metrics.links.labels("opened").inc()
        return self.session_signer.sign(session.id).decode("ascii")

    async def _refused(self, refused: LinkRefused, token: str, ip: str | None) -> None:
        """Audit a refused link. A link that names nobody (bad signature, unknown
        registrant) is recorded once per client address, reason and minute; the rest of
        that minute's are counted and recorded as one event when it is over
        (`flush_refusals`), so a flood of garbage cannot flood the log."""
        summarised = refused.reason in SUMMARISED
        counted: dict[str, Any] = {"count": 1} if summarised else {}
        if summarised:
            key = (ip, refused.reason, self.clock().replace(second=0, microsecond=0))
            if key in self._refusals:
                self._refusals[key] += 1
                return
            if len(self._refusals) >= MAX_SUMMARIES:
                await self.flush_refusals(everything=True)
            self._refusals[key] = 0
        await self.audit.record(
            "link.refused",
            registrant=refused.registrant,
            ip=ip,
            reason=refused.reason,
            token=links.fingerprint(token),
            **counted,
        )

    async def flush_refusals(self, *, everything: bool = False) -> None:
        """Record the counted refusals of minutes that are over (or of all, `everything`)."""
        minute = self.clock().replace(second=0, microsecond=0)
        for key in [k for k in self._refusals if everything or k[2] < minute]:
            count = self._refusals.pop(key)
            ip, reason, started = key
            if count:
                await self.audit.record(
                    "link.refused", ip=ip, reason=reason, count=count, minute=iso(started)
                )

    async def flush_refusals_forever(self, interval: float = 15.0) -> None:
        """The background task behind `flush_refusals`."""
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(StoreUnavailable):
                await self.flush_refusals()

    async def _watch_sharing(self, registrant_id: str, ip: str, now: dt.datetime) -> None:
        """Flag a link opened from `sharing_threshold` distinct addresses within the hour."""
        hour = now.strftime("%Y%m%d%H")
        addresses = await self.store.add_member(
            f"ips:{registrant_id}:{hour}", await self.audit.hash_ip(ip), ttl=dt.timedelta(hours=1)
        )
        if addresses >= self.settings.sessions.sharing_threshold:
            await self.audit.record_once(
                f"sharing:{registrant_id}:{hour}",
                "session.sharing_suspected",
                registrant=registrant_id,
                addresses=addresses,
                hour=hour,
            )

    def session_id(self, cookie: str | None, now: dt.datetime | None = None) -> str | None:
        """The session id a cookie names, if it carries our signature and is not too old."""
        if not cookie or len(cookie) > 200:
            return None
        known = self._cookies.get(cookie)
        if known is None:  # verify a cookie once; after that its exact text is the proof
            try:
                value, signed_at = self.session_signer.unsign(cookie, return_timestamp=True)
                known = (value.decode("ascii"), signed_at)
            except (BadSignature, UnicodeDecodeError):
                return None
            if len(self._cookies) >= 100_000:
                self._cookies.clear()
            self._cookies[cookie] = known
        session_id, signed_at = known
        if (now or self.clock()) - signed_at > self.session_lifetime:
            return None
        return session_id

    async def viewer(self, cookie: str | None) -> tuple[Session, Registrant]:
        """The valid session and registrant behind a cookie.

        Raises NoSession, Revoked or StoreUnavailable.
        """
        session_id = self.session_id(cookie)
        if session_id is None:
            raise NoSession()
        found = await self._load(session_id)
        if found.session is None and await self.store.get_value(links.evicted_key(session_id)):
            raise NoSession(evicted=True)  # a page pushed off, reloaded: still says why
        return check_session(found.session, found.registrant, self.clock())

    def granted(self, cookie: str | None, area: str, now: dt.datetime) -> Grant | None:
        """`authorize`'s grant when memory alone decides it, else None (then `authorize`
        decides, and refuses). A plain call, no coroutine, no count: the hot path (and
        `gateway serve`'s answers to nginx from the HTTP protocol, `web.stream`).

        From memory means a grant kept for this cookie and area (see `_remember`), or
        the session cache's current entry for it (`SessionCache.hit`) under the ops
        controls in memory, decided by the pure `decide`. Anything else (a cookie not
        verified, a session to read, controls to read, an outage, any refusal) is None.
        """
        controls = self.controls.cached(now)
        if not cookie or controls is None:
            return None
        kept = self._kept.get((cookie, area))
        if (
            kept is not None
            and kept.since <= now < kept.until
            and kept.access == self._access()
            and kept.controls is controls
        ):
            return kept.grant
        session_id = self.session_id(cookie, now)
        found = self.sessions.hit(session_id, now) if session_id is not None else None
        if found is None:
            return None
        try:
            grant = self._decide(area, found, controls, now)
        except GatewayError:  # a refusal: `authorize` decides it again, counts and audits it
            return None
        self._remember(cookie, grant, now, found.session, controls)
        return grant

    async def authorize(
        self, cookie: str | None, area: str, now: dt.datetime, ip: str | None = None
    ) -> Grant:
        """The one decision for a stream request: this cookie, this area, at `now`.

        From memory in the common case (`granted`); else the session is read from the
        store, or the ops controls, and a refusal is counted and audited here. A grant
        is remembered for this cookie and area for up to `GRANT_KEPT` (see
        `_remember`): a player asks for a playlist and a segment or two in a burst,
        and the same answer serves them all. `ip`, the client's address, is only for the
        audit of a refusal (hashed there, as every event's).
        """
        grant = self.granted(cookie, area, now)
        if grant is not None:
            self.metrics.decisions.add(area, "granted", "")
            return grant
        session_id = self.session_id(cookie, now)
        try:
            if session_id is None:
                raise NoSession()
            found = await self._load(session_id, now)
            controls = await self.controls.current(now)
            grant = self._decide(area, found, controls, now)
        except (AccessRefused, RecordingExpired) as refused:
            self.metrics.decisions.add(area, "refused", refused.reason)
            self.metrics.recent.note(f"{area} {refused.reason}")
            if session_id is not None:
                await self._audit_refusal(session_id, refused, ip)
            raise
        except (NoSession, Revoked) as refused:
            reason = "revoked" if isinstance(refused, Revoked) else "no_session"
            self.metrics.decisions.add(area, "refused", reason)
            self.metrics.recent.note(f"{area} {reason}")
            raise
        self.metrics.decisions.add(area, "granted", "")
        if cookie and not found.stale:
            self._remember(cookie, grant, now, found.session, controls)
        return grant

    def _decide(self, area: str, found: Lookup, controls: Controls, now: dt.datetime) -> Grant:
        """The pure decision (`access.decide`) for a session as looked up, under `controls`."""
        return decide(
            area,
            controls.schedule,
            now,
            session=found.session,
            registrant=found.registrant,
            grace=self.settings.end_grace,
            stopped=controls.stopped,
        )

    def _remember(
        self,
        cookie: str,
        grant: Grant,
        now: dt.datetime,
        session: Session | None,
        controls: Controls,
    ) -> None:
        """Keep `grant` for `GRANT_KEPT` at most, and not past anything that could change it:
        the session's or the cookie's end, the next start, end or end of grace of a part,
        the recording's opening or close (exact, by the clock), a change of access made in
        this process or noticed by the session cache's poll, or a new reading of the ops
        controls (at once). A change made on another replica reaches this one's polls, and
        so its decisions, within a quarter second (and a round trip)."""
        if now - self._kept_since > KEPT_SWEEP or now < self._kept_since:
            self._kept.clear()  # all of them, each second: memory follows the viewers
            self._kept_since = now
        ends = [now + GRANT_KEPT, next_change(controls.schedule, now, self.settings.end_grace)]
        if session is not None:
            ends.append(session.expires_at)
        signed = self._cookies.get(cookie)
        if signed is not None:
            ends.append(signed[1] + self.session_lifetime)
        until = min(ends)
        self._kept[(cookie, grant.area)] = _Kept(grant, now, until, self._access(), controls)

    def _access(self) -> tuple[int, int]:
        """What a kept grant is void after: a change of access made in this process, or
        one made elsewhere that this replica's poll noticed."""
        return self.store.local_access_changes(), self.sessions.generation

    async def _load(self, session_id: str, now: dt.datetime | None = None) -> Lookup:
        try:
            found = await self.sessions.get(session_id, now)
        except StoreUnavailable:
            self.metrics.store_errors.inc()
            raise
        if found.stale:
            # Fail open for at most 5 s, and only for a session this replica verified.
            self.metrics.stale_grants.inc()
            now = now or self.clock()
            if self._last_stale_log is None or now - self._last_stale_log > dt.timedelta(minutes=1):
                self._last_stale_log = now  # once a minute, not once per request
                log.warning(
                    "store unavailable: granting from sessions verified in the last 5 s "
                    "(counted in gateway_stale_session_grants_total)"
                )
        return found

    async def _audit_refusal(
        self, session_id: str, refused: AccessRefused | RecordingExpired, ip: str | None
    ) -> None:
        part = getattr(refused, "part", None)
        key = f"refused:{session_id}:{refused.reason}:{part}"
        if key in self._refusals_marked:
            return
        cached = self.sessions.peek(session_id)
        registrant = cached.id if cached else None
        detail = {"reason": refused.reason, "part": part, "session": links.fingerprint(session_id)}
        await self.audit.record_once(key, "access.refused", registrant=registrant, ip=ip, **detail)
        if len(self._refusals_marked) >= MAX_REFUSALS_MARKED:
            self._refusals_marked.clear()  # only saves a store call: record_once de-duplicates
        self._refusals_marked.add(key)
