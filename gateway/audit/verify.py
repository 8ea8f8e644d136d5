"""Verifying the audit log: the hash chain end to end, and the signed checkpoints against it.

`verify` reads the log a page at a time (memory stays bounded however long it
is), recomputes every hash and link, and compares each checkpoint's head with
the event at its seq. Together they detect an edited event (any byte), a
deleted or reordered one, a log rewritten and resealed, and a truncated tail
(a checkpoint beyond the last event). Without a checkpoint folder only the
chain is checked, and the report says a truncated tail cannot be detected.
A stored event that cannot even be read back (corrupt JSON, bytes that are not
UTF-8) is reported at its seq, not raised. `checkpoint` signs the current head
of a log that verifies.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.audit import checkpoints
from gateway.core.chain import GENESIS, Event, digest
from gateway.core.clock import Clock
from gateway.core.errors import GatewayError, StoreUnavailable
from gateway.store import Store

PAGE = 1000
UNDETECTABLE = "a truncated tail cannot be detected"
NO_CHECKPOINT_DIR = f"audit.checkpoint_dir is not set: {UNDETECTABLE}"
NO_VERIFY_KEY = "checkpoints exist but audit.verify_key is not set"
PROBE_KEY = "audit.verify.probe"  # read, never written: tells an outage from a corrupt row

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    """What `verify` found.

    `events_valid`: events that verified before the first failure (all of them
    when the chain is intact). `checkpoints_valid`: checkpoints whose signature
    verified and whose head matched its event. `first_failure`: the seq of the
    first bad (or first missing) event, or None when the problem is not an
    event's (a bad signature, a missing key). `reason`: why, or None when all
    is intact. `note`: a limit of the check that is not a failure. `head`:
    (seq, hash) of the last event verified, None for an empty log.
    """

    events_valid: int
    checkpoints_valid: int
    first_failure: int | None = None
    reason: str | None = None
    note: str | None = None
    head: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


class ChainBroken(GatewayError):
    """The audit log does not verify, so it will not be checkpointed."""

    def __init__(self, report: Report) -> None:
        where = f"at seq {report.first_failure}: " if report.first_failure is not None else ""
        super().__init__(f"the audit log does not verify {where}{report.reason}")
        self.report = report


class _Links:
    """The chain's running state: which seq and prev the next event must have."""

    def __init__(self) -> None:
        self.seq, self.prev = 1, GENESIS

    def check(self, event: Event) -> str | None:
        """Why `event` cannot be the next one, or None (and then it is taken)."""
        if type(event.seq) is not int or event.seq != self.seq:
            return f"expected seq {self.seq}, found seq {event.seq!r} (deleted or moved)"
        if event.prev != self.prev:
            return "prev does not match the previous event's hash (deleted or moved)"
        if not isinstance(event.hash, str) or digest(asdict(event)) != event.hash:
            return "hash does not match the event's content (edited)"
        self.seq, self.prev = event.seq + 1, event.hash
        return None


@dataclass(frozen=True)
class _Checkpoints:
    """The trusted checkpoints by seq, or why there are none to trust."""

    heads: dict[int, list[tuple[str, str]]]  # seq -> [(file name, head)]
    problem: str | None
    note: str | None


def _load(folder: Path | None, verify_key: str | None) -> _Checkpoints:
    if folder is None:
        return _Checkpoints({}, None, NO_CHECKPOINT_DIR)
    found = checkpoints.read_checkpoints(folder)
    if not found:
        return _Checkpoints({}, None, f"no checkpoint in {folder} yet: {UNDETECTABLE}")
    if not verify_key:
        return _Checkpoints({}, NO_VERIFY_KEY, None)
    heads: dict[int, list[tuple[str, str]]] = {}
    problem = None
    for path, doc in found:
        try:
            good = doc is not None and checkpoints.verify_checkpoint(doc, verify_key)
        except ValueError as exc:
            return _Checkpoints({}, str(exc), None)
        if doc is None:
            problem = problem or f"checkpoint {path.name} is unreadable or malformed"
        elif not good:
            problem = problem or f"checkpoint {path.name} has a bad signature"
        else:
            heads.setdefault(doc["seq"], []).append((path.name, doc["head"]))
    return _Checkpoints(heads, problem, None)


async def _read_page(store: Store, after: int, limit: int) -> tuple[list[Event], str | None]:
    """Up to `limit` events after seq `after`, halving the page around a row that cannot
    be read: (events read, why the next one cannot be read, or None). Raises
    StoreUnavailable only when the store itself does not answer."""
    try:
        return await store.audit_events(after_seq=after, limit=limit), None
    except Exception as exc:  # any error here may be one corrupt row: find it
        if isinstance(exc, StoreUnavailable):  # a corrupt row, or really down? Ask elsewhere.
            await store.get_value(PROBE_KEY)
        if limit > 1:
            half = limit // 2
            first, problem = await _read_page(store, after, half)
            if problem is not None or len(first) < half or type(first[-1].seq) is not int:
                return first, problem  # a bad seq: the caller stops at it anyway
            rest, problem = await _read_page(store, first[-1].seq, limit - half)
            return first + rest, problem
        # The row itself, or the store? A read elsewhere tells them apart.
        await store.get_value(PROBE_KEY)
        detail = " ".join(str(exc).split())  # one line, whatever bytes the row holds
        if len(detail) > 120:
            detail = detail[:117] + "..."
        return [], f"the stored event cannot be read ({type(exc).__name__}: {detail})"


async def verify(store: Store, *, checkpoint_dir: Path | None, verify_key: str | None) -> Report:
    """Check the whole audit log in `store`, and the checkpoints in `checkpoint_dir`.

    Not ok when: an event does not follow from its predecessor or cannot be
    read (`first_failure` is its seq); a checkpoint's head differs from its
    event's hash, or lies beyond the last event (a truncated tail:
    `first_failure` is the first missing seq); a checkpoint file is malformed
    or its signature does not verify with `verify_key`; checkpoints exist but
    `verify_key` is missing or not a key. An event problem is reported before a
    checkpoint-file problem. Raises StoreUnavailable when the store does not answer.
    """
    trusted = _load(checkpoint_dir, verify_key)
    links, valid, matched, head = _Links(), 0, 0, None
    after = 0
    while True:
        batch, unreadable = await _read_page(store, after, PAGE)
        for event in batch:
            at = links.seq  # the seq this event must have; it stays the same on a failure
            reason = links.check(event)
            if reason is None:
                reason, count = _against(trusted.heads.get(at, []), event)
                matched += count
            if reason is not None:
                return Report(valid, matched, at, reason, trusted.note, head)
            valid, head, after = valid + 1, (event.seq, event.hash), event.seq
        if unreadable is not None:
            return Report(valid, matched, links.seq, unreadable, trusted.note, head)
        if not batch:
            break
    beyond = [(seq, name) for seq, entries in trusted.heads.items() if seq > valid
              for name, _ in entries]  # fmt: skip
    if beyond:
        seq, name = max(beyond)
        reason = (
            f"the log ends at seq {valid} but checkpoint {name} covers seq {seq}: "
            "the tail was truncated"
        )
        return Report(valid, matched, valid + 1, reason, trusted.note, head)
    return Report(valid, matched, None, trusted.problem, trusted.note, head)


def _against(entries: list[tuple[str, str]], event: Event) -> tuple[str | None, int]:
    """(why `event` contradicts a checkpoint, or None; how many checkpoints it matches)."""
    for name, expected in entries:
        if expected != event.hash:
            return f"the event's hash differs from checkpoint {name} (rewritten)", 0
    return None, len(entries)


async def checkpoint(
    store: Store, folder: Path, private_key: str, clock: Clock
) -> dict[str, Any] | None:
    """Sign the log's current head at `clock()` and write it into `folder`; return the
    document, or None when the log is empty (nothing to sign).

    The log is verified first, against the checkpoints already in `folder` too
    (with the public half of `private_key`): a broken log is never signed, and
    ChainBroken is raised instead. ValueError for a malformed key.
    """
    public = checkpoints.public_key_of(private_key)
    report = await verify(store, checkpoint_dir=folder, verify_key=public)
    if not report.ok:
        raise ChainBroken(report)
    if report.head is None:
        return None
    seq, head = report.head
    doc = checkpoints.sign_checkpoint(private_key, seq, head, clock())
    checkpoints.write_checkpoint(folder, doc)
    return doc


async def checkpoint_forever(
    store: Store, folder: Path, private_key: str, clock: Clock, *, minutes: int
) -> None:
    """`serve`'s background task: a signed checkpoint every `minutes` (and at start)."""
    while True:
        try:
            await checkpoint(store, folder, private_key, clock)
        except StoreUnavailable:
            log.warning("audit checkpoint skipped: the store is not reachable")
        except ChainBroken as broken:
            log.error("audit log broken, not signed: %s", broken)
        except (OSError, ValueError) as exc:
            log.error("audit checkpoint failed: %s", exc)
        await asyncio.sleep(minutes * 60)
