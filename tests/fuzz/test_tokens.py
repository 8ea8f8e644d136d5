"""Fuzzing the personal-link parser: any text is a LinkRefused or exactly what was signed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.errors import LinkRefused
from gateway.sessions.links import MAX_TOKEN_LENGTH, make_token, read_token
from gateway.sessions.signing import Purpose, signer

A, B = "fuzz-key-A-" + "a" * 20, "fuzz-key-B-" + "b" * 20
LINKS = signer([A], Purpose.LINK)
ROTATED = signer([B, A], Purpose.LINK)  # B signs, both verify
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
registrant_ids = st.text(ALPHABET, min_size=8, max_size=32)
versions = st.integers(min_value=1, max_value=999_999_999)
# Text in the token's own alphabet (plus its separator) reaches the crypto, not just the guards.
token_like = st.text(ALPHABET + ".", max_size=MAX_TOKEN_LENGTH)
any_text = st.one_of(
    st.text(),
    token_like,
    st.text(max_size=5).map(lambda t: t * 10_000),  # huge
    st.binary().map(lambda b: b.decode("latin-1")),
)


def _refused_or_signed(token: str, signed: set[tuple[str, int]]) -> None:
    try:
        found = read_token(ROTATED, token)
    except LinkRefused as refused:
        assert refused.reason == "bad_signature"
        return
    assert found in signed, f"{token!r} was accepted as {found}, which nobody signed"


@settings(max_examples=400)
@given(any_text)
def test_any_text_is_refused_as_a_bad_signature(text: str) -> None:
    _refused_or_signed(text, set())


@settings(max_examples=400)
@given(registrant_ids, versions, st.data())
def test_only_the_exact_signed_token_opens(
    registrant: str, version: int, data: st.DataObject
) -> None:
    """Any edit, insertion, deletion or splice of a real token is refused.

    Also the ones that leave the signature's bytes intact: base64's unused low
    bits in the last character, and characters outside the alphabet that a
    lenient decoder skips, must not give a second spelling of one link.
    """
    key = data.draw(st.sampled_from([LINKS, ROTATED]), label="signed with")
    token = make_token(key, registrant, version)
    assert read_token(ROTATED, token) == (registrant, version)
    # Often the change falls in the signature, where lenient spellings would hide.
    signature_at = token.rindex(".") + 1
    at = data.draw(st.integers(0, len(token)) | st.integers(signature_at, len(token)), label="at")
    cut = data.draw(st.integers(0, 2), label="cut")
    insert = data.draw(
        st.text(ALPHABET, max_size=2) | st.text("!=~*\n", min_size=1, max_size=4) | st.text(),
        label="insert",
    )
    changed = token[:at] + insert + token[at + cut :]
    if changed == token:
        return
    try:
        found = read_token(ROTATED, changed)
    except LinkRefused as refused:
        assert refused.reason == "bad_signature"
        return
    raise AssertionError(f"{changed!r} opens as {found}, like {token!r}")


@settings(max_examples=200)
@given(registrant_ids, versions, registrant_ids, versions)
def test_a_signature_never_carries_over_to_another_payload(
    registrant: str, version: int, other: str, other_version: int
) -> None:
    token = make_token(ROTATED, registrant, version)
    signature = token.rsplit(".", 1)[1]
    forged = f"1.{other}.{other_version}.{signature}"
    _refused_or_signed(forged, {(registrant, version)})
