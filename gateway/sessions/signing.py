"""Every itsdangerous signer is built here: one per purpose, all from `GATEWAY_SECRET_KEYS`.

(Other modules import itsdangerous only for its types and `BadSignature`.) A timed
signer reads the injected clock, so ages (sessions, CSRF tokens, the console's
sign-in and session) are checked against the same `now` as every decision.

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

from gateway.core.clock import Clock, system_clock


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


class _ClockedSigner(TimestampSigner):
    """A TimestampSigner whose signing time and age checks read `clock`, not time.time()."""

    def __init__(self, clock: Clock, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())


def timed_signer(
    secret_keys: Sequence[str], purpose: Purpose, clock: Clock = system_clock
) -> TimestampSigner:
    """Like `signer`, with a signing time (by `clock`) checked against a max age on unsign."""
    return _ClockedSigner(
        clock,
        _keys(secret_keys),
        salt=purpose.value,
        key_derivation="hmac",
        digest_method=hashlib.sha256,
    )
