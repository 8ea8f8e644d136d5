"""Registrants in SQLite (table `registrants`; `n` is creation order).

`email_key` is `email.lower()`, unique, what lookups by address compare with. A link
change is an access change, logged in the same transaction (`sessions.note_change`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gateway.core.records import Registrant
from gateway.store.codec import decode_time, encode_time, stored_time
from gateway.store.sqlite.connection import SqliteBase
from gateway.store.sqlite.sessions import note_change

_REGISTRANT_BY_ID = (
    "SELECT id, email, name, organisation, created_at, link_version, revoked, revision"
    " FROM registrants WHERE id = ?"
)
_REGISTRANT_BY_EMAIL = (
    "SELECT id, email, name, organisation, created_at, link_version, revoked, revision"
    " FROM registrants WHERE email_key = ?"
)
_ALL_REGISTRANTS = (
    "SELECT id, email, name, organisation, created_at, link_version, revoked, revision"
    " FROM registrants ORDER BY n"
)
_INSERT_REGISTRANT = (
    "INSERT INTO registrants (id, email, email_key, name, organisation, created_at,"
    " link_version, revoked, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CHANGE_LINK = (  # a reissue bumps link_version (? = 1), a revocation set or lifted does not
    "UPDATE registrants SET link_version = link_version + ?, revoked = ?,"
    " revision = revision + 1 WHERE id = ?"
    " RETURNING id, email, name, organisation, created_at, link_version, revoked, revision"
)
_RESTORE_LINK = (
    "UPDATE registrants SET revision = ?, link_version = ?, revoked = ?"
    " WHERE id = ? AND revision < ?"
)


def _registrant(row: Sequence[Any]) -> Registrant:
    rid, email, name, organisation, created_at, link_version, revoked, revision = row
    return Registrant(
        rid, email, name, organisation, decode_time(created_at), link_version, bool(revoked),
        revision,
    )  # fmt: skip


class RegistrantsMixin(SqliteBase):
    async def add_registrant(self, registrant: Registrant) -> tuple[Registrant, bool]:
        stored = replace(registrant, created_at=stored_time(registrant.created_at))

        def work(conn: sqlite3.Connection) -> tuple[Registrant, bool]:
            row = conn.execute(_REGISTRANT_BY_EMAIL, (registrant.email.lower(),)).fetchone()
            if row is not None:
                return _registrant(row), False
            if conn.execute("SELECT 1 FROM registrants WHERE id = ?", (registrant.id,)).fetchone():
                raise ValueError(f"registrant id {registrant.id!r} is already in use")
            conn.execute(
                _INSERT_REGISTRANT,
                (stored.id, stored.email, stored.email.lower(), stored.name, stored.organisation,
                 encode_time(stored.created_at), stored.link_version, int(stored.revoked),
                 stored.revision),
            )  # fmt: skip
            return stored, True

        return await self._transaction(work)

    async def registrant(self, registrant_id: str) -> Registrant | None:
        row = await self._one(_REGISTRANT_BY_ID, registrant_id)
        return None if row is None else _registrant(row)

    async def registrant_by_email(self, email: str) -> Registrant | None:
        row = await self._one(_REGISTRANT_BY_EMAIL, email.lower())
        return None if row is None else _registrant(row)

    async def registrants(self) -> list[Registrant]:
        return [_registrant(row) for row in await self._all(_ALL_REGISTRANTS)]

    async def bump_link(self, registrant_id: str, *, revoked: bool) -> Registrant:
        return await self._change_link(registrant_id, bump=True, revoked=revoked)

    async def set_revoked(self, registrant_id: str, *, revoked: bool) -> Registrant:
        return await self._change_link(registrant_id, bump=False, revoked=revoked)

    async def _change_link(self, registrant_id: str, *, bump: bool, revoked: bool) -> Registrant:
        def work(conn: sqlite3.Connection) -> Registrant:
            row = conn.execute(_CHANGE_LINK, (int(bump), int(revoked), registrant_id)).fetchone()
            if row is None:
                raise KeyError(registrant_id)
            note_change(conn, registrant_id)
            return _registrant(row)

        registrant = await self._transaction(work)
        self._access_changes += 1
        return registrant

    async def restore_link(
        self, registrant_id: str, *, revision: int, version: int, revoked: bool
    ) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            params = (revision, version, int(revoked), registrant_id, revision)
            changed = conn.execute(_RESTORE_LINK, params).rowcount
            if changed:
                note_change(conn, registrant_id)
            return bool(changed)

        restored = await self._transaction(work)
        if restored:
            self._access_changes += 1
        return restored
