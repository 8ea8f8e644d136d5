"""Registrants in Redis: `reg:<id>` (hash), `email:<address.lower()>` (its id) and
`registrants` (ids in creation order). A link change is an access change: its script
also bumps the access epoch and logs it (`note_change.lua`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import cast

import redis.exceptions as rex

from gateway.core.records import Registrant
from gateway.store.codec import decode_time, encode_time, stored_time
from gateway.store.redis.connection import RedisBase, pairs


def _registrant(fields: Mapping[str, str]) -> Registrant:
    return Registrant(
        id=fields["id"],
        email=fields["email"],
        name=fields["name"],
        organisation=fields["organisation"],
        created_at=decode_time(fields["created_at"]),
        link_version=int(fields["link_version"]),
        revoked=fields["revoked"] == "1",
        revision=int(fields.get("revision", fields["link_version"])),  # older hashes: none
    )


class RegistrantsMixin(RedisBase):
    async def add_registrant(self, registrant: Registrant) -> tuple[Registrant, bool]:
        stored = replace(registrant, created_at=stored_time(registrant.created_at))
        fields = {
            "id": stored.id,
            "email": stored.email,
            "name": stored.name,
            "organisation": stored.organisation,
            "created_at": encode_time(stored.created_at),
            "link_version": str(stored.link_version),
            "revoked": "1" if stored.revoked else "0",
            "revision": str(stored.revision),
        }
        keys = [
            self._key("email", stored.email.lower()),
            self._key("reg", stored.id),
            self._key("registrants"),
        ]
        args = [self._key("reg", ""), stored.id, *(x for kv in fields.items() for x in kv)]
        async with self._reachable():
            try:
                created, existing = await self._scripts["add_registrant"](keys=keys, args=args)
            except rex.ResponseError as exc:
                if "registrant id in use" in str(exc):
                    raise ValueError(f"registrant id {stored.id!r} is already in use") from None
                raise
        return (stored, True) if created else (_registrant(pairs(existing)), False)

    async def registrant(self, registrant_id: str) -> Registrant | None:
        async with self._reachable():
            fields = cast(
                dict[str, str], await self._redis.hgetall(self._key("reg", registrant_id))
            )
        return _registrant(fields) if fields else None

    async def registrant_by_email(self, email: str) -> Registrant | None:
        keys = [self._key("email", email.lower())]
        async with self._reachable():
            flat = await self._scripts["registrant_by_email"](
                keys=keys, args=[self._key("reg", "")]
            )
        return _registrant(pairs(flat)) if flat else None

    async def registrants(self) -> list[Registrant]:
        keys = [self._key("registrants")]
        async with self._reachable():
            rows = await self._scripts["all_registrants"](keys=keys, args=[self._key("reg", "")])
        return [_registrant(pairs(flat)) for flat in rows if flat]

    async def bump_link(self, registrant_id: str, *, revoked: bool) -> Registrant:
        return await self._change_link(registrant_id, bump=True, revoked=revoked)

    async def set_revoked(self, registrant_id: str, *, revoked: bool) -> Registrant:
        return await self._change_link(registrant_id, bump=False, revoked=revoked)

    async def _change_link(self, registrant_id: str, *, bump: bool, revoked: bool) -> Registrant:
        keys = [self._key("reg", registrant_id), *self._access_keys()]
        args = ["1" if bump else "0", "1" if revoked else "0", registrant_id]
        async with self._reachable():
            flat = await self._scripts["change_link"](keys=keys, args=args)
        if not flat:
            raise KeyError(registrant_id)
        self._access_changes += 1
        return _registrant(pairs(flat))

    async def restore_link(
        self, registrant_id: str, *, revision: int, version: int, revoked: bool
    ) -> bool:
        keys = [self._key("reg", registrant_id), *self._access_keys()]
        args = [str(revision), str(version), "1" if revoked else "0", registrant_id]
        async with self._reachable():
            restored = bool(await self._scripts["restore_link"](keys=keys, args=args))
        if restored:
            self._access_changes += 1
        return restored
