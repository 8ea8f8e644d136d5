"""Registrants and their links: adding, revoking and reissuing, each audited.

Used by the command line now and by registration and the ops console later, so
that every path through which a registrant or link changes is the same code.
"""

from __future__ import annotations

import datetime as dt
import secrets
import unicodedata
from functools import cached_property

from email_validator import EmailNotValidError, validate_email
from itsdangerous import Signer

from gateway.audit.journal import AccessJournal
from gateway.audit.log import AuditLog
from gateway.core.errors import UsageError
from gateway.core.records import Registrant
from gateway.sessions import links
from gateway.sessions.signing import Purpose, signer
from gateway.settings import Settings
from gateway.store import Store

MAX_NAME = 200
MAX_ORGANISATION = 200


def clean_email(raw: str) -> str:
    """A syntactically valid address (no DNS lookups), or UsageError saying why not."""
    if "\r" in raw or "\n" in raw:
        raise UsageError("the email address contains a line break")
    if UNREADABLE in raw:
        raise UsageError(f"invalid email address {raw!r}: {UNREADABLE_WHY}")
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise UsageError(f"invalid email address {raw!r}: {exc}") from None


# What a decoder puts for bytes that were not UTF-8 (a form or file in another encoding):
# never a person's name or address, and storing it would lose what was meant for good.
UNREADABLE = "\ufffd"
UNREADABLE_WHY = "contains U+FFFD, which stands for bytes that were not UTF-8 text"

# Bidirectional overrides and isolates: they turn how a name reads around (U+202E).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be a name or an organisation, or None.

    Refused: control characters (CR, LF, tab, NUL, escape...), line and paragraph
    separators, bidirectional overrides, U+FFFD (bytes that were not text), and `=?`,
    which starts an RFC 2047 encoded word: mail software decodes those, and interpreters
    without the CVE-2024-6923 fix wrote the decoded line breaks into the To: header.
    """
    if any(
        unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in BIDI_CONTROLS for c in value
    ):
        return "contains a line break or a control character"
    if "=?" in value:
        return "contains “=?”, which mail software reads as encoded text"
    if UNREADABLE in value:
        return UNREADABLE_WHY
    return None


def clean_text(raw: str, field: str, limit: int, *, required: bool) -> str:
    """`raw` with its blanks folded, or UsageError naming `field` and what is wrong."""
    problem = text_problem(raw.strip())
    if problem:
        raise UsageError(f"{field} {problem}")
    value = " ".join(raw.split())
    if required and not value:
        raise UsageError(f"{field} is required")
    if len(value) > limit:
        raise UsageError(f"{field} is longer than {limit} characters")
    return value


def new_id() -> str:
    """A registrant's id: 72 random bits as URL-safe text, never starting with "-". Exports
    name registrants by id, and a cell starting with "-" is quoted ('-...) lest a
    spreadsheet run it as a formula (`formula_safe`): such an id would not be itself in a
    CSV. (One draw in 64 is drawn again.)"""
    while (drawn := secrets.token_urlsafe(9)).startswith("-"):
        pass
    return drawn


class Registry:
    def __init__(self, settings: Settings, store: Store, audit: AuditLog) -> None:
        self.settings = settings
        self.store = store
        self.audit = audit
        self.journal = AccessJournal(settings.audit.spool_file.parent / "access-journal.jsonl")

    @cached_property
    def signer(self) -> Signer:
        """Raises ValueError when no secret key is set (needed only to make links)."""
        return signer([k.reveal() for k in self.settings.secrets.secret_keys], Purpose.LINK)

    def link(self, registrant: Registrant) -> str:
        token = links.make_token(self.signer, registrant.id, registrant.link_version)
        return links.link_url(self.settings.event.public_url, token)

    async def add(
        self,
        *,
        email: str,
        name: str,
        organisation: str,
        now: dt.datetime,
        actor: str,
        ip: str | None = None,
    ) -> tuple[Registrant, bool]:
        """Register someone (or find them by address, case-insensitively): (registrant, created)."""
        candidate = Registrant(
            id=new_id(),
            email=clean_email(email),
            name=clean_text(name, "name", MAX_NAME, required=True),
            organisation=clean_text(organisation, "organisation", MAX_ORGANISATION, required=False),
            created_at=now,
        )
        registrant, created = await self.store.add_registrant(candidate)
        if created:
            await self.audit.record(
                "registration.created", registrant=registrant.id, actor=actor, ip=ip
            )
            await self.audit.record(
                "link.issued",
                registrant=registrant.id,
                actor=actor,
                version=registrant.link_version,
            )
        return registrant, created

    async def find(self, email: str) -> Registrant:
        registrant = await self.store.registrant_by_email(email.strip())
        if registrant is None:
            raise UsageError(f"no registrant with the address {email.strip()!r}")
        return registrant

    async def show(self, email: str, *, actor: str) -> str:
        """The registrant's current link, for ops to pass on by hand; audited (`link.shown`)."""
        registrant = await self.find(email)
        await self.audit.record(
            "link.shown", registrant=registrant.id, actor=actor, version=registrant.link_version
        )
        return self.link(registrant)

    async def revoke(self, email: str, *, actor: str, reason: str | None = None) -> Registrant:
        """Stop every link and session of the registrant (they get 403 from now on).
        The link keeps its version, so `reinstate` can give the same link back.
        Revoking someone already revoked changes nothing (no event)."""
        found = await self.find(email)
        if found.revoked:
            return found
        return await self._set_revoked(found, True, "link.revoked", actor, reason)

    async def reinstate(self, email: str, *, actor: str, reason: str | None = None) -> Registrant:
        """Lift a revocation: the same link, and the sessions opened with it, work again.
        Reinstating someone not revoked changes nothing (no event)."""
        found = await self.find(email)
        if not found.revoked:
            return found
        return await self._set_revoked(found, False, "link.reinstated", actor, reason)

    async def _set_revoked(
        self, found: Registrant, revoked: bool, kind: str, actor: str, reason: str | None
    ) -> Registrant:
        registrant = await self.store.set_revoked(found.id, revoked=revoked)
        self.journal.add(registrant)
        await self.audit.record(
            kind,
            registrant=registrant.id,
            actor=actor,
            version=registrant.link_version,
            **({"reason": reason} if reason else {}),
        )
        return registrant

    async def reissue(self, email: str, *, actor: str, reason: str | None = None) -> Registrant:
        """A new link; every older link and the sessions opened with them stop working.

        Reissuing also lifts a revocation: it is how ops give access back.
        """
        old = await self.find(email)
        registrant = await self.store.bump_link(old.id, revoked=False)
        self.journal.add(registrant)
        await self.store.end_sessions(registrant.id)
        await self.audit.record(
            "link.issued",
            registrant=registrant.id,
            actor=actor,
            version=registrant.link_version,
            reissued=True,
            was_revoked=old.revoked,
            **({"reason": reason} if reason else {}),
        )
        return registrant
