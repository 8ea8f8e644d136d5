"""Verifying the audit log: the hash chain end to end, and the signed checkpoints against it.

`verify` reads the log a page at a time (memory stays bounded however long it
is), recomputes every hash and link, and compares each checkpoint's head with
the event at its seq. Together they detect an edited event (any byte), a
deleted or reordered one, a log rewritten and resealed, and a truncated tail
(a checkpoint beyond the last event). Checkpoints are chained and numbered,
and each one written is also recorded in the log itself (`audit.checkpoint`):
a missing checkpoint, an edited one, one newer in the log than in the folder
(the newest deleted), or an empty folder beside a non-empty log all fail.
Without a checkpoint folder only the chain is checked, and the report says a
truncated tail cannot be detected. A stored event that cannot even be read
back (corrupt JSON, bytes that are not UTF-8, side columns that disagree with
it) is reported at its seq, not raised. `checkpoint` signs the current head of
a log that verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.audit import checkpoints
from gateway.audit.log import AuditLog
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
    """The trusted checkpoints, or why there are none to trust."""

    heads: dict[int, list[tuple[str, str]]]  # seq -> [(checkpoint's name, head)]
    by_number: dict[int, dict[str, Any]]
    problem: str | None
    note: str | None

    @property
    def newest(self) -> int:
        return max(self.by_number, default=0)


def _sources(folder: Path) -> list[tuple[str, dict[str, Any] | None]]:
    """(name, document or None) from the checkpoint files and the published lines."""
    files = [(path.name, doc) for path, doc in checkpoints.read_checkpoints(folder)]
    lines = [
        (f"{checkpoints.PUBLISHED} line {n}", doc) for n, doc in checkpoints.read_published(folder)
    ]
    return files + lines


def _load(folder: Path | None, verify_key: str | None) -> _Checkpoints:
    if folder is None:
        return _Checkpoints({}, {}, None, NO_CHECKPOINT_DIR)
    found = _sources(folder)
    if not found:
        return _Checkpoints({}, {}, None, None)
    if not verify_key:
        return _Checkpoints({}, {}, NO_VERIFY_KEY, None)
    by_number: dict[int, dict[str, Any]] = {}
    names: dict[int, str] = {}
    problem = None
    for name, doc in found:
        try:
            good = doc is not None and checkpoints.verify_checkpoint(doc, verify_key)
        except ValueError as exc:
            return _Checkpoints({}, {}, str(exc), None)
        if doc is None:
            problem = problem or f"checkpoint {name} is unreadable or malformed"
        elif not good:
            problem = problem or f"checkpoint {name} has a bad signature"
        elif doc["number"] in by_number and by_number[doc["number"]] != doc:
            problem = problem or f"checkpoint {name} differs from {names[doc['number']]}"
        else:
            by_number[doc["number"]], names[doc["number"]] = doc, names.get(doc["number"], name)
    problem = problem or _gaps(by_number)
    heads: dict[int, list[tuple[str, str]]] = {}
    for number, doc in by_number.items():
        heads.setdefault(doc["seq"], []).append((names[number], doc["head"]))
    return _Checkpoints(heads, by_number, problem, None)


def _gaps(by_number: dict[int, dict[str, Any]]) -> str | None:
    """Why the checkpoints 1..newest are not one unbroken chain, or None."""
    previous: dict[str, Any] | None = None
    for number in range(1, max(by_number, default=0) + 1):
        doc = by_number.get(number)
        if doc is None:
            return f"checkpoint {number} is missing (deleted?): the newest is {max(by_number)}"
        if previous is not None and (
            doc["previous"] != checkpoints.checkpoint_hash(previous) or doc["seq"] < previous["seq"]
        ):
            return f"checkpoint {number} does not follow checkpoint {number - 1}"
        if previous is None and doc["previous"] != checkpoints.NONE_BEFORE:
            return "checkpoint 1 names a checkpoint before it"
        previous = doc
    return None


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
    `first_failure` is the first missing seq); a checkpoint file or published
    line is malformed, edited, missing from the numbered chain, or its
    signature does not verify with `verify_key`; the log records a checkpoint
    newer than any found; the folder is configured, the log has events and no
    checkpoint is found; checkpoints exist but `verify_key` is missing or not a
    key. An event problem is reported before a checkpoint-file problem. Raises
    StoreUnavailable when the store does not answer.
    """
    trusted = _load(checkpoint_dir, verify_key)
    return await _verify(store, trusted, checkpoint_dir, first_checkpoint=False)


async def _verify(
    store: Store, trusted: _Checkpoints, checkpoint_dir: Path | None, *, first_checkpoint: bool
) -> Report:
    """`verify` against checkpoints already loaded; `first_checkpoint`: an empty folder
    is no failure (about to write the first)."""
    links, valid, matched, head, recorded = _Links(), 0, 0, None, 0
    after = 0
    while True:
        batch, unreadable = await _read_page(store, after, PAGE)
        for event in batch:
            at = links.seq  # the seq this event must have; it stays the same on a failure
            reason = links.check(event)
            if reason is None:
                reason, count = _against(trusted.heads.get(at, []), event)
                matched += count
            if reason is None and event.type == RECORDED:
                reason = _recorded(trusted, event)
                recorded = max(recorded, _number(event))
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
    if checkpoint_dir is not None and trusted.problem is None:
        if recorded and not checkpoint_dir.is_dir():
            reason = (
                f"{checkpoint_dir} is not there (not mounted?): the checkpoints the log "
                "records cannot be checked"
            )
            return Report(valid, matched, None, reason, trusted.note, head)
        if recorded > trusted.newest:
            reason = (
                f"the log records checkpoint {recorded} but the newest in {checkpoint_dir} is "
                f"{trusted.newest or 'none'}: checkpoints were deleted"
            )
            return Report(valid, matched, None, reason, trusted.note, head)
        if valid and not trusted.by_number and not first_checkpoint:
            reason = (
                f"no checkpoint in {checkpoint_dir}, yet the log has {valid} events: deleted, "
                "or never written (`gateway audit checkpoint` writes one; serve does every "
                "audit.checkpoint_minutes)"
            )
            return Report(valid, matched, None, reason, trusted.note, head)
    return Report(
        valid, matched, None, trusted.problem, trusted.note or _uncovered(trusted, valid), head
    )


def _uncovered(trusted: _Checkpoints, valid: int) -> str | None:
    """A note on the events after the newest checkpoint (and its record): the chain alone
    cannot tell them rewritten or cut."""
    newest = trusted.by_number.get(trusted.newest)
    if newest is None or valid <= newest["seq"] + 1:
        return None
    return (
        f"{valid - newest['seq']} events after seq {newest['seq']}, the newest checkpoint's, "
        "are covered by no checkpoint yet: an edit or cut there cannot be detected"
    )


RECORDED = "audit.checkpoint"


def _number(event: Event) -> int:
    number = event.detail.get("number")
    return number if type(number) is int else 0


def _recorded(trusted: _Checkpoints, event: Event) -> str | None:
    """Why the log's record of a checkpoint contradicts the checkpoint found, or None."""
    doc = trusted.by_number.get(_number(event))
    if doc is None:
        return None  # missing: judged once the whole log is read
    if (event.detail.get("seq"), event.detail.get("head")) != (doc["seq"], doc["head"]):
        return f"the log's record of checkpoint {doc['number']} differs from it (rewritten)"
    return None


def _against(entries: list[tuple[str, str]], event: Event) -> tuple[str | None, int]:
    """(why `event` contradicts a checkpoint, or None; how many checkpoints it matches)."""
    for name, expected in entries:
        if expected != event.hash:
            return f"the event's hash differs from checkpoint {name} (rewritten)", 0
    return None, len(entries)


async def checkpoint(
    store: Store, folder: Path, private_key: str, clock: Clock
) -> dict[str, Any] | None:
    """Sign the log's current head at `clock()`, following the newest checkpoint in
    `folder`; write it there (file and published line) and record it in the log as an
    `audit.checkpoint` event. Return the document, or None when there is nothing new
    to sign (an empty log, or nothing since the last checkpoint but its own record).

    The log is verified first, against the checkpoints already in `folder` too
    (with the public half of `private_key`): a broken log is never signed, and
    ChainBroken is raised instead. ValueError for a malformed key.
    """
    public = checkpoints.public_key_of(private_key)
    trusted = _load(folder, public)  # read once: verified against, then followed
    report = await _verify(store, trusted, folder, first_checkpoint=True)
    if not report.ok:
        raise ChainBroken(report)
    if report.head is None:
        return None
    newest = trusted.by_number.get(trusted.newest)
    seq, head = report.head
    if newest is not None and seq <= newest["seq"] + 1:
        last = await store.audit_events(after_seq=seq - 1, limit=1)
        if seq == newest["seq"] or (last and last[0].type == RECORDED):
            return None  # nothing but the record of the newest checkpoint since
    doc = checkpoints.sign_checkpoint(private_key, seq, head, clock(), after=newest)
    try:
        checkpoints.write_checkpoint(folder, doc)
    except FileExistsError:
        return None  # another replica sharing the folder signed this number first
    await AuditLog(store, clock).record(
        RECORDED, number=doc["number"], seq=doc["seq"], head=doc["head"]
    )
    return doc


def newest_checkpoint(folder: Path) -> dict[str, Any] | None:
    """The highest-numbered well-formed checkpoint in `folder` (files or published lines),
    signature unchecked: what `/api/audit-head` shows auditors to write down elsewhere."""
    docs = [doc for _, doc in _sources(folder) if doc is not None]
    return max(docs, key=lambda doc: doc["number"], default=None)


VERIFIED_KEY = "audit.verified"  # the last background verification's outcome (JSON)


@dataclass(frozen=True)
class Verified:
    """What the last background verification (before each checkpoint) found."""

    ok: bool
    at: dt.datetime
    reason: str | None


async def last_verified(store: Store) -> Verified | None:
    """The outcome `checkpoint_forever` stored last, or None when it never ran."""
    raw = await store.get_value(VERIFIED_KEY)
    if raw is None:
        return None
    found = json.loads(raw)
    return Verified(found["ok"], dt.datetime.fromisoformat(found["at"]), found.get("reason"))


async def _store_outcome(store: Store, clock: Clock, reason: str | None) -> None:
    outcome = {"ok": reason is None, "at": clock().isoformat(), "reason": reason}
    with contextlib.suppress(StoreUnavailable):
        await store.set_value(VERIFIED_KEY, json.dumps(outcome))


async def checkpoint_forever(
    store: Store, folder: Path, private_key: str, clock: Clock, *, minutes: int
) -> None:
    """`serve`'s background task: a signed checkpoint every `minutes` (and at start),
    each after verifying the log; the outcome is stored for the dashboard to show."""
    while True:
        try:
            await checkpoint(store, folder, private_key, clock)
            await _store_outcome(store, clock, None)
        except StoreUnavailable:
            log.warning("audit checkpoint skipped: the store is not reachable")
        except ChainBroken as broken:
            log.error("audit log broken, not signed: %s", broken)
            await _store_outcome(store, clock, str(broken))
        except (OSError, ValueError) as exc:
            log.error("audit checkpoint failed: %s", exc)
            await _store_outcome(store, clock, f"the checkpoint could not be written: {exc}")
        await asyncio.sleep(minutes * 60)
