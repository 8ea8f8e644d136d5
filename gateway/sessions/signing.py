"""The one owner of itsdangerous: a signer per purpose, all from `GATEWAY_SECRET_KEYS`.

Each purpose has its own salt, so a value signed for one (a personal link) is
never accepted as another (a session cookie). Keys are given newest first, as
in the environment variable: the first signs and every key verifies, so keys
can be rotated by prepending a new one. (itsdangerous wants the list the other
way round: oldest first, newest last.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum

from itsdangerous import Signer, TimestampSigner


class Purpose(StrEnum):
    LINK = "gateway.link.v1"
    SESSION = "gateway.session.v1"
    CSRF = "gateway.csrf.v1"
    ADMIN = "gateway.admin.v1"
    OIDC_STATE = "gateway.oidc-state.v1"


def _keys(secret_keys: Sequence[str]) -> list[str]:
    if not secret_keys:
        raise ValueError("no secret key: set GATEWAY_SECRET_KEYS")
    return list(reversed(secret_keys))


def signer(secret_keys: Sequence[str], purpose: Purpose) -> Signer:
    """An untimed signer (HMAC-SHA256, URL-safe) for `purpose`."""
    return Signer(
        _keys(secret_keys),
        salt=purpose.value,
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )


def timed_signer(secret_keys: Sequence[str], purpose: Purpose) -> TimestampSigner:
    """Like `signer`, with a signing time checked against a max age on unsign."""
    return TimestampSigner(
        _keys(secret_keys),
        salt=purpose.value,
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )
