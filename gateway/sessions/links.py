"""Personal links: a short signed token naming a registrant and a link version.

The token carries no times: the schedule stays on the server, so ops can move a
window without mailing anyone again. Revoking or reissuing bumps the version,
which supersedes every older token. Format (versioned so it can change):
`1.<registrant id>.<link version>.<signature>`, URL-safe, about 62 characters.
"""

from __future__ import annotations

import hashlib
import re

from itsdangerous import BadSignature, Signer
from itsdangerous.encoding import base64_decode, base64_encode

from gateway.core.errors import LinkRefused

FORMAT = "1"
MAX_TOKEN_LENGTH = 120  # anything longer is garbage; refused before any crypto
_PAYLOAD = re.compile(r"^1\.([A-Za-z0-9_-]{8,32})\.([1-9][0-9]{0,8})$")


def make_token(signer: Signer, registrant_id: str, version: int) -> str:
    return signer.sign(f"{FORMAT}.{registrant_id}.{version}").decode("ascii")


def read_token(signer: Signer, token: str) -> tuple[str, int]:
    """The (registrant id, link version) a token names.

    Raises LinkRefused("bad_signature") for anything not signed by one of our
    keys for this purpose: tampered, truncated, foreign salt, garbage.
    Checking the registrant and version against the store is the caller's.
    """
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise LinkRefused("bad_signature")
    try:
        payload = signer.unsign(token).decode("ascii")
    except (BadSignature, UnicodeDecodeError):
        raise LinkRefused("bad_signature") from None
    # One spelling per link: the lenient base64 decoder above skips stray characters
    # and ignores the last character's spare bits, so re-encode and compare.
    signature = token.rpartition(".")[2]
    if base64_encode(base64_decode(signature)).decode("ascii") != signature:
        raise LinkRefused("bad_signature")
    match = _PAYLOAD.match(payload)
    if match is None:
        raise LinkRefused("bad_signature")
    return match.group(1), int(match.group(2))


def link_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/w/{token}"


def fingerprint(token: str) -> str:
    """A short name for a token in logs and audit events (never the token itself)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:12]


def evicted_key(session_id: str) -> str:
    """The stored mark of a session ended beyond max_devices (by its fingerprint), so a
    reload of the page that was pushed off can still say why."""
    return f"session.evicted:{fingerprint(session_id)}"


def opened_key(registrant_id: str) -> str:
    """The stored value holding the newest link version the registrant opened (the
    console shows it without reading the audit log)."""
    return f"link.opened:{registrant_id}"
