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
from typing import Any

from itsdangerous import SignatureExpired, Signer, TimestampSigner

from gateway.core.clock import Clock, system_clock

SKEW_SECONDS = 5  # how far ahead another replica's clock may be


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
    """A TimestampSigner whose signing time and age checks read `clock`, not time.time(),
    and that accepts a signature up to `SKEW` from the future: a cookie signed by one
    replica is read by another whose clock may be a little behind (itsdangerous refuses
    any negative age, so a second's boundary between two clocks refused fresh cookies)."""

    def __init__(self, clock: Clock, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock().timestamp())

    def unsign(
        self,
        signed_value: str | bytes,
        max_age: int | None = None,
        return_timestamp: bool = False,
    ) -> Any:
        value, signed_at = super().unsign(signed_value, return_timestamp=True)
        if max_age is not None:
            age = self.get_timestamp() - int(signed_at.timestamp())
            if age > max_age or age < -SKEW_SECONDS:
                raise SignatureExpired(
                    f"Signature age {age} outside [-{SKEW_SECONDS}, {max_age}] seconds",
                    payload=value,
                    date_signed=signed_at,
                )
        return (value, signed_at) if return_timestamp else value


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
