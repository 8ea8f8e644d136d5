from __future__ import annotations

import datetime as dt

import pytest
from itsdangerous import BadSignature, SignatureExpired

from gateway.core.clock import FrozenClock
from gateway.core.errors import LinkRefused
from gateway.sessions.links import fingerprint, link_url, make_token, read_token
from gateway.sessions.signing import Purpose, signer, timed_signer

A, B = "key-A-" + "a" * 20, "key-B-" + "b" * 20
RID = "Xyz123abcDEF"


def test_a_token_is_short_urlsafe_and_names_registrant_and_version() -> None:
    token = make_token(signer([A], Purpose.LINK), RID, 7)
    assert len(token) < 80
    assert all(c.isalnum() or c in "-_." for c in token)
    assert read_token(signer([A], Purpose.LINK), token) == (RID, 7)
    assert link_url("https://stream.example.org/", token) == f"https://stream.example.org/w/{token}"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],  # truncated
        lambda t: t[:-3] + ("AAA" if not t.endswith("AAA") else "BBB"),  # tampered signature
        lambda t: t.replace(".7.", ".8."),  # tampered version
        lambda t: "x" + t,  # prefixed
        lambda t: t + "x",
        lambda t: "",
        lambda t: "garbage",
        lambda t: "A" * 10_000,
        lambda t: "ääää." + t,
        lambda t: t.split(".", 1)[1],  # no format prefix
    ],
)
def test_any_change_to_a_token_is_a_bad_signature(mangle: object) -> None:
    token = make_token(signer([A], Purpose.LINK), RID, 7)
    with pytest.raises(LinkRefused) as refused:
        read_token(signer([A], Purpose.LINK), mangle(token))  # type: ignore[operator]
    assert refused.value.reason == "bad_signature"


def test_a_value_signed_for_another_purpose_is_refused() -> None:
    forged = timed_signer([A], Purpose.SESSION).sign(f"1.{RID}.1").decode()
    with pytest.raises(LinkRefused):
        read_token(signer([A], Purpose.LINK), forged)
    same_payload = signer([A], Purpose.SESSION).sign(f"1.{RID}.1").decode()
    with pytest.raises(LinkRefused):
        read_token(signer([A], Purpose.LINK), same_payload)


def test_key_rotation_first_key_signs_all_keys_verify() -> None:
    old = make_token(signer([A], Purpose.LINK), RID, 1)
    rotated = signer([B, A], Purpose.LINK)
    assert read_token(rotated, old) == (RID, 1)
    new = make_token(rotated, RID, 1)
    assert read_token(signer([B], Purpose.LINK), new) == (RID, 1)
    with pytest.raises(LinkRefused):
        read_token(signer([B], Purpose.LINK), old)
    with pytest.raises(LinkRefused):
        read_token(signer([A], Purpose.LINK), new)


def test_a_fingerprint_names_a_token_without_revealing_it() -> None:
    token = make_token(signer([A], Purpose.LINK), RID, 1)
    assert len(fingerprint(token)) == 12 and fingerprint(token) not in token


def test_a_timed_signature_ages_by_the_injected_clock_not_the_wall_clock() -> None:
    clock = FrozenClock(dt.datetime(2021, 11, 18, 8, 0, tzinfo=dt.UTC))  # years ago
    signed = timed_signer([A], Purpose.CSRF, clock).sign("value")
    clock.advance(seconds=60)
    assert timed_signer([A], Purpose.CSRF, clock).unsign(signed, max_age=60) == b"value"
    clock.advance(seconds=1)
    with pytest.raises(SignatureExpired):
        timed_signer([A], Purpose.CSRF, clock).unsign(signed, max_age=60)


def test_another_replicas_clock_a_little_ahead_is_accepted_far_ahead_is_not() -> None:
    here = FrozenClock(dt.datetime(2021, 11, 18, 8, 0, 0, 999_000, tzinfo=dt.UTC))
    ahead = FrozenClock(here() + dt.timedelta(seconds=1))  # across a second's boundary
    signed = timed_signer([A], Purpose.SESSION, ahead).sign("sid")
    assert timed_signer([A], Purpose.SESSION, here).unsign(signed, max_age=60) == b"sid"
    far = FrozenClock(here() + dt.timedelta(seconds=30))
    with pytest.raises(SignatureExpired):
        timed_signer([A], Purpose.SESSION, here).unsign(
            timed_signer([A], Purpose.SESSION, far).sign("sid"), max_age=60
        )
    with pytest.raises(BadSignature):  # a wrong signature is still refused as such
        timed_signer([A], Purpose.SESSION, here).unsign(signed[:-2] + b"xx", max_age=60)
