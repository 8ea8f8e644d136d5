"""Signed checkpoints of the audit log, chained: each signs the log's head and the one before.

The hash chain (`gateway.core.chain`) shows that no event was edited, removed or
moved, but not that the newest events were not cut off, nor that the whole log
was not rewritten and resealed. A checkpoint closes both gaps: a small JSON
document `{"version", "number", "previous", "seq", "head", "time", "signature"}`
kept on another volume, whose Ed25519 signature (key held outside the store, in
GATEWAY_AUDIT_SIGNING_KEY) covers a domain-separated canonical encoding of the
other fields. Checkpoints are numbered 1, 2, 3... and each names the SHA-256 of
the one before (`previous`), so deleting one (the newest included, when the log
records it) or editing one shows. Each is written twice: as its own file, and
appended as a line to `published.jsonl` in the same folder, which is only ever
appended to. `audit verify` checks them with the public `audit.verify_key`.
Keys are base64 of the raw 32-byte Ed25519 keys. Pure but for
`write_checkpoint`, `read_checkpoints` and `read_published`, which touch the folder.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.core.chain import canonical

VERSION = 2
DOMAIN = b"stream-gateway audit checkpoint v2\n"
SIGNED = ("version", "number", "previous", "seq", "head", "time")
FIELDS = frozenset({*SIGNED, "signature"})
NONE_BEFORE = "0" * 64  # the `previous` of checkpoint 1
PUBLISHED = "published.jsonl"
_HEAD = re.compile(r"^[0-9a-f]{64}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_NAME = re.compile(r"^checkpoint-(\d+)")


def keygen() -> tuple[str, str]:
    """A new key pair: (private, public), each base64 of the raw 32-byte key."""
    private = Ed25519PrivateKey.generate()
    return _b64(private.private_bytes_raw()), _b64(private.public_key().public_bytes_raw())


def public_key_of(private_b64: str) -> str:
    """The base64 public key belonging to a base64 private key. ValueError if malformed."""
    return _b64(_private_key(private_b64).public_key().public_bytes_raw())


def sign_checkpoint(
    private_b64: str,
    seq: int,
    head: str,
    time: dt.datetime,
    *,
    after: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint document for event `seq` whose hash is `head`, taken at `time`,
    following the checkpoint `after` (None: the first).

    `time` must be aware; it is written as UTC ISO 8601 with `Z`. Raises
    ValueError for a malformed key, a seq below 1, a head that is not a
    SHA-256 hex digest, a naive time, or an `after` that is not a checkpoint.
    """
    key = _private_key(private_b64)
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise ValueError(f"checkpoint seq must be a positive integer, got {seq!r}")
    if not isinstance(head, str) or not _HEAD.match(head):
        raise ValueError(f"checkpoint head must be a lowercase SHA-256 hex digest, got {head!r}")
    if time.tzinfo is None:
        raise ValueError("checkpoint time must be an aware datetime")
    if after is not None and not well_formed(after):
        raise ValueError("the previous checkpoint is not a well-formed checkpoint document")
    stamp = time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    doc: dict[str, Any] = {
        "version": VERSION,
        "number": 1 if after is None else after["number"] + 1,
        "previous": NONE_BEFORE if after is None else checkpoint_hash(after),
        "seq": seq,
        "head": head,
        "time": stamp,
    }
    doc["signature"] = _b64(key.sign(_message(doc)))
    return doc


def checkpoint_hash(doc: dict[str, Any]) -> str:
    """SHA-256 (hex) of the whole checkpoint, signature included: what the next one names."""
    return hashlib.sha256(DOMAIN + canonical(doc).encode()).hexdigest()


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
    number, previous = doc["number"], doc["previous"]
    return (
        doc["version"] == VERSION
        and type(doc["version"]) is int
        and type(number) is int
        and number >= 1
        and isinstance(previous, str)
        and bool(_HEAD.match(previous))
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
    """Write `doc` into `folder` (created if need be) and append it to `published.jsonl`;
    return the file's path.

    The file is `checkpoint-<number:06d>.json`, so names sort by number. Written
    to a temporary file, fsynced, then linked into place only if no file has that
    number (FileExistsError: another replica sharing the folder wrote it first),
    so a crash leaves either the whole checkpoint or none; the published line is
    appended (O_APPEND) and fsynced after it. ValueError if `doc` is not well formed.
    """
    if not well_formed(doc):
        raise ValueError("not a well-formed checkpoint document")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"checkpoint-{doc['number']:06d}.json"
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".checkpoint-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(temp, path)  # never replaces: one checkpoint per number
    finally:
        Path(temp).unlink(missing_ok=True)
    _fsync_dir(folder)
    line = (canonical(doc) + "\n").encode()
    published = os.open(folder / PUBLISHED, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(published, line)
        os.fsync(published)
    finally:
        os.close(published)
    return path


def read_checkpoints(folder: Path) -> list[tuple[Path, dict[str, Any] | None]]:
    """Every `checkpoint-*.json` in `folder`, by number: (path, document), or (path, None)
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
        number = doc["number"] if doc else int(named.group(1)) if named else 0
        found.append((number, path.name, path, doc))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(path, doc) for _, _, path, doc in found]


def read_published(folder: Path) -> list[tuple[int, dict[str, Any] | None]]:
    """The lines of `published.jsonl`: (line number, document), or (line, None) for a
    line that is not a well-formed checkpoint (a crash may leave a last partial line)."""
    try:
        text = (folder / PUBLISHED).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found: list[tuple[int, dict[str, Any] | None]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        found.append((number, parsed if well_formed(parsed) else None))
    return found


def _message(doc: dict[str, Any]) -> bytes:
    return DOMAIN + canonical({key: doc[key] for key in SIGNED}).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _decodes_to(text: str, size: int) -> bool:
    try:
        return len(base64.b64decode(text, validate=True)) == size
    except (binascii.Error, ValueError):
        return False


def is_key(text: str) -> bool:
    """Whether `text` can be an Ed25519 key here: base64 of 32 bytes, as `keygen` prints
    (what the config's `audit.verify_key` is checked with at start)."""
    return _decodes_to(text.strip(), 32)


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
