"""The audit log's hash chain: canonical JSON, sealing an event, checking a run of events.

Pure. Each event's `hash` is SHA-256 over a domain-separation prefix and the
canonical JSON of every other field, `prev` included, so editing, deleting or
reordering any event breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

DOMAIN = b"stream-gateway audit event v1\n"
GENESIS = "0" * 64


@dataclass(frozen=True)
class Draft:
    """An event before the store gives it its place in the chain."""

    ts: str
    type: str
    registrant: str | None
    actor: str
    ip: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Event:
    seq: int
    ts: str
    type: str
    registrant: str | None
    actor: str
    ip: str | None
    detail: dict[str, Any]
    prev: str
    hash: str

    def to_json(self) -> str:
        return canonical(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Event:
        return cls(**json.loads(text))


def canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(fields: dict[str, Any]) -> str:
    body = {k: v for k, v in fields.items() if k != "hash"}
    return hashlib.sha256(DOMAIN + canonical(body).encode()).hexdigest()


def seal(draft: Draft, seq: int, prev: str) -> Event:
    """Give `draft` its sequence number and link it to the previous event's hash."""
    fields = {"seq": seq, "prev": prev, **asdict(draft)}
    return Event(**fields, hash=digest(fields))


def first_break(events: Iterable[Event]) -> tuple[int, str] | None:
    """The first event (seq, reason) that does not follow from its predecessor, or None."""
    expected_seq, expected_prev = 1, GENESIS
    for event in events:
        if event.seq != expected_seq:
            return event.seq, f"expected seq {expected_seq}"
        if event.prev != expected_prev:
            return event.seq, "prev does not match the previous event's hash"
        if digest(asdict(event)) != event.hash:
            return event.seq, "hash does not match the event's content"
        expected_seq, expected_prev = event.seq + 1, event.hash
    return None
