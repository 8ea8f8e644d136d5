"""Whether an encoder may publish: its stream key, and where it connects from. Pure."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address


def refusal(
    key: str,
    address: str,
    keys: Sequence[str],
    networks: Sequence[IPv4Network | IPv6Network],
) -> str | None:
    """None to accept; else why not: `no_keys` (none configured: nobody may publish),
    `not_allowed` (from outside `networks`, when any are given) or `wrong_key`. Every key
    is compared in constant time, whichever matches."""
    if not keys:
        return "no_keys"
    if networks:
        try:
            where = ip_address(address.strip())
        except ValueError:
            return "not_allowed"
        if where.version == 6 and where.ipv4_mapped is not None:  # ::ffff:10.1.2.3, dual stack
            where = where.ipv4_mapped
        if not any(where in network for network in networks):
            return "not_allowed"
    matches = [hmac.compare_digest(key.encode(), k.encode()) for k in keys]
    return None if any(matches) else "wrong_key"


def key_tail(key: str) -> str:
    """How a key is named to people: its last four characters (`…a1f2`)."""
    return "…" + key[-4:] if len(key) > 8 else "…"
