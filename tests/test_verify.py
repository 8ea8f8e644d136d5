"""Verifying the audit log on real stores and from the command line.

Every byte of an event edited, rows deleted, swapped or cut off, a log resealed,
checkpoints forged or unverifiable; and `gateway audit verify | checkpoint |
keygen` as ops and cron run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.audit.checkpoints import (
    PUBLISHED,
    keygen,
    read_checkpoints,
    sign_checkpoint,
    verify_checkpoint,
    write_checkpoint,
)
from gateway.audit.log import AuditLog
from gateway.audit.verify import (
    NO_VERIFY_KEY,
    ChainBroken,
    Report,
    checkpoint,
    checkpoint_forever,
    last_verified,
    verify,
)
from gateway.core import chain
from gateway.core.chain import Event
from gateway.core.clock import FrozenClock
from gateway.core.errors import StoreUnavailable
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore
from tests.conftest import REDIS_URL, seminar_toml
from tests.support.ports import free_port
from tests.test_cli import gateway

pytestmark = pytest.mark.anyio
EVENTS = 20
KEYS = keygen()
OTHER_KEYS = keygen()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2021, 11, 18, 8, 30, tzinfo=dt.UTC))


async def fill(store: SqliteStore | RedisStore, clock: FrozenClock, count: int = EVENTS) -> None:
    """`count` events through the real AuditLog, some with non-ASCII detail (multi-byte UTF-8)."""
    log = AuditLog(store, clock)
    for n in range(count):
        clock.advance(seconds=7)
        await log.record(
            "link.refused" if n % 3 else "registration.created",
            registrant=f"r{n % 5}",
            actor="cli" if n % 2 else "Liisa Meikäläinen <ops@example.org>",
            ip="192.0.2.7" if n % 4 == 0 else None,
            reason="revoked",
            attempt=n,
        )


@pytest.fixture
async def db(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[tuple[SqliteStore, Path]]:
    path = tmp_path / "gateway.db"
    store = SqliteStore(str(path))
    await fill(store, clock)
    yield store, path
    await store.close()


def raw(path: Path, seq: int) -> bytes:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        row = conn.execute("SELECT CAST(event AS BLOB) FROM audit WHERE seq = ?", (seq,)).fetchone()
    return bytes(row[0])


def put(path: Path, seq: int, data: bytes) -> None:
    """Store `data` as the event's TEXT as is, even when it is not UTF-8 (as a disk edit can)."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE audit SET event = CAST(? AS TEXT) WHERE seq = ?", (data, seq))


def run(path: Path, seq: int, sql: str) -> None:
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(sql, (seq,))


async def check(store: SqliteStore | RedisStore, folder: Path | None = None, **kw: str) -> Report:
    return await verify(store, checkpoint_dir=folder, verify_key=kw.get("key"))


async def test_an_intact_log_verifies_and_says_what_it_cannot_see(
    db: tuple[SqliteStore, Path],
) -> None:
    report = await check(db[0])
    assert report.ok and report.events_valid == EVENTS and report.first_failure is None
    assert report.note and "truncated tail cannot be detected" in report.note
    assert report.head is not None and report.head[0] == EVENTS


@pytest.mark.slow  # every byte of three events flipped, the store reopened each time
@pytest.mark.parametrize("seq", [1, 7, EVENTS])
async def test_every_byte_of_an_event_matters(db: tuple[SqliteStore, Path], seq: int) -> None:
    store, path = db
    original = raw(path, seq)
    assert b"\xc3\xa4" in raw(path, 1)  # the multi-byte case is in the data
    for position in range(len(original)):
        for mask in (0x01, 0x80):
            edited = bytearray(original)
            edited[position] ^= mask
            put(path, seq, bytes(edited))
            report = await check(store)
            assert not report.ok, (position, mask)
            assert report.first_failure == seq and report.events_valid == seq - 1
    put(path, seq, original)
    assert (await check(store)).ok


@pytest.mark.slow
def test_any_byte_of_any_event_replaced_is_found(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = SqliteStore(str(path))
    asyncio.run(fill(store, FrozenClock(dt.datetime(2021, 11, 18, tzinfo=dt.UTC))))

    @settings(
        max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.integers(1, EVENTS), st.floats(0, 1, exclude_max=True), st.integers(1, 255))
    def edit(seq: int, where: float, delta: int) -> None:
        original = raw(path, seq)
        edited = bytearray(original)
        position = int(where * len(original))
        edited[position] = (edited[position] + delta) % 256
        put(path, seq, bytes(edited))
        try:
            report = asyncio.run(check(store))
        finally:
            put(path, seq, original)
        assert not report.ok and report.first_failure == seq

    try:
        edit()
    finally:
        asyncio.run(store.close())


async def test_a_deleted_event_is_found(db: tuple[SqliteStore, Path]) -> None:
    store, path = db
    run(path, 9, "DELETE FROM audit WHERE seq = ?")
    report = await check(store)
    assert not report.ok and report.first_failure == 9 and report.events_valid == 8
    assert report.reason and "expected seq 9" in report.reason


async def test_swapped_events_are_found(db: tuple[SqliteStore, Path]) -> None:
    store, path = db
    fourth, twelfth = raw(path, 4), raw(path, 12)
    put(path, 4, twelfth)
    put(path, 12, fourth)
    report = await check(store)
    assert not report.ok and report.first_failure == 4


async def test_a_truncated_tail_is_found_only_with_checkpoints(
    db: tuple[SqliteStore, Path], tmp_path: Path, clock: FrozenClock
) -> None:
    store, path = db
    folder = tmp_path / "checkpoints"
    doc = await checkpoint(store, folder, KEYS[0], clock)
    assert doc is not None and doc["seq"] == EVENTS and doc["number"] == 1
    assert (await check(store, folder, key=KEYS[1])).checkpoints_valid == 1
    for seq in (18, 19, 20, 21):  # 21: the log's own record of the checkpoint
        run(path, seq, "DELETE FROM audit WHERE seq = ?")
    report = await check(store, folder, key=KEYS[1])
    assert not report.ok and report.first_failure == 18 and report.events_valid == 17
    assert report.reason and "truncated" in report.reason and "20" in report.reason
    blind = await check(store)
    assert blind.ok and blind.events_valid == 17
    assert blind.note and "truncated tail cannot be detected" in blind.note


async def test_an_empty_checkpoint_folder_beside_a_log_fails(
    db: tuple[SqliteStore, Path], tmp_path: Path
) -> None:
    report = await check(db[0], tmp_path / "checkpoints", key=KEYS[1])
    assert not report.ok and report.reason and "no checkpoint in" in report.reason
    assert "20 events" in report.reason


async def test_events_no_checkpoint_covers_yet_are_said(
    db: tuple[SqliteStore, Path], tmp_path: Path, clock: FrozenClock
) -> None:
    """Events after the newest checkpoint can be rewritten (their hashes recomputed) or cut
    unseen: the chain alone cannot tell. Verify said nothing of them."""
    store, _ = db
    folder = tmp_path / "checkpoints"
    await checkpoint(store, folder, KEYS[0], clock)  # seq 20, its record 21
    await fill(store, clock, 4)  # 22..25
    report = await check(store, folder, key=KEYS[1])
    assert report.ok and report.note == (
        "5 events after seq 20, the newest checkpoint's, are covered by no checkpoint yet: "
        "an edit or cut there cannot be detected"
    )
    await checkpoint(store, folder, KEYS[0], clock)
    assert (await check(store, folder, key=KEYS[1])).note is None


async def test_a_checkpoint_folder_that_is_not_there_is_said_so(
    db: tuple[SqliteStore, Path], tmp_path: Path, clock: FrozenClock
) -> None:
    """An unmounted folder was reported as deleted checkpoints (a false alarm of tampering)."""
    store, _ = db
    await checkpoint(store, tmp_path / "checkpoints", KEYS[0], clock)
    report = await check(store, tmp_path / "not-mounted", key=KEYS[1])
    assert not report.ok and report.reason == (
        f"{tmp_path / 'not-mounted'} is not there (not mounted?): the checkpoints the log "
        "records cannot be checked"
    )


@pytest.mark.parametrize("kept", ["published", "record"])
async def test_deleted_checkpoints_after_a_cut_are_found(
    db: tuple[SqliteStore, Path], tmp_path: Path, clock: FrozenClock, kept: str
) -> None:
    """The review's two ways: only the newest checkpoint deleted to hide a truncated tail
    (its published line, or the log's record of it, still there), and every checkpoint
    deleted after truncating the log."""
    store, path = db
    folder = tmp_path / "checkpoints"
    assert (await checkpoint(store, folder, KEYS[0], clock) or {})["seq"] == 20  # record: 21
    await fill(store, clock, 5)  # 22..26
    assert (await checkpoint(store, folder, KEYS[0], clock) or {})["seq"] == 26  # record: 27
    await fill(store, clock, 2)  # 28..29
    assert (await check(store, folder, key=KEYS[1])).ok
    (folder / "checkpoint-000002.json").unlink()
    if kept == "published":  # the tail cut into what checkpoint 2 covers
        cut = range(24, 30)
    else:  # checkpoint 2 gone from the folder altogether; the log still records it
        cut = range(28, 30)
        first = (folder / PUBLISHED).read_text().splitlines()[0]
        (folder / PUBLISHED).write_text(first + "\n")
    for seq in cut:
        run(path, seq, "DELETE FROM audit WHERE seq = ?")
    report = await check(store, folder, key=KEYS[1])
    assert not report.ok and report.reason
    if kept == "published":
        assert "truncated" in report.reason and report.first_failure == 24
    else:
        assert "records checkpoint 2" in report.reason and "deleted" in report.reason
    for seq in range(22, 30):
        run(path, seq, "DELETE FROM audit WHERE seq = ?")
    for found in folder.iterdir():
        found.unlink()
    gone = await check(store, folder, key=KEYS[1])
    assert not gone.ok and gone.reason and "deleted" in gone.reason


async def test_a_missing_or_edited_checkpoint_in_the_middle_fails(
    db: tuple[SqliteStore, Path], tmp_path: Path, clock: FrozenClock
) -> None:
    store, _ = db
    folder = tmp_path / "checkpoints"
    for _ in range(3):
        await checkpoint(store, folder, KEYS[0], clock)
        await fill(store, clock, 2)
    assert (await check(store, folder, key=KEYS[1])).checkpoints_valid == 3
    (folder / PUBLISHED).unlink()  # the files alone still verify
    assert (await check(store, folder, key=KEYS[1])).ok
    (folder / "checkpoint-000002.json").unlink()
    report = await check(store, folder, key=KEYS[1])
    assert not report.ok and report.reason and "checkpoint 2 is missing" in report.reason


async def test_checkpoint_skips_when_nothing_happened_but_its_own_record(
    db: tuple[SqliteStore, Path], tmp_path: Path, clock: FrozenClock
) -> None:
    store, _ = db
    folder = tmp_path / "checkpoints"
    first = await checkpoint(store, folder, KEYS[0], clock)
    assert first is not None and await checkpoint(store, folder, KEYS[0], clock) is None
    [record] = [e for e in await store.audit_events() if e.type == "audit.checkpoint"]
    assert record.detail == {"number": 1, "seq": EVENTS, "head": first["head"]}
    await fill(store, clock, 1)
    second = await checkpoint(store, folder, KEYS[0], clock)
    assert second is not None and second["number"] == 2 and second["seq"] == EVENTS + 2


@pytest.mark.parametrize(
    ("column", "value"),
    [("registrant", "'r9'"), ("type", "'link.opened'"), ("ts", "'2021-01-01T00:00:00Z'")],
)
async def test_a_column_beside_the_event_that_disagrees_fails(
    db: tuple[SqliteStore, Path], column: str, value: str
) -> None:
    store, path = db
    run(path, 7, f"UPDATE audit SET {column} = {value} WHERE seq = ?")  # noqa: S608 - a test edit
    report = await check(store)
    assert not report.ok and report.first_failure == 7
    assert report.reason and f"the {column} column says" in report.reason


async def test_a_resealed_log_contradicts_its_checkpoint(
    db: tuple[SqliteStore, Path], tmp_path: Path, clock: FrozenClock
) -> None:
    store, path = db
    folder = tmp_path / "checkpoints"
    await checkpoint(store, folder, KEYS[0], clock)
    prev = (await store.audit_events(after_seq=14, limit=1))[0].prev
    for event in await store.audit_events(after_seq=14):
        fields = {k: v for k, v in asdict(event).items() if k not in ("seq", "prev", "hash")}
        draft = chain.Draft(**{**fields, "detail": {**event.detail, "reason": "superseded"}})
        sealed = chain.seal(draft, event.seq, prev)
        put(path, event.seq, sealed.to_json().encode())
        with (
            contextlib.closing(sqlite3.connect(path)) as conn,
            conn,
        ):  # the column beside it too, as a forger would
            conn.execute("UPDATE audit SET hash = ? WHERE seq = ?", (sealed.hash, event.seq))
        prev = sealed.hash
    assert (await check(store)).ok  # the chain alone cannot tell
    report = await check(store, folder, key=KEYS[1])
    assert not report.ok and report.first_failure == EVENTS
    assert report.reason and "differs from checkpoint" in report.reason


async def test_a_forged_or_unverifiable_checkpoint_is_not_ok(
    db: tuple[SqliteStore, Path], tmp_path: Path, clock: FrozenClock
) -> None:
    store, _ = db
    folder = tmp_path / "checkpoints"
    genuine = await checkpoint(store, folder, KEYS[0], clock)
    no_key = await check(store, folder)
    assert not no_key.ok and no_key.reason == NO_VERIFY_KEY and no_key.first_failure is None
    assert no_key.events_valid == EVENTS + 1  # and the log's record of the checkpoint
    bad_key = await check(store, folder, key="not-a-key")
    assert not bad_key.ok and bad_key.reason and "audit.verify_key" in bad_key.reason
    wrong_key = await check(store, folder, key=OTHER_KEYS[1])
    assert not wrong_key.ok and wrong_key.reason and "bad signature" in wrong_key.reason
    forged = sign_checkpoint(OTHER_KEYS[0], 10, "0" * 64, clock(), after=genuine)
    write_checkpoint(folder, forged)
    report = await check(store, folder, key=KEYS[1])
    assert not report.ok and report.reason and "bad signature" in report.reason
    assert report.checkpoints_valid == 1  # the genuine one still counts
    for path, _ in read_checkpoints(folder):
        path.unlink()
    (folder / "checkpoint-000000000003-x.json").write_text("{")
    malformed = await check(store, folder, key=KEYS[1])
    assert not malformed.ok and malformed.reason and "malformed" in malformed.reason


async def test_checkpoint_signs_nothing_empty_and_nothing_broken(
    tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "gateway.db"
    store = SqliteStore(str(path))
    try:
        assert await checkpoint(store, tmp_path / "cp", KEYS[0], clock) is None
        await fill(store, clock, 3)
        put(path, 2, raw(path, 2).replace(b"revoked", b"REVOKED"))
        with pytest.raises(ChainBroken, match="seq 2"):
            await checkpoint(store, tmp_path / "cp", KEYS[0], clock)
        assert read_checkpoints(tmp_path / "cp") == []
    finally:
        await store.close()


class Recording:
    """A store that passes reads on and remembers the page sizes asked for."""

    def __init__(self, store: SqliteStore) -> None:
        self.store, self.limits = store, list[int | None]()

    async def audit_events(self, *, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        self.limits.append(limit)
        return await self.store.audit_events(after_seq=after_seq, limit=limit)

    async def get_value(self, key: str) -> str | None:
        return await self.store.get_value(key)


async def test_long_logs_are_read_in_bounded_pages(tmp_path: Path, clock: FrozenClock) -> None:
    path = tmp_path / "gateway.db"
    store = SqliteStore(str(path))
    try:
        await fill(store, clock, 2300)
        recording = Recording(store)
        report = await verify(recording, checkpoint_dir=None, verify_key=None)  # type: ignore[arg-type]
        assert report.ok and report.events_valid == 2300
        assert recording.limits and all(x is not None and x <= 1000 for x in recording.limits)
        put(path, 1777, b"\xff" + raw(path, 1777)[1:])
        report = await verify(recording, checkpoint_dir=None, verify_key=None)  # type: ignore[arg-type]
        assert report.first_failure == 1777 and report.events_valid == 1776
        assert report.reason and "cannot be read" in report.reason
    finally:
        await store.close()


@pytest.mark.redis
async def test_verify_on_redis(redis_prefix: str, clock: FrozenClock) -> None:
    import redis.asyncio

    store = RedisStore(REDIS_URL, prefix=redis_prefix)
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        await fill(store, clock)
        assert (await check(store)).ok
        key = redis_prefix + "audit"  # a list, index = seq - 1
        stored = json.loads(cast(bytes, await client.lindex(key, 5)))
        stored["detail"]["attempt"] = 99
        await client.lset(key, 5, chain.canonical(stored))
        report = await check(store)
        assert not report.ok and report.first_failure == 6 and report.events_valid == 5
        # Not UTF-8: lset is typed for str only.
        await client.execute_command("LSET", key, 5, b"\xff{")  # type: ignore[no-untyped-call]
        unreadable = await check(store)
        assert not unreadable.ok and unreadable.first_failure == 6
    finally:
        await client.aclose()
        await store.close()


async def test_an_outage_is_raised_not_mistaken_for_a_corrupt_event() -> None:
    dead = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    try:
        with pytest.raises(StoreUnavailable):
            await check(dead)
    finally:
        await dead.close()


async def test_the_background_checkpoint_stores_what_its_verification_found(
    db: tuple[SqliteStore, Path], clock: FrozenClock, tmp_path: Path
) -> None:
    store, path = db
    private, _ = keygen()

    async def one_round() -> None:
        task = asyncio.create_task(
            checkpoint_forever(store, tmp_path / "cp", private, clock, minutes=60)
        )
        before = await last_verified(store)
        for _ in range(200):  # until it stored an outcome (then it sleeps for an hour)
            found = await last_verified(store)
            if found is not None and found != before:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    assert await last_verified(store) is None
    await one_round()
    good = await last_verified(store)
    assert good is not None and good.ok and good.at == clock()
    clock.advance(seconds=60)
    put(path, 7, raw(path, 7).replace(b'"attempt":6', b'"attempt":9'))
    await one_round()
    bad = await last_verified(store)
    assert bad is not None and not bad.ok and "seq 7" in (bad.reason or "")


# The command line, as ops and cron run it


def audit_config(tmp_path: Path, *, verify_key: str | None = None, folder: bool = True) -> Path:
    lines = ["[audit]"]
    if folder:
        lines.append('checkpoint_dir = "checkpoints"')
    if verify_key:
        lines.append(f'verify_key = "{verify_key}"')
    path = tmp_path / f"event-{len(lines)}.toml"
    path.write_text(seminar_toml(tmp_path, extra="\n".join(lines) + "\n"))
    return path


def test_keygen_needs_no_config_and_prints_both_lines() -> None:
    result = gateway("audit", "keygen")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    private = next(x for x in lines if x.startswith("GATEWAY_AUDIT_SIGNING_KEY="))
    public = next(x for x in lines if x.startswith("verify_key = "))
    private_key = private.split("=", 1)[1]
    public_key = json.loads(public.split(" = ", 1)[1])
    doc = sign_checkpoint(private_key, 1, "0" * 64, dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    assert verify_checkpoint(doc, public_key)


@pytest.mark.slow
def test_checkpoint_then_verify_then_an_edit_is_named(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    store = SqliteStore(str(path))
    asyncio.run(fill(store, FrozenClock(dt.datetime(2021, 11, 18, tzinfo=dt.UTC))))
    asyncio.run(store.close())
    config = str(audit_config(tmp_path, verify_key=KEYS[1]))
    signing = {"GATEWAY_AUDIT_SIGNING_KEY": KEYS[0]}

    missing_key = gateway("audit", "checkpoint", "--config", config)
    assert missing_key.returncode == 2 and "GATEWAY_AUDIT_SIGNING_KEY" in missing_key.stderr
    assert len(missing_key.stderr.splitlines()) == 1
    no_folder = gateway(
        "audit", "checkpoint", "--config", str(audit_config(tmp_path, folder=False)), env=signing
    )
    assert no_folder.returncode == 2 and "audit.checkpoint_dir" in no_folder.stderr

    not_yet = gateway("audit", "verify", "--config", config)
    assert not_yet.returncode == 1 and "no checkpoint in" in not_yet.stderr
    made = gateway("audit", "checkpoint", "--config", config, env=signing)
    assert made.returncode == 0, made.stderr
    assert f"seq {EVENTS}" in made.stdout
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "checkpoint-000001.json",
        PUBLISHED,
    ]

    intact = gateway("audit", "verify", "--config", config)
    assert intact.returncode == 0, intact.stderr
    assert intact.stdout.strip() == f"{EVENTS + 1} events valid, 1 checkpoints valid"

    put(path, 7, raw(path, 7).replace(b'"attempt":6', b'"attempt":5'))
    broken = gateway("audit", "verify", "--config", config)
    assert broken.returncode == 1 and "Traceback" not in broken.stderr
    assert broken.stdout.startswith("6 events valid, 0 checkpoints valid")
    assert len(broken.stderr.splitlines()) == 1 and "seq 7" in broken.stderr
    refused = gateway("audit", "checkpoint", "--config", config, env=signing)
    assert refused.returncode == 1 and "seq 7" in refused.stderr

    put(path, 7, b"\xff\n{")
    unreadable = gateway("audit", "verify", "--config", config)
    assert unreadable.returncode == 1 and "Traceback" not in unreadable.stderr
    assert "seq 7" in unreadable.stderr and len(unreadable.stderr.splitlines()) == 1


def test_verify_without_a_checkpoint_folder_says_so(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "gateway.db"))
    asyncio.run(fill(store, FrozenClock(dt.datetime(2021, 11, 18, tzinfo=dt.UTC)), 3))
    asyncio.run(store.close())
    result = gateway("audit", "verify", "--config", str(audit_config(tmp_path, folder=False)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("3 events valid, 0 checkpoints valid (")
    assert "truncated tail cannot be detected" in result.stdout


def test_export_refuses_a_type_that_is_none_and_an_empty_span(tmp_path: Path) -> None:
    """A mistyped --type (`schedule.change`), or --since after --until, printed nothing and
    exited 0: an auditor read "no such event"."""
    SqliteStore(str(tmp_path / "gateway.db"))
    config = str(audit_config(tmp_path, folder=False))
    typo = gateway("audit", "export", "--config", config, "--type", "schedule.change")
    assert typo.returncode == 2 and typo.stdout == ""
    assert typo.stderr.startswith("gateway: no event type 'schedule.change' (types: ")
    assert len(typo.stderr.splitlines()) == 1 and "schedule.changed" in typo.stderr
    span = ("--since", "2021-11-19T00:00", "--until", "2021-11-18T00:00")
    backwards = gateway("audit", "export", "--config", config, *span)
    assert backwards.returncode == 2 and backwards.stderr == (
        "gateway: --since is not before --until: no event can be between them\n"
    )


@pytest.mark.parametrize(
    "command",
    [
        ("audit", "export"),
        ("audit", "verify"),
        ("report", "attendance"),
    ],
)
def test_reading_a_store_that_is_not_there_is_refused_and_makes_none(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """A mistyped store path made an empty store, and an auditor's export printed nothing
    (exit 0), verify "0 events valid", the report nobody. (`registrants list` prints an
    empty list: before anyone registers there is no store yet.)"""
    config = str(audit_config(tmp_path, folder=False))
    typo = tmp_path / "typo" / "gatway.db"
    out = gateway(*command, "--config", config, env={"GATEWAY_STORE_URL": f"sqlite:///{typo}"})
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == f"gateway: no store at {typo}: nothing to read (is store.url right?)\n"
    assert not typo.parent.exists()


def test_export_filters_by_until_and_registrant(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "gateway.db"))
    asyncio.run(fill(store, FrozenClock(dt.datetime(2021, 11, 18, tzinfo=dt.UTC)), 10))
    asyncio.run(store.close())
    config = str(audit_config(tmp_path, folder=False))
    # Events are 7 s apart from 00:00:07Z: the fourth is at 00:00:28Z, and until excludes it.
    until = gateway("audit", "export", "--config", config, "--until", "2021-11-18T00:00:28Z")
    assert [json.loads(x)["seq"] for x in until.stdout.splitlines()] == [1, 2, 3]
    mine = gateway("audit", "export", "--config", config, "--registrant", "r2")
    assert [json.loads(x)["seq"] for x in mine.stdout.splitlines()] == [3, 8]
