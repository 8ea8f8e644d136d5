"""Signed checkpoints of the audit log: the head's hash at a moment, signed with Ed25519.

The hash chain (`gateway.core.chain`) shows that no event was edited, removed or
moved, but not that the newest events were not cut off, nor that the whole log
was not rewritten and resealed. A checkpoint closes both gaps: a small JSON
document `{"version", "seq", "head", "time", "signature"}` kept on another
volume, whose Ed25519 signature (key held outside the store, in
GATEWAY_AUDIT_SIGNING_KEY) covers a domain-separated canonical encoding of the
other four fields. `audit verify` checks every checkpoint with the public
`audit.verify_key`. Keys are base64 of the raw 32-byte Ed25519 keys. Pure but
for `write_checkpoint` and `read_checkpoints`, which touch the folder.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.core.chain import canonical

VERSION = 1
DOMAIN = b"stream-gateway audit checkpoint v1\n"
FIELDS = frozenset({"version", "seq", "head", "time", "signature"})
_HEAD = re.compile(r"^[0-9a-f]{64}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_NAME = re.compile(r"^checkpoint-(\d+)-")


def keygen() -> tuple[str, str]:
    """A new key pair: (private, public), each base64 of the raw 32-byte key."""
    private = Ed25519PrivateKey.generate()
    return _b64(private.private_bytes_raw()), _b64(private.public_key().public_bytes_raw())


def public_key_of(private_b64: str) -> str:
    """The base64 public key belonging to a base64 private key. ValueError if malformed."""
    return _b64(_private_key(private_b64).public_key().public_bytes_raw())


def sign_checkpoint(private_b64: str, seq: int, head: str, time: dt.datetime) -> dict[str, Any]:
    """The checkpoint document for event `seq` whose hash is `head`, taken at `time`.

    `time` must be aware; it is written as UTC ISO 8601 with `Z`. Raises
    ValueError for a malformed key, a seq below 1, a head that is not a
    SHA-256 hex digest, or a naive time.
    """
    key = _private_key(private_b64)
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"checkpoint seq must be a positive integer, got {seq!r}")
    if not isinstance(head, str) or not _HEAD.match(head):
        raise ValueError(f"checkpoint head must be a lowercase SHA-256 hex digest, got {head!r}")
    if time.tzinfo is None:
        raise ValueError("checkpoint time must be an aware datetime")
    stamp = time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    doc: dict[str, Any] = {"version": VERSION, "seq": seq, "head": head, "time": stamp}
    doc["signature"] = _b64(key.sign(_message(doc)))
    return doc


def verify_checkpoint(doc: object, public_b64: str) -> bool:
    """Whether `doc` is a well-formed checkpoint signed by the key `public_b64`.

    False for anything malformed or any field changed since signing; ValueError
    only for a malformed public key (a configuration problem, not a bad checkpoint).
    """
    key = _public_key(public_b64)
    if not well_formed(doc):
        return False
    assert isinstance(doc, dict)  # well_formed checked it; this narrows the type
    try:
        key.verify(base64.b64decode(doc["signature"], validate=True), _message(doc))
    except InvalidSignature:
        return False
    return True


def well_formed(doc: object) -> bool:
    """Whether `doc` has exactly the checkpoint fields, each of the right shape."""
    if not isinstance(doc, dict) or set(doc) != FIELDS:
        return False
    seq, head, time, signature = doc["seq"], doc["head"], doc["time"], doc["signature"]
    return (
        doc["version"] == VERSION
        and type(doc["version"]) is int
        and type(seq) is int
        and seq >= 1
        and isinstance(head, str)
        and bool(_HEAD.match(head))
        and isinstance(time, str)
        and bool(_TIME.match(time))
        and isinstance(signature, str)
        and _decodes_to(signature, 64)
    )


def write_checkpoint(folder: Path, doc: dict[str, Any]) -> Path:
    """Write `doc` into `folder` (created if need be) atomically; return its path.

    The file is `checkpoint-<seq:012d>-<UTC time, compact>.json`, so names sort
    by seq. Written to a temporary file, fsynced, then renamed into place, so a
    crash leaves either the whole checkpoint or none. ValueError if `doc` is
    not well formed.
    """
    if not well_formed(doc):
        raise ValueError("not a well-formed checkpoint document")
    folder.mkdir(parents=True, exist_ok=True)
    compact = re.sub(r"[-:]|\.\d+", "", doc["time"])
    path = folder / f"checkpoint-{doc['seq']:012d}-{compact}.json"
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_dir(folder)
    return path


def read_checkpoints(folder: Path) -> list[tuple[Path, dict[str, Any] | None]]:
    """Every `checkpoint-*.json` in `folder`, by seq: (path, document), or (path, None)
    for a file that cannot be read or is not a well-formed checkpoint. A missing
    folder has none. Signatures are not checked here."""
    if not folder.is_dir():
        return []
    found: list[tuple[int, str, Path, dict[str, Any] | None]] = []
    for path in folder.glob("checkpoint-*.json"):
        doc: dict[str, Any] | None = None
        try:
            parsed = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            parsed = None
        if well_formed(parsed):
            doc = parsed
        named = _NAME.match(path.name)
        seq = doc["seq"] if doc else int(named.group(1)) if named else 0
        found.append((seq, path.name, path, doc))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(path, doc) for _, _, path, doc in found]


def _message(doc: dict[str, Any]) -> bytes:
    fields = {key: doc[key] for key in ("version", "seq", "head", "time")}
    return DOMAIN + canonical(fields).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _decodes_to(text: str, size: int) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) == size
    except (binascii.Error, ValueError):
        return False


def _raw_key(text: object, what: str) -> bytes:
    if isinstance(text, str) and _decodes_to(text.strip(), 32):
        return base64.b64decode(text.strip(), validate=True)
    raise ValueError(f"{what} is not an Ed25519 key (base64 of 32 bytes, as `audit keygen` prints)")


def _private_key(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_raw_key(text, "the audit signing key"))


def _public_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw_key(text, "audit.verify_key"))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); platforms that cannot open a folder skip it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename has happened
    finally:
        os.close(fd)
